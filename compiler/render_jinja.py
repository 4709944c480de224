"""Jinja2's part of rendering (see `render`): templates, `when` expressions, and errors that say what was meant."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import jinja2
from jinja2 import StrictUndefined

from orchc.compiler.render import Mode, ProviderList, Raw, RenderError, list_access_error, shell_quote
from orchc.dsl.diagnostics import did_you_mean

T = TypeVar("T")


class _Undefined(StrictUndefined):
    def _fail_with_undefined_error(self, *args: Any, **kwargs: Any) -> Any:
        raise _UndefinedName(self._undefined_name, self._undefined_obj)

    __str__ = __iter__ = __len__ = __eq__ = __ne__ = __bool__ = __hash__ = _fail_with_undefined_error


class _UndefinedName(jinja2.UndefinedError):
    def __init__(self, name: str | None, owner: Any) -> None:
        super().__init__(name or "value")
        self.name = name
        self.owner = owner


class _Environment(jinja2.Environment):
    def getattr(self, obj: Any, attribute: str) -> Any:
        if isinstance(obj, ProviderList) and not hasattr(list, attribute):
            raise list_access_error(obj, attribute)
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        if isinstance(obj, ProviderList) and isinstance(argument, str):
            raise list_access_error(obj, argument)
        return super().getitem(obj, argument)


def _make_environment(finalize: Callable[[Any], Any] | None) -> jinja2.Environment:
    env = _Environment(undefined=_Undefined, autoescape=False, keep_trailing_newline=True, finalize=finalize)
    env.filters["raw"] = lambda value: Raw("" if value is None else str(value))
    return env


class JinjaTemplates:
    """Jinja's side of `Renderer`: templates and expressions, compiled once per source."""

    def __init__(self) -> None:
        self._environments: dict[Mode, jinja2.Environment] = {
            "run": _make_environment(shell_quote),
            "plain": _make_environment(None),
        }
        self._templates: dict[tuple[Mode, str], jinja2.Template] = {}
        self._expressions: dict[str, Callable[..., Any]] = {}

    def render(self, text: str, context: dict[str, Any], mode: Mode) -> str:
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

    def evaluate(self, expression: str, context: dict[str, Any]) -> Any:
        compiled = self._expressions.get(expression)
        if compiled is None:
            compiled = self._expressions[expression] = self._compile(
                lambda: self._environments["plain"].compile_expression(expression, undefined_to_none=False)
            )
        value = self._call(lambda: compiled(**context), context)
        return self._call(lambda: bool(value), context)

    @staticmethod
    def _compile(build: Callable[[], T]) -> T:
        try:
            return build()
        except jinja2.TemplateSyntaxError as exc:
            raise RenderError(
                f"template syntax error: {exc.message} (line {exc.lineno} of the string)",
                hint="check the {{ }} and {% %} delimiters and the expression inside",
            ) from None

    @staticmethod
    def _call(call: Callable[[], T], context: dict[str, Any]) -> T:
        cause: Exception
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


_ANSIBLE_RUNTIME_NAMES = frozenset(
    {"item", "inventory_hostname", "hostvars", "groups", "group_names", "play_hosts", "omit", "lookup", "query"}
)


def _undefined_error(exc: _UndefinedName, context: dict[str, Any]) -> RenderError:
    name = exc.name or "value"
    if isinstance(exc.owner, dict):
        hint = did_you_mean(name, exc.owner) or f"known keys: {', '.join(sorted(exc.owner)) or 'none'}"
        return RenderError(f"'{name}' is undefined here (no such key)", hint=hint)
    if exc.owner is not jinja2.utils.missing and exc.owner is not None:
        return RenderError(f"'{name}' is undefined on {type(exc.owner).__name__} value")
    candidates = [key for key in context if not key.startswith("_")]
    hint = did_you_mean(name, candidates) or (f"declare it with `var {name}: str = ...`, or pass -e {name}=VALUE")
    if name.startswith("ansible_") or name in _ANSIBLE_RUNTIME_NAMES:
        hint = (
            f"'{name}' looks like an Ansible run-time variable, but orchc renders strings at compile time: "
            f"write {{% raw %}}{{{{ {name} }}}}{{% endraw %}} to hand it to Ansible as written"
        )
    return RenderError(f"undefined variable '{name}'", hint=hint)
