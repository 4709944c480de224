"""Ansible YAML written back as plain YAML that Ansible reads as the same data."""

from __future__ import annotations

from typing import Any

import yaml

from orchc.migrate.yaml_source import Unsafe, Vault


class _Dumper(yaml.SafeDumper):
    """Safe YAML (loaded mappings and lists dump as plain ones) that keeps `!unsafe` and `!vault`."""


def _represent_str(dumper: _Dumper, text: str) -> yaml.ScalarNode:
    style = "|" if "\n" in text else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", str(text), style=style)


_Dumper.add_representer(str, _represent_str)
_Dumper.add_representer(Unsafe, lambda d, s: d.represent_scalar("!unsafe", str(s)))
_Dumper.add_representer(Vault, lambda d, s: d.represent_scalar("!vault", str(s), style="|"))


def dump_yaml(data: Any) -> str:
    """YAML text Ansible reads back as the same data (key order kept)."""
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=120, allow_unicode=True)
