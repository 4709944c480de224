"""Values: AST literals to Python, and coercion of values to declared types."""

from __future__ import annotations

from typing import Any

import yaml

from orchc.dsl.ast import Bool, Duration, Float, Int, ListValue, MapValue, Null, Str, Value

_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


def literal(value: Value) -> Any:
    """The Python value of a literal (strings unrendered)."""
    if isinstance(value, (Str, Int, Float, Bool)):
        return value.value
    if isinstance(value, Duration):
        return value.seconds
    if isinstance(value, Null):
        return None
    if isinstance(value, ListValue):
        return [literal(item) for item in value.items]
    if isinstance(value, MapValue):
        return {entry.key: literal(entry.value) for entry in value.entries}
    raise TypeError(f"not a value: {value!r}")


def article(type_name: str) -> str:
    """ "an int", "a str"."""
    return f"{'an' if type_name[0] in 'aeiou' else 'a'} {type_name}"


class CoercionError(ValueError):
    pass


def coerce(value: Any, type_name: str) -> Any:
    """`value` as `type_name` (str, int, float, bool, list, map, secret); strings are parsed."""
    if type_name in ("str", "secret"):
        if isinstance(value, (dict, list)):
            raise CoercionError(f"expected a string, got a {type(value).__name__}")
        return value if isinstance(value, str) else _scalar_text(value)
    if type_name == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            return value.strip().lower() in _TRUE
        raise CoercionError(f"expected a bool (true/false), got {value!r}")
    if type_name == "int":
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        return _parse(value, int, "an int")
    if type_name == "float":
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        return _parse(value, float, "a float")
    if type_name in ("list", "map"):
        wanted = list if type_name == "list" else dict
        if isinstance(value, str):
            try:
                value = yaml.safe_load(value)
            except yaml.YAMLError:
                raise CoercionError(f"expected a {type_name} (YAML or JSON), got {value!r}") from None
        if not isinstance(value, wanted):
            raise CoercionError(f"expected a {type_name}, got {value!r}")
        return value
    raise CoercionError(f"unknown type '{type_name}'")


def _scalar_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _parse(value: Any, number: type, what: str) -> Any:
    if isinstance(value, str):
        try:
            return number(value.strip())
        except ValueError:
            pass
    raise CoercionError(f"expected {what}, got {value!r}")
