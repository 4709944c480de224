"""A static evaluator for the Heat intrinsic functions TripleO service templates use.

A `Stack` is one template with its parameter values. `Stack.output(name, path)`
evaluates `outputs.<name>.value` (only the part under `path`), following
`get_attr` into nested templates (`type: ../foo.yaml`, or a registry name such
as `OS::TripleO::Services::Logging::NovaCommon`) and `OS::Heat::Value`
resources, exactly as Heat would with the same parameters.

What cannot be known statically is never dropped:
- a parameter with no value (no default, not given) or a hidden (secret) one
  becomes `Unresolved`: at the end it is written as the Ansible expression
  `{{ Name.path }}`, so the deployed content asks for it at run time;
- a function whose inputs are not known (`yaql`, an `if` on an unknown
  condition, ...) is kept as written.
Both are reported with the file:line they came from.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orchc.migrate.heat_registry import HEAT_YAML, load_jinja_yaml, relative_name
from orchc.migrate.yaml_source import leaves, load_yaml, where_of

# Parameters the parent stack computes at deploy time (VIPs, CIDRs): never taken from a child's default.
RUNTIME_PARAMETERS = frozenset({"EndpointMap", "ServiceData"})


@dataclass(frozen=True)
class Unresolved:
    """A Heat parameter (or a part of one) whose value is known only at deploy time."""

    param: str
    path: tuple[str | int, ...] = ()

    def at(self, *keys: str | int) -> Unresolved:
        return Unresolved(self.param, self.path + tuple(keys))

    def expression(self) -> str:
        text = self.param
        for key in self.path:
            text += f".{key}" if isinstance(key, str) and key.isidentifier() else f"[{json.dumps(key)}]"
        return text

    def jinja(self) -> str:
        return "{{ " + self.expression() + " }}"


class _Omit:
    """What a two-argument `if` gives when false: the entry disappears from its map or list."""

    def __repr__(self) -> str:
        return "OMIT"


OMIT = _Omit()


class Unknown(Exception):
    """An intrinsic whose inputs are not known statically; the node is kept as written."""

    def __init__(self, why: str) -> None:
        super().__init__(why)
        self.why = why


# Reports a problem: (category, file:line, what, why). Categories are those of migrate.report.
Notify = Callable[[str, str, str, str], None]


def plain(node: Any) -> Any:
    """Loaded YAML as plain dicts and lists (no source positions), e.g. to keep a node as written."""
    if isinstance(node, dict):
        return {k: plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [plain(v) for v in node]
    return node


class Library:
    """Loads templates once and maps registry type names (`OS::TripleO::...`) to template files."""

    def __init__(
        self,
        registry: dict[str, str],
        parameter_defaults: dict[str, Any],
        notify: Notify,
        root: Path | None = None,
        jinja_context: dict[str, Any] | None = None,
    ) -> None:
        self.registry = registry  # type name -> absolute template path, or "OS::Heat::None"
        self.parameter_defaults = parameter_defaults  # from the environment files (Heat parameter_defaults)
        self.notify = notify
        self.root = root  # paths in reports are relative to it
        self.jinja_context = jinja_context or {"roles": [], "networks": []}  # for THT's *.j2.yaml templates
        self._templates: dict[Path, Any] = {}
        self.secrets: set[str] = set()  # hidden parameters met: orchc secrets of the converted project

    def source_name(self, path: Path) -> str:
        return relative_name(path, self.root)

    def template(self, path: Path) -> Any:
        path = path.resolve()
        if path not in self._templates:
            jinja_path = path if path.name.endswith(".j2.yaml") else path.with_name(path.stem + ".j2.yaml")
            if jinja_path == path or (not path.exists() and jinja_path.exists()):
                self._templates[path] = load_jinja_yaml(jinja_path, self.jinja_context, self.source_name(jinja_path))
            else:
                self._templates[path] = load_yaml(path, self.source_name(path), HEAT_YAML)
        return self._templates[path]

    def exists(self, path: Path) -> bool:
        return path.exists() or path.with_name(path.stem + ".j2.yaml").exists()


class Stack:
    """One template evaluated with given parameter values."""

    def __init__(self, library: Library, path: Path, given: dict[str, Any]) -> None:
        self.library = library
        self.path = path
        self.template = library.template(path)
        self.source = library.source_name(path)
        self.given = given  # properties passed by the parent stack, already evaluated
        self._params: dict[str, Any] = {}
        self._conditions: dict[str, Any] = {}
        self._children: dict[str, Stack | None] = {}

    # --- parameters and conditions --------------------------------------------------

    def param(self, name: str) -> Any:
        if name not in self._params:
            self._params[name] = self._param_value(name)
        return self._params[name]

    def _param_value(self, name: str) -> Any:
        declared = (self.template.get("parameters") or {}).get(name)
        here = where_of(declared, self.source)
        if isinstance(declared, dict) and declared.get("hidden"):
            self.library.secrets.add(name)
            self.library.notify(
                "assumption",
                here,
                f"secret parameter {name} is not written out",
                f"it is the orchc secret {name}: supply it at run time (--secrets FILE or ORCHC_SECRET_{name})",
            )
            return Unresolved(name)
        if name in self.given:
            return self.given[name]
        if name in self.library.parameter_defaults:
            return _coerce(self.library.parameter_defaults[name], declared)
        if isinstance(declared, dict) and "default" in declared and name not in RUNTIME_PARAMETERS:
            return _coerce(plain(declared["default"]), declared)
        self.library.notify(
            "assumption",
            here,
            f"parameter {name} has no value",
            f"kept as the Ansible variable {{{{ {name} }}}}: give it with --param-file or in the inventory",
        )
        return Unresolved(name)

    def condition(self, name: str) -> bool:
        if name not in self._conditions:
            definitions = self.template.get("conditions") or {}
            if name not in definitions:
                raise Unknown(f"no condition named {name!r} in {self.source}")
            self._conditions[name] = self.decide(definitions[name])
        return self._conditions[name]

    def decide(self, node: Any) -> bool:
        """A condition: a condition's name or an expression; raises Unknown when it cannot be decided here."""
        if isinstance(node, str):
            return self.condition(node)
        function = function_of(node)
        return truth(_FUNCTIONS[function](self, node[function], where_of(node, self.source)) if function else node)

    # --- resources ------------------------------------------------------------------

    def child(self, name: str) -> Stack | None:
        """The nested stack of resource `name`, or None when it does not exist (false condition, OS::Heat::None)."""
        if name not in self._children:
            self._children[name] = self._make_child(name)
        return self._children[name]

    def _make_child(self, name: str) -> Stack | None:
        resource = self._resource(name)
        condition = resource.get("condition")
        if condition is not None and not self.decide(condition):
            return None
        kind = str(resource.get("type", ""))
        target = self.library.registry.get(kind)
        if target == "OS::Heat::None":
            return None
        if target is None and kind.endswith(".yaml"):
            target = str((self.path.parent / kind).resolve())
        if target is None:
            raise Unknown(f"resource {name} has type {kind}, which orchc cannot evaluate")
        if not self.library.exists(Path(target)):
            raise Unknown(f"resource {name}: no template {target}")
        properties = self.evaluate(resource.get("properties") or {})
        return Stack(self.library, Path(target), properties if isinstance(properties, dict) else {})

    def _resource(self, name: str) -> dict:
        resource = (self.template.get("resources") or {}).get(name)
        if not isinstance(resource, dict):
            raise Unknown(f"no resource named {name!r} in {self.source}")
        return resource

    def attribute(self, name: str, attr: str, path: list[Any]) -> Any:
        resource = self._resource(name)
        if resource.get("type") == "OS::Heat::Value":
            condition = resource.get("condition")
            if condition is not None and not self.decide(condition):
                return None
            if attr != "value":
                raise Unknown(f"OS::Heat::Value {name} has no attribute {attr}")
            return index(self.evaluate((resource.get("properties") or {}).get("value")), path)
        stack = self.child(name)
        return None if stack is None else stack.output(attr, path)

    # --- outputs --------------------------------------------------------------------

    def output(self, name: str, path: list[Any] | tuple[Any, ...] = ()) -> Any:
        """outputs.<name>.value[path...], evaluating only what the path selects."""
        output = (self.template.get("outputs") or {}).get(name)
        if not isinstance(output, dict):
            return None
        return self.evaluate_at(output.get("value"), list(path))

    def evaluate_at(self, node: Any, path: list[Any]) -> Any:
        while path and not function_of(node):
            if isinstance(node, dict):
                node = node.get(path[0])
            elif isinstance(node, list) and isinstance(path[0], int) and -len(node) <= path[0] < len(node):
                node = node[path[0]]
            else:
                return None
            path = path[1:]
        return index(self.evaluate(node), path)

    # --- evaluation -----------------------------------------------------------------

    def evaluate(self, node: Any) -> Any:
        """Heat's value of `node`; unknowable functions are kept as written and reported."""
        function = function_of(node)
        if function:
            try:
                return _FUNCTIONS[function](self, node[function], where_of(node, self.source))
            except Unknown as exc:
                self.library.notify("unsupported", where_of(node, self.source), f"{function} kept as written", exc.why)
                return plain(node)
        if isinstance(node, dict):
            values = ((k, self.evaluate(v)) for k, v in node.items())
            return {k: v for k, v in values if v is not OMIT}
        if isinstance(node, list):
            return [v for v in (self.evaluate(item) for item in node) if v is not OMIT]
        return node


