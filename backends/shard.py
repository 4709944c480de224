"""`--shard K/N`: which hosts one controller of a shared run takes first."""

from __future__ import annotations

from dataclasses import dataclass


class ShardError(ValueError):
    """A `--shard` that is not K/N with 1 <= K <= N; `hint` says how to write it."""

    hint = "write --shard K/N, e.g. --shard 1/3 for the first of three controllers"


@dataclass(frozen=True)
class Shard:
    """The hosts at positions `index`, `index + count`, ... of the Plan's host list (0-based `index`)."""

    index: int
    count: int

    @classmethod
    def parse(cls, text: str) -> Shard:
        k, slash, n = text.partition("/")
        if not (slash and k.strip().isdigit() and n.strip().isdigit()) or not 1 <= int(k) <= int(n):
            raise ShardError(f"--shard {text!r} is not K/N with 1 <= K <= N")
        return cls(int(k) - 1, int(n))
