"""Where every `orchc` command writes its messages for people: one rich console on stderr."""

from __future__ import annotations

import errno
import io
import os
import sys
from functools import cache
from typing import TYPE_CHECKING, Literal, TextIO, cast

if TYPE_CHECKING:
    from rich.console import Console


@cache
def stderr() -> Console:
    """The console, made on first use: most runs print nothing there (saves rich's ~25 ms import)."""
    from rich.console import Console

    return Console(file=outlive_terminal("stderr"), highlight=False, soft_wrap=True)


def outlive_terminal(name: Literal["stdout", "stderr"]) -> TextIO:
    """`sys.stdout` or `sys.stderr` (whatever it is when written to), as an `OutliveTerminal`: a `TextIOBase`,
    which typing's `TextIO` does not name."""
    return cast(TextIO, OutliveTerminal(name))


class OutliveTerminal(io.TextIOBase):
    """`sys.stdout` or `sys.stderr`, outliving its terminal: once the terminal (or the SSH session orchc ran
    in) is gone, writing fails with EIO (or EPIPE for a closed pipe); the command goes on, writing nowhere."""

    def __init__(self, name: Literal["stdout", "stderr"]) -> None:
        self._name = name
        self._devnull: TextIO | None = None

    @property
    def _stream(self) -> TextIO:
        stream = self._devnull or getattr(sys, self._name)
        return getattr(stream, "rich_proxied_file", stream)  # rich's live view stands in for sys.stdout/stderr

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except OSError as exc:
            self._gone(exc)
            return len(text)

    def flush(self) -> None:
        try:
            self._stream.flush()
        except OSError as exc:
            self._gone(exc)

    def _gone(self, exc: OSError) -> None:
        if exc.errno not in (errno.EIO, errno.EPIPE):
            raise exc
        self._devnull = open(os.devnull, "w")  # noqa: SIM115 -- the process's stream from now on

    def isatty(self) -> bool:
        return self._stream.isatty()

    def fileno(self) -> int:
        return self._stream.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]  # TextIOBase declares it as an attribute
        return self._stream.encoding
