"""The Plan's JSON (`plan_json`, `Plan.to_json`) is exactly what Python's json encoder writes (sorted keys,
indent 2), only faster: for Plans the compiler builds, Plans made by hand and Plans validated from any values.
So is `compact_json`, of which fingerprints are made, for compact JSON."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orchc import plan_json as plan_json_module
from orchc.compiler import compile_project
from orchc.plan import (
    AnsibleModuleAction,
    AnsibleRoleAction,
    Host,
    Instance,
    Placement,
    Plan,
    PlaybookAction,
    SourceSpan,
    Task,
    Variant,
    canonical_value,
    type_adapter,
    validate_plan,
)
from orchc.plan_json import compact_json, plan_json

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
SPAN = SourceSpan(file="a.orch", line=1, column=1, end_line=1, end_column=5)


def _reference_json(plan: Plan) -> str:
    """The Plan's canonical bytes as first defined: Python's own encoder, of pydantic's JSON values."""
    values = type_adapter(Plan).dump_python(plan, mode="json")
    return json.dumps(values, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def _plan_with_vars(values: dict[str, Any]) -> Plan:
    return Plan(
        root="/p",
        hosts=[],
        roles=[],
        secrets=[],
        tasks=[Task(id="s.t", service="s", name="t", source=SPAN, delay=0.5)],
        instances=[
            Instance(
                id="s.t@h",
                task="s.t",
                host="h",
                fingerprint="f",
                change_key="f",
                actions=[PlaybookAction(path="p.yml", vars=values)],
            )
        ],
        vars=values,
    )


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.text(max_size=8), json_values, max_size=5))
def test_any_values_give_the_reference_bytes(values: dict[str, Any]) -> None:
    plan = _plan_with_vars(values)
    assert plan.to_json() == _reference_json(plan)
    # Validated, as `orchc compile` writes it, and read back, as a run reads it.
    assert plan_json(validate_plan(plan)).decode() == _reference_json(plan)
    assert Plan.from_json(plan.to_json()).to_json() == _reference_json(plan)


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_compact_json_is_pythons(value: Any) -> None:
    value = canonical_value(value)
    expected = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    assert compact_json(value) == expected
    assert (
        compact_json([PlaybookAction(path="p.yml", vars={"v": value})])
        == json.dumps(
            [{"digest": "", "kind": "playbook", "path": "p.yml", "vars": {"v": value}}],
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=False,
        ).encode()
    )


def test_floats_python_writes_with_an_exponent_keep_python_spelling() -> None:
    plan = _plan_with_vars({"small": 1e-05, "large": 1e16, "plain": 0.0001, "nan": float("nan")})
    text = plan.to_json()
    assert text == _reference_json(plan)
    assert '"small": 1e-05' in text and '"large": 1e+16' in text and '"plain": 0.0001' in text


@pytest.mark.parametrize(
    "small",
    [
        Host(name="h", address="h", vars={"v": 1e-05}),
        Task(id="s.t", service="s", name="t", source=SPAN, delay=2e-05),
        Task(id="s.t", service="s", name="t", source=SPAN, timeout=3e-07),
        PlaybookAction(path="p.yml", vars={"v": [4e-05]}),
        AnsibleModuleAction(module="m", args={"v": {"w": 5e-9}}),
        AnsibleRoleAction(name="r", vars={"v": -6e-05}),
    ],
    ids=repr,
)
def test_a_small_float_anywhere_keeps_python_spelling(small: Any) -> None:
    """Every field that may hold a float: the writer looks for small floats in what it wrote, not in a list
    of fields."""
    host = small if isinstance(small, Host) else Host(name="h", address="h")
    task = small if isinstance(small, Task) else Task(id="s.t", service="s", name="t", source=SPAN)
    actions = [] if isinstance(small, Host | Task) else [small]
    placement = Placement(host="g", fingerprint="f", variants=[Variant(provider="p", fingerprint="f", actions=actions)])
    for instance in (
        Instance(id="s.t@h", task="s.t", host="h", fingerprint="f", change_key="f", actions=actions),
        Instance(id="s.t@h", task="s.t", host="h", fingerprint="f", change_key="f", alternates=[placement]),
    ):
        plan = Plan(root="/p", hosts=[host], roles=[], tasks=[task], instances=[instance])
        assert plan.to_json() == _reference_json(plan)
        assert "e-0" in plan.to_json() or "e-9" in plan.to_json()


def test_compiled_examples_give_the_reference_bytes() -> None:
    for example in ("webapp", "openstack-mini"):
        folder = EXAMPLES / example
        inventory = next(p for p in sorted(folder.iterdir()) if p.name.startswith("inventory"))
        result = compile_project([folder], inventory)
        written = plan_json(result.plan).decode()
        assert written == plan_json(validate_plan(result.plan)).decode() == _reference_json(result.plan)


def test_a_plan_without_instances_gives_the_reference_bytes() -> None:
    plan = Plan(root="/p", hosts=[], roles=[], tasks=[], instances=[])
    assert plan.to_json() == _reference_json(plan)


def test_unusual_values_are_written_as_pydantic_writes_them() -> None:
    values = {"when": date(2024, 5, 1), "pair": (1, 2), "numbered": {2: "b", 10: "a"}, "none": None}
    plan = _plan_with_vars(values)
    expected = {"none": None, "numbered": {"10": "a", "2": "b"}, "pair": [1, 2], "when": "2024-05-01"}
    assert canonical_value(values) == expected
    assert plan.vars == expected == plan.instances[0].actions[0].vars  # as the Plan holds them
    assert plan.to_json() == _reference_json(plan)


@pytest.mark.parametrize("where", ["instance", "task"])
def test_a_value_of_another_type_than_its_field_is_not_written(where: str) -> None:
    """The writer is the check of what the compiler builds without validation (`orchc compile`)."""
    plan = _plan_with_vars({})
    if where == "instance":
        plan.instances[0].deps = ["s.u@h", 3]  # type: ignore[list-item]  # the mistake the writer finds
    else:
        plan.tasks[0].retries = 1.5  # type: ignore[assignment]  # the mistake the writer finds
    with pytest.raises(plan_json_module.PlanTypeError, match="(?s)not a Plan: .*Expected `(str|int)`"):
        plan_json(plan)


def test_a_plan_holds_its_free_form_maps_in_name_order_however_made() -> None:
    plan = _plan_with_vars({"b": {"z": 1, "a": [{"y": 2, "x": 3}]}, "a": 0})
    assert json.dumps(plan.vars) == '{"a": 0, "b": {"a": [{"x": 3, "y": 2}], "z": 1}}'
    assert json.dumps(plan.instances[0].actions[0].vars) == json.dumps(plan.vars)
    data = json.loads(plan.to_json())
    data["vars"] = {"b": {"z": 1, "a": [{"y": 2, "x": 3}]}, "a": 0}
    assert Plan.from_json(json.dumps(data)).to_json() == plan.to_json()


def test_a_plan_type_declares_its_fields_in_name_order() -> None:
    """The order the JSON writes them in: a type that declares them otherwise is refused where it is made."""
    from orchc.plan import _plan_type

    with pytest.raises(TypeError, match="declares its fields out of name order: \\['name', 'address'\\]"):

        @_plan_type
        class Misordered:
            name: str
            address: str