def function_of(node: Any) -> str | None:
    if isinstance(node, dict) and len(node) == 1:
        key = next(iter(node))
        if key in _FUNCTIONS:
            return key
    return None


def _coerce(value: Any, declared: Any) -> Any:
    kind = declared.get("type") if isinstance(declared, dict) else None
    if kind == "comma_delimited_list" and isinstance(value, str):
        return [item.strip() for item in value.split(",")] if value else []
    if kind == "boolean" and isinstance(value, str):
        return value.strip().lower() in ("true", "t", "yes", "y", "on", "1")
    if kind == "number" and isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            try:
                return float(value)
            except ValueError:
                return value
    return value


def truth(value: Any) -> bool:
    """A condition's value; an unknown one (an Unresolved parameter) cannot be decided statically."""
    if isinstance(value, Unresolved):
        raise Unknown(f"the condition depends on {value.jinja()}, which has no value here")
    if isinstance(value, str):
        return value.strip().lower() in ("true", "t", "yes", "y", "on", "1")
    return bool(value)


def index(value: Any, path: list[Any] | tuple[Any, ...]) -> Any:
    """value[path...] the way get_param/get_attr walk it: a missing key gives None."""
    for position, key in enumerate(path):
        if isinstance(value, Unresolved):
            return value.at(*path[position:])
        if isinstance(value, dict):
            value = value.get(key)
        elif isinstance(value, list):
            try:
                value = value[int(key)]
            except (ValueError, IndexError):
                return None
        else:
            return None
    return value


