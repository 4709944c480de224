"""Directord's arguments ("args") as orchc variables, and the Jinja that reads them.

Directord keeps args per node in its cache: `ARG NAME VALUE` sets one on the
job's targets, `CACHEFILE` loads a YAML file of them, `RUN --stdout-arg NAME`
stores a command's output, `QUERY NAME` gathers NAME from every node into
`query`. Jinja in jobs and blueprints reads them by bare name, plus
`deployment_host` (the node's name).

orchc renders templates at compile time, so args known when converting become
variables: one `var` when every node has the same value, otherwise a host
variable in the inventory (read as `host.vars.NAME`). `query` becomes a `var`
holding every node's values. Args computed at run time (`--stdout-arg`) are
kept in a file on the node and read back by shell command substitution where
a command uses them as a plain `{{ NAME }}`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import jinja2

RUNTIME_ARGS_DIR = "/var/lib/orchc/args"


def runtime_arg_file(name: str) -> str:
    return f"{RUNTIME_ARGS_DIR}/{name}"


@dataclass
class Args:
    """Every arg known at conversion time, and the names only known at run time."""

    options: dict[str, Any] = field(default_factory=dict)  # from CACHEFILE: the same on every node
    per_host: dict[str, dict[str, Any]] = field(default_factory=dict)  # ARG name -> host -> value
    runtime: set[str] = field(default_factory=set)  # --stdout-arg / --stderr-arg names
    queried: set[str] = field(default_factory=set)  # QUERY names

    def set_arg(self, name: str, raw: str, hosts: list[str]) -> str | None:
        """Record `ARG name raw` on hosts; returns an error when it cannot be known before running."""
        values = self.per_host.setdefault(name, {})
        for host in hosts:
            rendered = _render(raw, self.context_for(host, bare=True))
            if isinstance(rendered, Exception):
                return self.unknown_reason(raw, rendered)
            values[host] = rendered
        return None

    def context_for(self, host: str, bare: bool = False) -> dict[str, Any]:
        """What Directord's Jinja saw on `host` (bare) or what orchc's compiler gives (host.vars)."""
        known = {**self.global_vars(), **({n: v[host] for n, v in self.per_host.items() if host in v} if bare else {})}
        host_vars = {n: v[host] for n, v in self.per_host.items() if host in v and n not in self.global_vars()}
        return {
            **known,
            "vars": known,
            "deployment_host": host,
            "host": {"name": host, "address": host, "port": None, "user": None, "vars": host_vars},
        }

    def global_vars(self) -> dict[str, Any]:
        """Options, args with one value on every node that has them, and `query`."""
        found = dict(self.options)
        for name, values in self.per_host.items():
            if len(set(map(str, values.values()))) == 1:
                found[name] = next(iter(values.values()))
        if self.queried:
            found["query"] = self.query()
        return found

    def host_vars(self) -> dict[str, dict[str, Any]]:
        """host -> the args whose value differs between nodes."""
        shared = self.global_vars()
        found: dict[str, dict[str, Any]] = {}
        for name, values in self.per_host.items():
            if name not in shared:
                for host, value in values.items():
                    found.setdefault(host, {})[name] = value
        return found

    def query(self) -> dict[str, dict[str, Any]]:
        nodes: dict[str, dict[str, Any]] = {}
        for name in sorted(self.queried):
            for host, value in self.per_host.get(name, {}).items():
                nodes.setdefault(host, {})[name] = value
        return nodes

    def rewrite(self, text: str, run: bool) -> str:
        """Directord Jinja -> orchc Jinja (see the module doc); `run` strings interpolate raw, as Directord did."""
        shared = self.global_vars()
        pieces: list[str] = []
        block: list[tuple[str, str]] | None = None
        previous = ""
        for _, kind, value in _environment().lex(text):
            if kind == "name" and previous not in (".", "|", "is"):
                if value == "deployment_host":
                    value = "host.name"
                elif value in self.per_host and value not in shared:
                    value = f"host.vars.{value}"
            if kind != "whitespace":
                previous = value
            if kind == "variable_begin":
                block = []
            if block is None:
                pieces.append(value)
                continue
            block.append((kind, value))
            if kind == "variable_end":
                pieces.append(self._variable(block, run))
                block = None
        return "".join(pieces)

    def _variable(self, block: list[tuple[str, str]], run: bool) -> str:
        inner = [(k, v) for k, v in block[1:-1]]
        significant = [v for k, v in inner if k != "whitespace"]
        if len(significant) == 1 and significant[0] in self.runtime and run:
            return f"$(cat {runtime_arg_file(significant[0])})"
        if not run:
            return "".join(v for _, v in block)
        expression = "".join(v for _, v in inner).strip()
        return f"{block[0][1]} ({expression}) | raw {block[-1][1]}"

    def check(self, text: str, host: str) -> str | None:
        """Render orchc Jinja as the compiler will on `host`: None when it renders, else why not."""
        rendered = _render(text, self.context_for(host))
        return self.unknown_reason(text, rendered) if isinstance(rendered, Exception) else None

    def unknown_reason(self, text: str, error: Exception) -> str:
        """Why Jinja cannot be rendered before running: the run-time args it reads, or the error."""
        reads = sorted(name for name in self.runtime if re.search(rf"\b{re.escape(name)}\b", text))
        if reads:
            return f"it reads {', '.join(reads)}, which Directord only knows while running (RUN --stdout-arg)"
        return f"it does not render before running: {error}"


@cache
def _environment() -> jinja2.Environment:
    """Directord's Jinja, made on first use: projects without directord jobs never import jinja2 (~0.02 s)."""
    import jinja2

    environment = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    environment.filters["raw"] = lambda value: "" if value is None else str(value)
    return environment


def _render(text: str, context: dict[str, Any]) -> str | jinja2.TemplateError:
    """`text` rendered by Directord's Jinja, or the error that stops it."""
    import jinja2

    try:
        return _environment().from_string(text).render(context)
    except jinja2.TemplateError as exc:
        return exc
