"""Syntax tree to Plan: resolve, type-check, expand, render, lower.

`compile_project` runs the passes in order; each reports what it finds to one
`Diagnostics` collector, and compilation stops (raising `DiagnosticError` with
every error found so far) where a later pass could not make sense of the input:

  loader (files, imports) -> symbols (names, duplicates) -> inventory ->
  variables -> capabilities (providers, types) -> placement (roles) ->
  Ansible module names -> expand (units, edges; binding of requires; actions via render; fingerprints,
  and the digests of their inputs: `inputs`)
  -> cycles -> Plan
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchc.compiler.actions import ActionLowerer
from orchc.compiler.ansible_conditions import ConditionOutcome
from orchc.compiler.ansible_modules import check_modules
from orchc.compiler.capabilities import collect_providers
from orchc.compiler.cycles import check_cycles
from orchc.compiler.expand import Expander, Expansion, task_settings
from orchc.compiler.inventory import load_inventory
from orchc.compiler.loader import load_modules
from orchc.compiler.placement import place
from orchc.compiler.render import Renderer
from orchc.compiler.symbols import Symbols, collect
from orchc.compiler.variables import resolve_variables
from orchc.dsl.ast import Span, TaskDecl
from orchc.dsl.diagnostics import Diagnostic, DiagnosticError, Diagnostics
from orchc.plan import Plan, SecretRef, SourceSpan, Task, gc_paused, validate_plan


@dataclass
class CompileResult:
    """A compiled Plan (or one read from a plan.json), with what compiling it found."""

    plan: Plan  # as the compiler builds it, or as read and validated
    warnings: list[Diagnostic]
    secret_values: dict[str, str]  # supplied with -e/--vars: for the run, never in the Plan
    conditions: list[ConditionOutcome] = field(
        default_factory=list
    )  # what each `when ansible` decided, per host (none for a plan.json)
    validated: bool = False  # whether `plan` was checked against the Plan's schema

    @classmethod
    def of_plan(cls, plan: Plan) -> CompileResult:
        """A Plan read from a plan.json (and so validated), as if just compiled."""
        return cls(plan, warnings=[], secret_values={}, validated=True)

    def validated_plan(self) -> Plan:
        """The Plan checked against its schema field by field, as `orchc check` passes it; `orchc compile`
        writes the compiler's typed Plan checking the type of every field as it writes (`write_plan_json`),
        and the run takes it as it is."""
        if not self.validated:
            self.plan, self.validated = validate_plan(self.plan), True
        return self.plan


def plan_root(inputs: list[Path]) -> Path:
    """The folder of the first input: paths in the Plan are relative to it."""
    first = inputs[0]
    return (first if first.is_dir() else first.parent).resolve()


def compile_project(inputs: list[Path], inventory: Path, variables: Mapping[str, Any] | None = None) -> CompileResult:
    """Compile `.orch` files (or folders of them) against an Ansible inventory; raises DiagnosticError."""
    if not inputs:
        raise DiagnosticError([Diagnostic("error", "no input given", hint="give a .orch file or a folder of them")])
    with gc_paused():
        return _compile(inputs, inventory, variables or {})


def _compile(inputs: list[Path], inventory: Path, variables: Mapping[str, Any]) -> CompileResult:
    diagnostics = Diagnostics()
    root = plan_root(inputs)
    modules = load_modules(inputs, diagnostics)
    symbols = collect(modules, diagnostics)
    diagnostics.raise_if_errors()
    hosts = load_inventory(inventory)
    values = resolve_variables(symbols, variables, diagnostics)
    diagnostics.raise_if_errors()  # templates would only repeat that a variable has no value
    providers = collect_providers(symbols, diagnostics)
    placement = place(symbols, hosts, diagnostics)
    check_modules(symbols, diagnostics)
    renderer = Renderer()
    expansion = Expander(
        symbols, hosts, placement, values, providers, renderer, ActionLowerer(renderer, root), diagnostics
    ).run()
    diagnostics.raise_if_errors()
    check_cycles(expansion.edges, expansion.instances, diagnostics)
    diagnostics.raise_if_errors()
    if not expansion.instances:
        _nothing_to_deploy(inputs, symbols, diagnostics)
    sources = _Sources(root)
    plan = Plan(
        groups={name: hosts.groups[name] for name in sorted(hosts.group_names())},
        hosts=hosts.hosts,
        instances=expansion.instances,
        roles=placement.roles,
        root=str(root),
        secrets=[SecretRef(name=n, source=sources.of(symbols.vars[n].span)) for n in values.secrets],
        strict=symbols.strict,
        tasks=_tasks(expansion, sources),
        vars=values.values,
    )
    return CompileResult(plan, diagnostics.warnings, values.secret_values, conditions=expansion.conditions)


def _nothing_to_deploy(inputs: list[Path], symbols: Symbols, diagnostics: Diagnostics) -> None:
    """A Plan of no instance compiles, and its run succeeds doing nothing: say so, and why."""
    if symbols.services:
        why = "no task of a service is placed on a host"
        hint = "list the services in a role whose inventory group has hosts: `role GROUP { services NAME }`"
    else:
        why = "it declares no service and no anchor"
        hint = 'declare a service with a task, `service NAME { task install { run "..." } }`, and a role that lists it'
    diagnostics.warning(
        f"nothing to deploy: {', '.join(map(str, inputs))} compiles to no task instance ({why})", hint=hint
    )


@dataclass
class _Sources:
    """Source spans as the Plan holds them: files relative to the Plan root (each file resolved once)."""

    root: Path
    _files: dict[str, str] = field(default_factory=dict)

    def of(self, span: Span) -> SourceSpan:
        file = self._files.get(span.file)
        if file is None:
            file = self._files[span.file] = Path(os.path.relpath(os.path.realpath(span.file), self.root)).as_posix()
        return SourceSpan(
            column=span.column, end_column=span.end_column, end_line=span.end_line, file=file, line=span.line
        )


def _tasks(expansion: Expansion, sources: _Sources) -> list[Task]:
    tasks = []
    for unit in expansion.units:
        decl = unit.decl
        task = decl if isinstance(decl, TaskDecl) else None  # else an anchor
        settings = task_settings(decl)
        tasks.append(
            Task(
                anchor=not (task and task.actions),
                become=settings.become,
                concurrency=task.concurrency.value if task and task.concurrency else None,
                delay=settings.delay,
                id=unit.id,
                inputs=expansion.task_inputs.get(unit.id, {}),
                name=decl.name,
                once=unit.once,
                retries=settings.retries,
                service=unit.service,
                source=sources.of(decl.name_span),
                timeout=settings.timeout,
            )
        )
    return tasks


__all__ = ["CompileResult", "compile_project", "plan_root"]
