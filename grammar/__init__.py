"""The `.orch` grammar, shipped as data: `orch.lark`."""

from importlib.resources import files


def grammar_text() -> str:
    return (files(__name__) / "orch.lark").read_text(encoding="utf-8")
