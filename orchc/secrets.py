"""The values of a Plan's secrets, for one run: never written to the Plan or the journal.

Each secret comes from, in this order, the values supplied with the inputs
(`-e`/`--vars`, or the variables given to `orchc.api.load_project`), a
`--secrets FILE` (a YAML map), or the environment variable
`ORCHC_SECRET_<NAME>`. A secret without a value is a diagnostic at its
declaration.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from orchc.dsl.diagnostics import Diagnostics, span_under
from orchc.dsl.files import load_yaml_map
from orchc.plan import Plan


def load_secrets(
    plan: Plan, secrets_file: Path | None, environ: Mapping[str, str], supplied: Mapping[str, Any] | None = None
) -> dict[str, str]:
    """Every secret the Plan declares or uses; raises DiagnosticError naming each one without a value."""
    diagnostics = Diagnostics()
    from_file = {} if secrets_file is None else load_yaml_map(secrets_file, "the secrets file", "db_password: s3cret")
    names = {ref.name: ref for ref in plan.secrets}
    used = {name for inst in plan.instances for name in inst.secrets}
    values: dict[str, str] = {}
    for name in sorted(set(names) | used):
        env_name = f"ORCHC_SECRET_{name.upper()}"
        if supplied and name in names and name in supplied:  # a value given for a declared secret
            values[name] = str(supplied[name])
        elif name in from_file and from_file[name] is not None:
            values[name] = str(from_file[name])
        elif env_name in environ:
            values[name] = environ[env_name]
        else:
            ref = names.get(name)
            span = span_under(plan.root, ref.source) if ref is not None else None
            diagnostics.error(
                f"secret '{name}' has no value",
                span,
                hint=f"pass -e {name}=..., set {env_name} in the environment, or add "
                f"`{name}: ...` to a file passed with --secrets FILE",
            )
    diagnostics.raise_if_errors()
    return values