def text(value: Any) -> str:
    """A value inside a built string: an Unresolved part becomes its Ansible expression."""
    if isinstance(value, Unresolved):
        return value.jinja()
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        if _contains_unresolved(value):
            raise Unknown("a structured value with unknown parts cannot be joined into a string")
        return json.dumps(value)
    return str(value)


def _contains_unresolved(value: Any) -> bool:
    return any(isinstance(leaf, Unresolved) for leaf in leaves(value))


def _known(value: Any, what: str) -> Any:
    if isinstance(value, Unresolved):
        raise Unknown(f"{what} is {value.jinja()}, which has no value here")
    return value


# --- the functions --------------------------------------------------------------------------


def _get_param(stack: Stack, args: Any, at: str) -> Any:
    args = stack.evaluate(args)
    names = args if isinstance(args, list) else [args]
    return index(stack.param(str(names[0])), names[1:])


def _get_attr(stack: Stack, args: Any, at: str) -> Any:
    args = stack.evaluate(args)
    if not isinstance(args, list) or len(args) < 2:
        raise Unknown("get_attr needs [resource, attribute, ...]")
    return stack.attribute(str(args[0]), str(args[1]), args[2:])


def _get_resource(stack: Stack, args: Any, at: str) -> Any:
    raise Unknown("get_resource names a resource created at deploy time")


