"""Jinja2 rendering of the strings of `.orch` files, at compile time.

Two flavours: `run` commands, where every interpolated value is shell-quoted
unless it goes through `| raw`, and plain strings (paths, fields, template
files). Undefined names are errors that say what was meant; secrets render as
markers that the runner resolves (`orchc.plan.secret_marker`).

Strings that only interpolate names are rendered here; anything else goes to
Jinja (`render_jinja`), imported on first use: a project without templates does
not pay for importing Jinja.
"""

from __future__ import annotations

import re
import shlex
from typing import TYPE_CHECKING, Any, Literal

from orchc.plan import secret_marker

if TYPE_CHECKING:
    from orchc.compiler.render_jinja import JinjaTemplates

Mode = Literal["run", "plain"]

_MARKER = re.compile(r"@@secret:([A-Za-z_][A-Za-z0-9_]*)(?::sh)?@@")


class RenderError(Exception):
    """A string could not be rendered: `message` says why, `hint` how to fix it."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.line: int | None = None  # line inside a multi-line template, when known


class Raw(str):
    """A value marked `| raw`: interpolated into a `run` command without quoting."""


class ProviderList(list[Any]):
    """The values of several provider instances of one capability, in inventory order."""

    def __init__(self, capability: str, values: list[dict[str, Any]]) -> None:
        super().__init__(values)
        self.capability = capability


def list_access_error(items: ProviderList, attribute: Any) -> RenderError:
    name = items.capability
    return RenderError(
        f"capability '{name}' is required from every provider, so it is a list (of {len(items)} here): "
        f"'{name}.{attribute}' has no meaning",
        hint=f"use `{name} | map(attribute='{attribute}')`, `{name}[0].{attribute}`, "
        f"or `requires {name} on any` (or `on same host`) for one provider's fields",
    )


def shell_quote(value: Any) -> str:
    """Quote a value for a shell; secret markers become quoted-at-run-time markers."""
    if isinstance(value, Raw):
        return str(value)
    text = "" if value is None else str(value)
    if "@@" not in text:
        return shlex.quote(text)
    pieces: list[str] = []
    position = 0
    for match in _MARKER.finditer(text):
        if match.start() > position:
            pieces.append(shlex.quote(text[position : match.start()]))
        pieces.append(secret_marker(match.group(1), shell_quoted=True))
        position = match.end()
    if position < len(text) or not pieces:
        pieces.append(shlex.quote(text[position:]))
    return "".join(pieces)


def needs_rendering(text: str) -> bool:
    return "{{" in text or "{%" in text or "{#" in text


# Most strings only interpolate names (`{{ host.vars.root }}`): they are rendered
# without compiling a Jinja template, with the same result. Anything else, and
# any lookup that does not plainly succeed, goes through Jinja.
_NAME_PATH = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)\s*\}\}")
Pieces = list["str | tuple[str, ...]"]


def _name_pieces(text: str) -> Pieces | None:
    """The text split into literals and name paths, or None if it holds anything else."""
    if "{%" in text or "{#" in text:
        return None
    pieces: Pieces = []
    position = 0
    for match in _NAME_PATH.finditer(text):
        pieces.append(text[position : match.start()])
        pieces.append(tuple(match.group(1).split(".")))
        position = match.end()
    pieces.append(text[position:])
    if any("{{" in piece for piece in pieces if isinstance(piece, str)):
        return None
    return pieces


def _lookup(path: tuple[str, ...], context: dict[str, Any]) -> str | int | float | None:
    """The value at a name path if every step is a plain dict key; None to let Jinja decide."""
    value: Any = context
    for key in path:
        if type(value) is not dict or key not in value or hasattr(dict, key):
            return None
        value = value[key]
    return value if type(value) in (str, int, float) else None


class Renderer:
    """Renders strings and evaluates `when` expressions; Jinja templates are compiled once per source."""

    def __init__(self) -> None:
        self._pieces: dict[str, Pieces | None] = {}
        self._jinja: JinjaTemplates | None = None

    def render(self, text: str, context: dict[str, Any], mode: Mode = "plain") -> str:
        if not needs_rendering(text):
            return text
        if text not in self._pieces:
            self._pieces[text] = _name_pieces(text)
        pieces = self._pieces[text]
        if pieces is not None:
            rendered = self._render_names(pieces, context, mode)
            if rendered is not None:
                return rendered
        return self._templates().render(text, context, mode)

    @staticmethod
    def _render_names(pieces: Pieces, context: dict[str, Any], mode: Mode) -> str | None:
        out: list[str] = []
        for piece in pieces:
            if isinstance(piece, str):
                out.append(piece)
                continue
            value = _lookup(piece, context)
            if value is None:
                return None
            out.append(shell_quote(value) if mode == "run" else str(value))
        return "".join(out)

    def evaluate(self, expression: str, context: dict[str, Any]) -> Any:
        return self._templates().evaluate(expression, context)

    def _templates(self) -> JinjaTemplates:
        if self._jinja is None:
            from orchc.compiler.render_jinja import JinjaTemplates

            self._jinja = JinjaTemplates()
        return self._jinja
