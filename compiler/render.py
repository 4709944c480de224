"""Jinja2 rendering of the strings of `.orch` files, at compile time.

Two flavours: `run` commands, where every interpolated value is shell-quoted
unless it goes through `| raw`, and plain strings (paths, fields, template
files). Undefined names are errors that say what was meant; secrets render as
markers that the runner resolves (`orchc.plan.secret_marker`).
"""

from __future__ import annotations

import re
import shlex
from typing import Any, Callable, Literal

import jinja2
from jinja2 import StrictUndefined

from orchc.dsl.diagnostics import did_you_mean
from orchc.plan import secret_marker

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


class ProviderList(list):
    """The values of several provider instances of one capability, in inventory order."""

    def __init__(self, capability: str, values: list[dict[str, Any]]) -> None:
        super().__init__(values)
        self.capability = capability


def _list_access_error(items: ProviderList, attribute: Any) -> RenderError:
    name = items.capability
    return RenderError(
        f"capability '{name}' binds {len(items)} providers here, so it is a list: "
        f"'{name}.{attribute}' has no meaning",
        hint=f"use `{name} | map(attribute='{attribute}')` or `requires {name} on any`")


class _Undefined(StrictUndefined):
    def _fail_with_undefined_error(self, *args: Any, **kwargs: Any) -> Any:
        raise _UndefinedName(self._undefined_name, self._undefined_obj)

    __str__ = __iter__ = __len__ = __eq__ = __ne__ = __bool__ = __hash__ = _fail_with_undefined_error  # type: ignore[assignment]


class _UndefinedName(jinja2.UndefinedError):
    def __init__(self, name: str | None, owner: Any) -> None:
        super().__init__(name or "value")
        self.name = name
        self.owner = owner


class _Environment(jinja2.Environment):
    def getattr(self, obj: Any, attribute: str) -> Any:
        if isinstance(obj, ProviderList) and not hasattr(list, attribute):
            raise _list_access_error(obj, attribute)
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        if isinstance(obj, ProviderList) and isinstance(argument, str):
            raise _list_access_error(obj, argument)
        return super().getitem(obj, argument)


def _shell_quote(value: Any) -> str:
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
            pieces.append(shlex.quote(text[position:match.start()]))
        pieces.append(secret_marker(match.group(1), shell_quoted=True))
        position = match.end()
    if position < len(text) or not pieces:
        pieces.append(shlex.quote(text[position:]))
    return "".join(pieces)


def _make_environment(finalize: Callable[[Any], Any] | None) -> jinja2.Environment:
    env = _Environment(undefined=_Undefined, autoescape=False, keep_trailing_newline=True,
                       finalize=finalize)
    env.filters["raw"] = lambda value: Raw("" if value is None else str(value))
    return env


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
        pieces.append(text[position:match.start()])
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
    """Renders strings and evaluates `when` expressions; compiled templates are cached by source."""

    def __init__(self) -> None:
        self._environments: dict[Mode, jinja2.Environment] = {
            "run": _make_environment(_shell_quote),
            "plain": _make_environment(None),
        }
        self._templates: dict[tuple[Mode, str], jinja2.Template] = {}
        self._expressions: dict[str, Callable[..., Any]] = {}
        self._pieces: dict[str, Pieces | None] = {}

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
        key = (mode, text)
        template = self._templates.get(key)
        if template is None:
            template = self._templates[key] = self._compile(lambda: self._environments[mode].from_string(text))
        try:
            return self._call(lambda: template.render(context), context)
        except RenderError as exc:
            if "\n" in text.rstrip("\n") and exc.line is not None:
                exc.message = f"line {exc.line}: {exc.message}"
            raise

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
            out.append(_shell_quote(value) if mode == "run" else str(value))
        return "".join(out)

    def evaluate(self, expression: str, context: dict[str, Any]) -> Any:
        compiled = self._expressions.get(expression)
        if compiled is None:
            compiled = self._expressions[expression] = self._compile(
                lambda: self._environments["plain"].compile_expression(expression, undefined_to_none=False))
        value = self._call(lambda: compiled(**context), context)
        return self._call(lambda: bool(value), context)

    @staticmethod
    def _compile(build: Callable[[], Any]) -> Any:
        try:
            return build()
        except jinja2.TemplateSyntaxError as exc:
            raise RenderError(f"template syntax error: {exc.message} (line {exc.lineno} of the string)",
                              hint="check the {{ }} and {% %} delimiters and the expression inside") from None

    @staticmethod
    def _call(call: Callable[[], Any], context: dict[str, Any]) -> Any:
        try:
            return call()
        except RenderError as exc:
            exc.line = _template_line(exc)
            raise
        except _UndefinedName as exc:
            error, cause = _undefined_error(exc, context), exc
        except (jinja2.TemplateError, TypeError, ValueError, ArithmeticError, LookupError) as exc:
            error, cause = RenderError(f"template error: {exc}"), exc
        error.line = _template_line(cause)
        raise error from None


def _template_line(exc: BaseException) -> int | None:
    """The line of the template where Jinja was when `exc` was raised (its traceback names `<template>`)."""
    line = None
    traceback = exc.__traceback__
    while traceback is not None:
        if traceback.tb_frame.f_code.co_filename == "<template>":
            line = traceback.tb_lineno
        traceback = traceback.tb_next
    return line


_ANSIBLE_RUNTIME_NAMES = frozenset({"item", "inventory_hostname", "hostvars", "groups", "group_names",
                                    "play_hosts", "omit", "lookup", "query"})


def _undefined_error(exc: _UndefinedName, context: dict[str, Any]) -> RenderError:
    name = exc.name or "value"
    if isinstance(exc.owner, dict):
        hint = did_you_mean(name, exc.owner) or f"known keys: {', '.join(sorted(exc.owner)) or 'none'}"
        return RenderError(f"'{name}' is undefined here (no such key)", hint=hint)
    if exc.owner is not jinja2.utils.missing and exc.owner is not None:
        return RenderError(f"'{name}' is undefined on {type(exc.owner).__name__} value")
    candidates = [key for key in context if not key.startswith("_")]
    hint = did_you_mean(name, candidates) or (
        f"declare it with `var {name}: str = ...`, or pass -e {name}=VALUE")
    if name.startswith("ansible_") or name in _ANSIBLE_RUNTIME_NAMES:
        hint = (f"'{name}' looks like an Ansible run-time variable, but orchc renders strings at compile time: "
                f"write {{% raw %}}{{{{ {name} }}}}{{% endraw %}} to hand it to Ansible as written")
    return RenderError(f"undefined variable '{name}'", hint=hint)