def _if(stack: Stack, args: Any, at: str) -> Any:
    if not isinstance(args, list) or len(args) not in (2, 3):
        raise Unknown("if needs [condition, value_if_true, value_if_false]")
    if stack.decide(args[0]):
        return stack.evaluate(args[1])
    return stack.evaluate(args[2]) if len(args) == 3 else OMIT


def _equals(stack: Stack, args: Any, at: str) -> Any:
    left, right = (stack.evaluate(a) for a in args)
    if isinstance(left, Unresolved) or isinstance(right, Unresolved):
        return left if isinstance(left, Unresolved) else right
    return left == right


def _not(stack: Stack, args: Any, at: str) -> bool:
    return not stack.decide(args)


def _decide_all(stack: Stack, args: Any, decisive: bool) -> bool:
    """`and` (decisive False) / `or` (decisive True): one decisive known operand settles it, even if others
    are unknown."""
    unknown: Unknown | None = None
    for operand in args:
        try:
            if stack.decide(operand) == decisive:
                return decisive
        except Unknown as exc:
            unknown = exc
    if unknown is not None:
        raise unknown
    return not decisive


def _and(stack: Stack, args: Any, at: str) -> bool:
    return _decide_all(stack, args, decisive=False)


def _or(stack: Stack, args: Any, at: str) -> bool:
    return _decide_all(stack, args, decisive=True)


def _contains(stack: Stack, args: Any, at: str) -> bool:
    needle, haystack = (_known(stack.evaluate(a), "the contains argument") for a in args)
    return needle in (haystack or [])


def _lists(stack: Stack, args: Any, what: str) -> list[list[Any]]:
    lists = _known(stack.evaluate(args), what)
    for item in lists:
        _known(item, f"a {what} argument")
    return [item for item in lists if item is not None]


def _list_concat(stack: Stack, args: Any, at: str) -> list[Any]:
    return [v for items in _lists(stack, args, "list_concat") for v in items]


def _list_concat_unique(stack: Stack, args: Any, at: str) -> list[Any]:
    result: list[Any] = []
    for v in _list_concat(stack, args, at):
        if v not in result:
            result.append(v)
    return result


def _list_join(stack: Stack, args: Any, at: str) -> str:
    """Join lists; a list known only at deploy time is joined there, by Ansible's `join` filter."""
    delimiter, *lists = stack.evaluate(args)
    delimiter = str(delimiter)
    pieces = []
    for items in lists:
        if isinstance(items, Unresolved):
            pieces.append("{{ " + items.expression() + " | join(" + json.dumps(delimiter) + ") }}")
        elif items:
            pieces.append(delimiter.join(text(v) for v in items))
    return delimiter.join(pieces)


def _str_replace(stack: Stack, args: Any, at: str) -> str:
    args = stack.evaluate(args)
    template = _known(args.get("template"), "the str_replace template")
    result = text(template)
    params = _known(args.get("params") or {}, "the str_replace params")
    for key in sorted(params, key=lambda k: len(str(k)), reverse=True):
        result = result.replace(str(key), text(params[key]))
    return result


def _map_merge(stack: Stack, args: Any, at: str) -> dict[Any, Any]:
    merged: dict[Any, Any] = {}
    for item in _lists(stack, args, "map_merge"):
        merged.update(item)
    return merged


