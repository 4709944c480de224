"""Where every `orchc` command writes its messages for people: one rich console on stderr."""

from rich.console import Console

stderr = Console(stderr=True, highlight=False, soft_wrap=True)
