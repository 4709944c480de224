"""The Plan as plain data, without pydantic: what the compiler builds and `orchc compile` writes.

The compiler builds the Plan as dicts and lists whose keys are all in sorted
order (free-form maps pass through `canonical_value`), so that one pass of
pydantic-core's encoder writes its canonical bytes (`write_plan_json`). The
pydantic model of the same Plan, for the commands that read one, is
`orchc.plan.Plan`. The secret markers that the Plan's strings may hold are here
too: the compiler writes them, the runner resolves them.
"""

from __future__ import annotations

import gc
import io
import json
import math
import re
import shlex
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, BinaryIO

import pydantic_core

# --- the canonical JSON of a Plan ----------------------------------------------


def write_plan_json(data: dict[str, Any], stream: BinaryIO) -> None:
    """Write the canonical bytes of a Plan given as plain data whose keys are all in sorted order (see
    `canonical_value`): `json.dumps(data, sort_keys=True, indent=2, ensure_ascii=False)`, faster.

    Python's encoder is pure Python once it indents (a second for a 25k-instance
    Plan); pydantic-core's indents in Rust and writes the same bytes, except for
    floats that Python writes with an exponent (1e-05 against 0.00001): those
    take Python's encoder. NaN and infinities are written as null, as pydantic does.
    """
    if any(_has_float_with_exponent(value) for value in _float_bearing_values(data)):
        plain = json.loads(pydantic_core.to_json(data, inf_nan_mode="null"))
        stream.write((json.dumps(plain, indent=2, ensure_ascii=False) + "\n").encode())
        return
    instances = data["instances"]
    rest = _indented_json({**data, "instances": []})
    if not instances:
        stream.write(rest + b"\n")
        return
    # The instances, most of a Plan, are written a hundred at a time: the JSON of a large Plan never sits
    # whole in memory, whose fresh pages would cost more time than encoding it.
    head, tail = rest.split(b'\n  "instances": [],\n')  # JSON strings hold no raw newline
    stream.write(head + b'\n  "instances": [')
    for start in range(0, len(instances), _INSTANCES_PER_WRITE):
        some = _indented_json(instances[start : start + _INSTANCES_PER_WRITE])  # [\n  {...},\n  {...}\n]
        stream.write((b"," if start else b"") + some[1:-2].replace(b"\n", b"\n  "))  # items, a level deeper
    stream.write(b"\n  ],\n" + tail + b"\n")


_INSTANCES_PER_WRITE = 100


def _indented_json(value: Any) -> bytes:
    return pydantic_core.to_json(value, indent=2, inf_nan_mode="null")


def plan_json(data: dict[str, Any]) -> bytes:
    """The canonical bytes of a Plan given as plain data (see `write_plan_json`)."""
    stream = io.BytesIO()
    write_plan_json(data, stream)
    return stream.getvalue()


def _float_bearing_values(data: dict[str, Any]) -> Iterator[Any]:
    """Every value of a Plan's data that may hold a float: the float fields and the free-form maps."""
    yield data["vars"]
    for host in data["hosts"]:
        yield host["vars"]
    for task in data["tasks"]:
        yield task["delay"]
        yield task["timeout"]
    for instance in data["instances"]:
        if instance["actions"] or instance["alternates"]:
            placements = (instance, *instance["alternates"])
            for actions in (
                *(p["actions"] for p in placements),
                *(v["actions"] for p in placements for v in p["variants"]),
            ):
                for action in actions:
                    yield action.get("vars")
                    yield action.get("args")


def _has_float_with_exponent(value: Any) -> bool:
    if type(value) is float:
        return math.isfinite(value) and value != 0 and not 1e-4 <= abs(value) < 1e16
    if type(value) is dict:
        return any(_has_float_with_exponent(item) for item in value.values())
    if type(value) is list:
        return any(_has_float_with_exponent(item) for item in value)
    return False


_PLAIN_SCALARS = (str, int, float, bool, type(None))


def canonical_value(value: Any) -> Any:
    """A free-form value (variables, host vars, action maps) as the Plan holds it: every map's keys
    in sorted order. Anything but str-keyed dicts, lists and JSON scalars (dates, tuples, int
    keys...) is first turned into what pydantic writes for it."""
    if type(value) is dict and all(type(key) is str for key in value):
        return {key: canonical_value(value[key]) for key in sorted(value)}
    if type(value) is list:
        return [canonical_value(item) for item in value]
    if type(value) in _PLAIN_SCALARS:
        return value
    return sorted_json_data(pydantic_core.to_json(value, inf_nan_mode="null"))


def sorted_json_data(text: str | bytes) -> Any:
    """The data of a JSON text with every object's keys in sorted order."""
    return json.loads(text, object_pairs_hook=_sorted_object)


def _sorted_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    return dict(sorted(pairs))


@contextmanager
def gc_paused() -> Iterator[None]:
    """Building or writing a large Plan allocates many long-lived objects and frees few: Python's
    cyclic GC would scan them again and again (more than half the time at 20k instances).
    Reference counting still frees."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


# --- secret references inside strings ------------------------------------------

# The compiler writes a marker where a secret is interpolated; the runner
# replaces it with the value just before an action runs. `:sh` marks a place
# inside a `run` command, where the value is shell-quoted.
_SECRET_MARKER = re.compile(r"@@secret:(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?P<sh>:sh)?@@")


def secret_marker(name: str, shell_quoted: bool) -> str:
    return f"@@secret:{name}{':sh' if shell_quoted else ''}@@"


def secret_names(text: str) -> set[str]:
    return {m.group("name") for m in _SECRET_MARKER.finditer(text)}


def resolve_secrets(text: str, values: Mapping[str, str]) -> str:
    """Put secret values in place of their markers (KeyError for a missing one)."""

    def substitute(m: re.Match[str]) -> str:
        value = values[m.group("name")]
        return shlex.quote(value) if m.group("sh") else value

    return _SECRET_MARKER.sub(substitute, text)


REDACTED = "********"


def redact(text: str, values: Mapping[str, str]) -> str:
    """Hide every secret value that appears in output."""
    for value in sorted((v for v in values.values() if v), key=len, reverse=True):
        text = text.replace(value, REDACTED)
    return text
