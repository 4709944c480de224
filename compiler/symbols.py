"""The names pass: every declaration of the project in one table; duplicates are errors."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypeVar

from orchc.compiler.values import CoercionError, article, coerce, literal
from orchc.dsl.ast import AnchorDecl, Module, RoleDecl, ServiceDecl, Span, StrictDecl, TaskDecl, TypeDecl, VarDecl
from orchc.dsl.diagnostics import Diagnostics

SCALAR_TYPES = ("str", "int", "float", "bool")
VAR_TYPES = SCALAR_TYPES + ("secret", "list", "map")

Decl = TypeVar("Decl", TypeDecl, VarDecl, RoleDecl, ServiceDecl, AnchorDecl)


@dataclass
class Symbols:
    types: dict[str, TypeDecl] = field(default_factory=dict)
    vars: dict[str, VarDecl] = field(default_factory=dict)
    roles: dict[str, RoleDecl] = field(default_factory=dict)
    services: dict[str, ServiceDecl] = field(default_factory=dict)
    anchors: dict[str, AnchorDecl] = field(default_factory=dict)
    tasks: dict[str, dict[str, TaskDecl]] = field(default_factory=dict)  # service -> task name -> task
    strict: bool = False  # some file says `strict`


def _name_span(decl: TypeDecl | VarDecl | RoleDecl | ServiceDecl | AnchorDecl) -> Span:
    return decl.name_span or decl.span


def _add(table: dict[str, Decl], decl: Decl, kind: str, diagnostics: Diagnostics) -> None:
    first = table.get(decl.name)
    if first is None:
        table[decl.name] = decl
        return
    diagnostics.error(
        f"duplicate {kind} '{decl.name}'",
        _name_span(decl),
        hint=f"rename one of them, or remove this {kind}",
        notes=[(f"'{decl.name}' is first declared here", _name_span(first))],
    )


def collect(modules: list[Module], diagnostics: Diagnostics) -> Symbols:
    symbols = Symbols()
    tables: dict[type, tuple[dict[str, Any], str]] = {
        TypeDecl: (symbols.types, "type"),
        VarDecl: (symbols.vars, "variable"),
        RoleDecl: (symbols.roles, "role"),
        ServiceDecl: (symbols.services, "service"),
        AnchorDecl: (symbols.anchors, "anchor"),
    }
    for module in modules:
        for item in module.items:
            if isinstance(item, StrictDecl):
                symbols.strict = True
                continue
            table, kind = tables[type(item)]
            _add(table, item, kind, diagnostics)
    for service in symbols.services.values():
        tasks: dict[str, TaskDecl] = {}
        for task in service.tasks:
            if task.name in tasks:
                diagnostics.error(
                    f"duplicate task '{task.name}' in service '{service.name}'",
                    task.name_span,
                    hint="task names must be unique within their service",
                    notes=[(f"'{task.name}' is first declared here", tasks[task.name].name_span)],
                )
            else:
                tasks[task.name] = task
        symbols.tasks[service.name] = tasks
    for var in symbols.vars.values():
        if var.type.name not in VAR_TYPES:
            diagnostics.error(
                f"unknown variable type '{var.type.name}'", var.type.span, hint=f"use one of: {', '.join(VAR_TYPES)}"
            )
    for type_decl in symbols.types.values():
        for decl in type_decl.fields:
            if decl.type.name not in VAR_TYPES or decl.type.name == "secret":
                diagnostics.error(
                    f"unknown field type '{decl.type.name}' in type '{type_decl.name}'",
                    decl.type.span,
                    hint="use one of: str, int, float, bool, list, map",
                )
            elif decl.default is not None:
                try:
                    coerce(literal(decl.default), decl.type.name)
                except CoercionError as exc:
                    diagnostics.error(
                        f"default of field '{decl.name}' is not {article(decl.type.name)}: {exc}",
                        decl.default.span,
                        hint="write a value of the field's type",
                    )
    return symbols
