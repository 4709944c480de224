"""Exit statuses of `orchc` (documented in the README and docs/design.md)."""

OK = 0
INVALID_INPUT = 1  # diagnostics printed
USAGE = 2  # typer reports these itself
DEPLOY_FAILED = 3  # beyond tolerance, or any failure where none is tolerated
INTERNAL_ERROR = 70  # a bug in orchc
INTERRUPTED = 130  # journal intact; `orchc run` again resumes
