"""The Plan's JSON (`Plan.to_json`, and `plan_json` of the compiler's data) is exactly what Python's json
encoder writes (sorted keys, indent 2), only faster."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any
from unittest.mock import patch

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from orchc import plan as plan_module
from orchc import plan_data
from orchc.compiler import compile_project
from orchc.plan import Instance, Plan, PlaybookAction, SourceSpan, Task
from orchc.plan_data import canonical_value, plan_json

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _reference_json(plan: Plan) -> str:
    """The Plan's canonical bytes as first defined: Python's own encoder."""
    return json.dumps(plan.model_dump(mode="json", by_alias=True), sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def _plan_with_vars(values: dict[str, Any]) -> Plan:
    span = SourceSpan(file="a.orch", line=1, column=1, end_line=1, end_column=5)
    return Plan(
        root="/p",
        hosts=[],
        roles=[],
        secrets=[],
        tasks=[Task(id="s.t", service="s", name="t", source=span, delay=0.5)],
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
    # The compiler's way: plain data, every map sorted where it enters.
    assert plan_json(canonical_value(plan.model_dump(by_alias=True))).decode() == _reference_json(plan)


def test_floats_python_writes_with_an_exponent_keep_python_spelling() -> None:
    plan = _plan_with_vars({"small": 1e-05, "large": 1e16, "plain": 0.0001, "nan": float("nan")})
    text = plan.to_json()
    assert text == _reference_json(plan)
    assert '"small": 1e-05' in text and '"large": 1e+16' in text and '"plain": 0.0001' in text


@pytest.mark.parametrize("instances_per_write", [100, 1, 2])
def test_compiled_examples_give_the_reference_bytes(instances_per_write: int) -> None:
    for example in ("webapp", "openstack-mini"):
        folder = EXAMPLES / example
        inventory = next(p for p in sorted(folder.iterdir()) if p.name.startswith("inventory"))
        result = compile_project([folder], inventory)
        with patch.object(plan_data, "_INSTANCES_PER_WRITE", instances_per_write):
            assert plan_json(result.plan_data).decode() == result.plan.to_json() == _reference_json(result.plan)


def test_a_plan_without_instances_gives_the_reference_bytes() -> None:
    plan = Plan(root="/p", hosts=[], roles=[], tasks=[], instances=[])
    assert plan.to_json() == _reference_json(plan)


def test_unusual_values_are_written_as_pydantic_writes_them() -> None:
    values = {"when": date(2024, 5, 1), "pair": (1, 2), "numbered": {2: "b", 10: "a"}, "none": None}
    plan = _plan_with_vars(values)
    expected = {"none": None, "numbered": {"10": "a", "2": "b"}, "pair": [1, 2], "when": "2024-05-01"}
    assert canonical_value(values) == expected
    assert plan_json(canonical_value(plan.model_dump(by_alias=True))).decode() == _reference_json(plan)


def test_the_writer_looks_for_floats_in_every_field_that_may_hold_one() -> None:
    """`plan_json` checks only the fields listed in `_float_bearing_values`: a new float or free-form
    field must be added there."""
    fields = {
        (model.__name__, name)
        for model in vars(plan_module).values()
        if isinstance(model, type) and issubclass(model, BaseModel) and model.__module__ == plan_module.__name__
        for name, info in model.model_fields.items()
        if "float" in repr(info.annotation) or "Any" in repr(info.annotation)
    }
    assert fields == {
        ("Plan", "vars"),
        ("Host", "vars"),
        ("Task", "delay"),
        ("Task", "timeout"),
        ("PlaybookAction", "vars"),
        ("AnsibleModuleAction", "args"),
        ("AnsibleRoleAction", "vars"),
    }
