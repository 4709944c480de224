"""Capabilities: who provides what, and type checking of `provides`/`requires`.

A capability name is provided by at most one task. A typed capability's
fields are checked against its `type` here (missing, unknown); the values are
checked after rendering, where they are bound (`binding.Binder`).
"""

from __future__ import annotations

from dataclasses import dataclass

from orchc.compiler.symbols import Symbols
from orchc.dsl.ast import AnchorDecl, Name, Provision, Requirement, TaskDecl, TypeDecl
from orchc.dsl.diagnostics import Diagnostics, did_you_mean


@dataclass
class Provider:
    task_id: str
    provision: Provision
    type: TypeDecl | None


def task_id(service: str | None, name: str) -> str:
    return f"{service}.{name}" if service else name


def _all_tasks(symbols: Symbols) -> list[tuple[str, TaskDecl | AnchorDecl]]:
    tasks: list[tuple[str, TaskDecl | AnchorDecl]] = []
    for service, by_name in symbols.tasks.items():
        tasks.extend((task_id(service, t.name), t) for t in by_name.values())
    tasks.extend((name, anchor) for name, anchor in symbols.anchors.items())
    return tasks


def _lookup_type(ref: Name | None, symbols: Symbols, diagnostics: Diagnostics) -> TypeDecl | None:
    if ref is None:
        return None
    found = symbols.types.get(ref.value)
    if found is None:
        diagnostics.error(
            f"unknown type '{ref.value}'",
            ref.span,
            hint=did_you_mean(ref.value, symbols.types) or "declare it with `type NAME { field: str }`",
        )
    return found


def collect_providers(symbols: Symbols, diagnostics: Diagnostics) -> dict[str, Provider]:
    providers: dict[str, Provider] = {}
    for tid, task in _all_tasks(symbols):
        for provision in task.provides:
            type_decl = _lookup_type(provision.type, symbols, diagnostics)
            first = providers.get(provision.name)
            if first is not None:
                where = "twice by" if first.task_id == tid else f"by both '{first.task_id}' and"
                diagnostics.error(
                    f"capability '{provision.name}' is provided {where} '{tid}'",
                    provision.span,
                    hint="a capability has one provider task: rename one of them",
                    notes=[(f"'{first.task_id}' provides '{provision.name}' here", first.provision.span)],
                )
                continue
            providers[provision.name] = Provider(tid, provision, type_decl)
            if type_decl is not None:
                _check_fields(provision, type_decl, diagnostics)
    for _tid, task in _all_tasks(symbols):
        for requirement in task.requires:
            _check_requirement(requirement, providers, symbols, diagnostics)
    return providers


def _check_fields(provision: Provision, type_decl: TypeDecl, diagnostics: Diagnostics) -> None:
    declared = {f.name: f for f in type_decl.fields}
    given = {f.name for f in provision.fields}
    for assign in provision.fields:
        if assign.name not in declared:
            hint = did_you_mean(assign.name, declared) or f"type '{type_decl.name}' has fields: {', '.join(declared)}"
            diagnostics.error(
                f"unknown field '{assign.name}' for capability type '{type_decl.name}'",
                assign.span,
                hint=hint,
                notes=[(f"type '{type_decl.name}' is declared here", type_decl.span)],
            )
    for name, decl in declared.items():
        if name not in given and decl.default is None:
            diagnostics.error(
                f"capability '{provision.name}' misses field '{name}' of type '{type_decl.name}'",
                provision.span,
                hint=f"add `{name} = ...` to the provided fields",
                notes=[(f"field '{name}' is declared here without a default", decl.span)],
            )


def _check_requirement(
    requirement: Requirement, providers: dict[str, Provider], symbols: Symbols, diagnostics: Diagnostics
) -> None:
    wanted = _lookup_type(requirement.type, symbols, diagnostics)
    provider = providers.get(requirement.name)
    if provider is None:
        diagnostics.error(
            f"capability '{requirement.name}' is not provided by any task",
            requirement.span,
            hint=did_you_mean(requirement.name, providers)
            or f"add `provides {requirement.name}` to the task that makes it available",
        )
        return
    if requirement.type is None or wanted is None:
        return
    have = provider.type.name if provider.type else None
    if have != wanted.name:
        given = f"'{have}'" if have else "no type"
        diagnostics.error(
            f"capability '{requirement.name}' is required as type '{wanted.name}' but provided with {given}",
            requirement.type.span,
            hint=f"require it as `{requirement.name}: {have}`" if have else "give the provider the same type",
            notes=[(f"'{provider.task_id}' provides it here", provider.provision.span)],
        )
