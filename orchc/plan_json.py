"""The Plan's canonical JSON, the one writer of `plan.json`:
`json.dumps(plan, sort_keys=True, indent=2, ensure_ascii=False)` of the Plan's
fields, faster; and the check that what is written is a Plan.

The Plan's dataclasses (`orchc.plan`) declare their fields in name order and
hold their free-form maps in name order, so pydantic-core writes the canonical
bytes as it serialises them, indenting in Rust. Python's encoder is pure Python
once it indents (a second for a 25k-instance Plan).
"""

from __future__ import annotations

import io
import json
import re
from typing import Any, BinaryIO

import pydantic_core

from orchc.plan import Plan, type_adapter


def write_plan_json(plan: Plan, stream: BinaryIO) -> None:
    """Write the canonical bytes of `plan`, checking every field's type as it is written (raises
    `PlanTypeError`): the compiler builds its Plans without validation, and this check is the one they
    get on their way to a plan.json, at no cost beyond writing. It finds every value of another type
    than its field's; what only `validate_plan` finds besides (None in a field that holds no None, a
    value outside a `Literal`) the compiler's type-checked construction rules out.

    pydantic-core writes the same bytes as Python's encoder except for floats
    below 1e-4, which Python writes with a two-digit exponent (1e-05 against
    0.00001, 1.5e-07 against 1.5e-7): a Plan holding one is written by Python's
    encoder. NaN and infinities are written as null, as pydantic does.
    """
    text = _checked_json(plan)
    if _holds_small_float(text):
        plain = json.loads(text)
        stream.write((json.dumps(plain, indent=2, ensure_ascii=False) + "\n").encode())
        return
    stream.write(text + b"\n")


class PlanTypeError(TypeError):
    """A Plan (built without validation) holds a value of another type than its field's: a bug of what built it."""


def _checked_json(plan: Plan) -> bytes:
    try:
        text: bytes = type_adapter(Plan).dump_json(plan, indent=2, warnings="error")
    except pydantic_core.PydanticSerializationError as exc:
        raise PlanTypeError(f"not a Plan: {exc}") from exc
    return text


_NEGATIVE_EXPONENT = re.compile(rb"e-[0-9]")  # a literal first: the regex engine skips to it fast
_DIGITS = frozenset(b"0123456789")


def _holds_small_float(text: bytes) -> bool:
    """Whether JSON written by pydantic-core may hold a number below 1e-4 (0.00001, 1.5e-7); the same
    text inside a string only costs the slower encoder."""
    if b"0.0000" in text:
        return True
    return b"e-" in text and any(text[m.start() - 1] in _DIGITS for m in _NEGATIVE_EXPONENT.finditer(text))


def compact_json(value: Any) -> bytes:
    """`json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)`, encoded, of a value whose
    maps hold their keys in name order, as the Plan's objects do: by pydantic-core, faster, but for small floats."""
    text = pydantic_core.to_json(value, inf_nan_mode="constants")
    if _holds_small_float(text):
        return json.dumps(json.loads(text), separators=(",", ":"), ensure_ascii=False).encode()
    return text


def plan_json(plan: Plan) -> bytes:
    """The canonical bytes of `plan` (see `write_plan_json`)."""
    stream = io.BytesIO()
    write_plan_json(plan, stream)
    return stream.getvalue()
