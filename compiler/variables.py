"""Variables: defaults, values supplied with -e/--vars, types, secrets."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from orchc.compiler.symbols import Symbols
from orchc.compiler.values import CoercionError, article, coerce, literal
from orchc.dsl.diagnostics import Diagnostics, did_you_mean
from orchc.plan import secret_marker


@dataclass
class Variables:
    values: dict[str, Any] = field(default_factory=dict)  # non-secret variables, by name
    secrets: list[str] = field(default_factory=list)  # secret variable names, declaration order
    secret_values: dict[str, str] = field(default_factory=dict)  # supplied at compile time; never in the Plan

    def template_values(self) -> dict[str, Any]:
        """What templates see by name: values, and a marker for each secret."""
        markers = {name: secret_marker(name, shell_quoted=False) for name in self.secrets}
        return {**self.values, **markers}


def resolve_variables(symbols: Symbols, supplied: Mapping[str, Any], diagnostics: Diagnostics) -> Variables:
    result = Variables()
    for name, decl in symbols.vars.items():
        type_name = decl.type.name
        if type_name == "secret":
            result.secrets.append(name)
            if name in supplied:
                result.secret_values[name] = str(supplied[name])
            if decl.default is not None:
                diagnostics.error(
                    f"secret variable '{name}' has a default value",
                    decl.default.span,
                    hint="secrets are supplied at run time (--secrets FILE or "
                    f"ORCHC_SECRET_{name.upper()}); remove the default",
                )
            continue
        if name in supplied:
            try:
                result.values[name] = _supplied(supplied[name], type_name)
            except CoercionError as exc:
                quoted = f' (`{name}: "{supplied[name]}"`)' if type_name == "str" else ""
                diagnostics.error(
                    f"value supplied for variable '{name}' is not {article(type_name)}: {exc}",
                    decl.span,
                    hint=f"pass -e {name}=VALUE with a {type_name} value, or {article(type_name)} in "
                    f"the --vars file{quoted}",
                )
        elif decl.default is not None:
            try:
                result.values[name] = coerce(literal(decl.default), type_name)
            except CoercionError as exc:
                diagnostics.error(
                    f"default of variable '{name}' is not {article(type_name)}: {exc}",
                    decl.default.span,
                    hint=f"write a {type_name} value, or change the declared type",
                )
        else:
            diagnostics.error(
                f"variable '{name}' has no value",
                decl.span,
                hint=f"give it a default (`var {name}: {type_name} = ...`) or pass -e {name}=VALUE",
            )
    for name in supplied:
        if name not in symbols.vars:
            diagnostics.warning(
                f"variable '{name}' is supplied (-e/--vars) but not declared in any .orch file",
                hint=did_you_mean(name, symbols.vars) or f"declare it with `var {name}: str`",
            )
    return result


# A supplied value that is not text must already be of the declared type: an int is no str, nor a float an int.
_TYPED = {"str": (), "int": (int,), "float": (int, float), "bool": (bool,), "list": (list,), "map": (dict,)}
_KINDS = {bool: "a bool", int: "an int", float: "a float", list: "a list", dict: "a map", type(None): "null"}


def _supplied(value: Any, type_name: str) -> Any:
    """A value from -e, --vars or the API as `type_name`: text (what -e gives) is parsed as that type."""
    typed = _TYPED.get(type_name)
    if (
        typed is not None
        and not isinstance(value, str)
        and (not isinstance(value, typed) or (isinstance(value, bool) and type_name != "bool"))
    ):
        raise CoercionError(f"got {_KINDS.get(type(value), type(value).__name__)} ({value!r})")
    return coerce(value, type_name)
