"""Properties of every compiled Plan, on random projects: ids unique, deps exist and come first, bytes stable
(also when no instance is copied from another of its task) and the same once validated."""

from __future__ import annotations

import dataclasses
import random
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest.mock import patch

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orchc.compiler import compile_project
from orchc.compiler.expand import Expander
from orchc.dsl.diagnostics import DiagnosticError
from orchc.plan import Plan, validate_plan
from orchc.plan_json import plan_json


def random_project(folder: Path, seed: int, hosts: int, roles: int, services: int) -> None:
    """Services of 1-4 tasks placed on random roles; tasks require capabilities of earlier services."""
    rng = random.Random(seed)
    inventory = [
        f"[role{r}]\n"
        + "".join(f"h{h}\n" for h in range(hosts) if h % roles == r or h == r % hosts or rng.random() < 0.2)
        for r in range(roles)
    ]
    (folder / "inventory.ini").write_text("".join(inventory))
    lines, placed = [], {r: [] for r in range(roles)}
    for s in range(services):
        for r in rng.sample(range(roles), rng.randint(1, roles)):
            placed[r].append(f"s{s}")
        lines.append(f"service s{s} {{")
        for t in range(rng.randint(1, 4)):
            body = [f"after t{t - 1}"] if t else []
            for p in range(s):
                if rng.random() < 0.3:
                    body.append(f"requires c{p}" + rng.choice(["", " on any"]))
            body.append(rng.choice([f'run "echo {{{{ host.name }}}} {s}.{t}"', f'run "echo {s}.{t}"']))
            lines.append(f"  task t{t}{' once' if rng.random() < 0.2 else ''} {{ {'  '.join(body)} }}")
        lines[-1] = lines[-1][:-2] + f"  provides c{s} }}"
        lines.append("}")
    lines += [f"role role{r} {{ services {', '.join(names)} }}" for r, names in placed.items() if names]
    (folder / "site.orch").write_text("\n".join(lines) + "\n")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), hosts=st.integers(1, 8), roles=st.integers(1, 3), services=st.integers(1, 8))
def test_compiled_plans_are_well_formed_and_deterministic(seed: int, hosts: int, roles: int, services: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        random_project(folder, seed, hosts, roles, services)
        result = compile_project([folder / "site.orch"], folder / "inventory.ini")
        with patch.object(Expander, "_differs_by_host", lambda self, unit: True):
            again = compile_project([folder / "site.orch"], folder / "inventory.ini")  # no instance copied
    plan = result.plan
    # What `orchc compile` writes, the compiler's Plan validated, is the compiler's Plan as it was built, and
    # reads back as itself.
    written = plan_json(validate_plan(plan)).decode()
    assert written == plan.to_json() == Plan.from_json(written).to_json() == again.plan.to_json()
    assert not list(_not_plain(plan)), "the compiler built the Plan of values that validating it would change"
    position = {instance.id: index for index, instance in enumerate(plan.instances)}
    assert len(position) == len(plan.instances)
    tasks = {task.id for task in plan.tasks}
    for instance in plan.instances:
        assert instance.task in tasks
        assert instance.deps == sorted(set(instance.deps))
        waits_for = instance.deps + [dep for group in instance.any_of for dep in group]
        # The generator only points backwards, so every dependency is listed earlier in the Plan.
        assert all(position[dep] < position[instance.id] for dep in waits_for)


def _not_plain(value: Any) -> Iterator[Any]:
    """What a Plan holds that validating it would have changed: str or int subclasses (ansible-core's tagged
    strings, lark's tokens), tuples, dates..."""
    if dataclasses.is_dataclass(value):
        for plan_field in dataclasses.fields(value):
            yield from _not_plain(getattr(value, plan_field.name))
    elif type(value) is dict:
        for key, item in value.items():
            yield from _not_plain(key)
            yield from _not_plain(item)
    elif type(value) is list:
        for item in value:
            yield from _not_plain(item)
    elif type(value) not in (str, int, float, bool, type(None)):
        yield value


def random_mistakes(folder: Path, seed: int) -> None:
    """A mostly valid project with occasional mistakes: wrong names, bad scopes, cycles, type errors."""
    rng = random.Random(seed)
    (folder / "inventory.ini").write_text("[web]\nw1\nw2\n[db]\nd1\n")

    def sometimes(good: str, *bad: str) -> str:
        return rng.choice(bad) if bad and rng.random() < 0.1 else good

    services = rng.randint(1, 4)
    lines = ["type t { host: str  port: int = 1 }", 'var v: str = "x"']
    for s in range(services):
        tasks = rng.randint(1, 3)
        lines.append(f"service s{s} {{")
        for t in range(tasks):
            body = []
            if t and rng.random() < 0.7:
                body.append(sometimes(f"after t{rng.randrange(t)}", f"after t{tasks}", f"before t{rng.randrange(t)}"))
            if rng.random() < 0.5:
                scope = rng.choice(["", " on any", " on role db", " on role web", " on same host"])
                body.append(
                    sometimes(
                        f"requires c{rng.randrange(services)}: t{scope}",
                        f"requires c{services}",
                        "requires c0 on role nope",
                        "requires c0: u",
                    )
                )
            if t == tasks - 1:
                body.append(
                    sometimes(
                        f'provides c{s}: t {{ host = "{{{{ host.name }}}}" }}',
                        f'provides c{s}: t {{ port = "{{{{ host.name }}}}" }}',
                        f"provides c{s}: t",
                        f"provides c{s}",
                        'provides c0: t { host = "h" }',
                    )
                )
            body.append(rng.choice(["", "when \"host.name == 'w1'\"", "when changed(v)", "concurrency 1"]))
            body.append(
                sometimes(
                    'run "echo {{ v }} {{ host.name }}"', 'run "{{ nope }}"', 'run "{{ v"', 'run "echo {{ c0.host }}"'
                )
            )
            once = " once" if rng.random() < 0.3 else ""
            lines.append(f"  task t{t}{once} {{ {'  '.join(b for b in body if b)} }}")
        lines.append("}")
    roles = {"web": [f"s{i}" for i in range(services) if rng.random() < 0.7] or ["s0"], "db": ["s0"]}
    lines += [f"role {name} {{ services {', '.join(names)} }}" for name, names in roles.items()]
    lines.append(rng.choice(["", "anchor a { requires c0 }", "anchor a { after b }"]))
    (folder / "site.orch").write_text("\n".join(lines) + "\n")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 100_000))
def test_any_mistake_is_a_diagnostic_never_a_crash(seed: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        random_mistakes(folder, seed)
        try:
            compile_project([folder / "site.orch"], folder / "inventory.ini")
        except DiagnosticError as failure:
            assert all(d.message for d in failure.diagnostics)