def _map_replace(stack: Stack, args: Any, at: str) -> dict[Any, Any]:
    data, rules = (_known(a, "the map_replace argument") for a in stack.evaluate(args))
    keys, values = _known(rules.get("keys") or {}, "keys"), _known(rules.get("values") or {}, "values")
    result = {}
    for key, value in (data or {}).items():
        if isinstance(value, (str, int, float)) and value in values:
            value = values[value]
        result[keys.get(key, key)] = value
    return result


def _repeat(stack: Stack, args: Any, at: str) -> list[Any]:
    args = stack.evaluate(args)
    for_each = {k: _known(v, "a repeat list") for k, v in (args.get("for_each") or {}).items()}
    combos: list[dict[str, Any]] = [{}]
    if args.get("permutations", True):
        for key, values in for_each.items():
            combos = [dict(c, **{key: v}) for c in combos for v in values or []]
    else:
        combos = [dict(zip(for_each, values, strict=True)) for values in zip(*for_each.values(), strict=False)]
    return [_substitute(args.get("template"), combo) for combo in combos]


def _substitute(node: Any, combo: dict[str, Any]) -> Any:
    if isinstance(node, str):
        for key, value in combo.items():
            node = node.replace(key, text(value))
        return node
    if isinstance(node, dict):
        return {_substitute(k, combo): _substitute(v, combo) for k, v in node.items()}
    if isinstance(node, list):
        return [_substitute(v, combo) for v in node]
    return node


def _make_url(stack: Stack, args: Any, at: str) -> str:
    parts = {k: text(v) for k, v in stack.evaluate(args).items()}
    host = parts.get("host", "")
    url = f"{parts['scheme']}://" if parts.get("scheme") else ""
    url += f"[{host}]" if ":" in host and not host.startswith("{{") else host
    url += f":{parts['port']}" if parts.get("port") else ""
    url += "/" + parts.get("path", "").lstrip("/") if parts.get("path") else ""
    return url


def _str_split(stack: Stack, args: Any, at: str) -> Any:
    delimiter, value, *rest = stack.evaluate(args)
    items = _known(value, "the string to split").split(delimiter)
    return items[int(rest[0])] if rest else items


def _filter(stack: Stack, args: Any, at: str) -> list[Any]:
    remove, values = (_known(a, "the filter argument") for a in stack.evaluate(args))
    return [v for v in values or [] if v not in (remove or [])]


def _get_file(stack: Stack, args: Any, at: str) -> str:
    path = (stack.path.parent / str(stack.evaluate(args))).resolve()
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise Unknown(f"cannot read {path}: {exc.strerror}") from None


def _digest(stack: Stack, args: Any, at: str) -> str:
    algorithm, value = stack.evaluate(args)
    return hashlib.new(str(algorithm), _known(value, "the digest input").encode()).hexdigest()


def _yaql(stack: Stack, args: Any, at: str) -> Any:
    raise Unknown("orchc does not evaluate yaql expressions")


_FUNCTIONS: dict[str, Callable[[Stack, Any, str], Any]] = {
    "get_param": _get_param,
    "get_attr": _get_attr,
    "get_resource": _get_resource,
    "if": _if,
    "equals": _equals,
    "not": _not,
    "and": _and,
    "or": _or,
    "contains": _contains,
    "list_concat": _list_concat,
    "list_concat_unique": _list_concat_unique,
    "list_join": _list_join,
    "str_replace": _str_replace,
    "str_replace_strict": _str_replace,
    "str_replace_vstrict": _str_replace,
    "map_merge": _map_merge,
    "map_replace": _map_replace,
    "repeat": _repeat,
    "make_url": _make_url,
    "str_split": _str_split,
    "filter": _filter,
    "get_file": _get_file,
    "digest": _digest,
    "yaql": _yaql,
}
