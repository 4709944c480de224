"""TripleO's step machinery: which `role_data` section runs when, as ordered phases of work units.

TripleO ran a deployment as a fixed sequence of plays (common/deploy-steps.j2):
external step 0, deploy step 0, host prep, pre-deploy step tasks, then for
each step 1..5 the external tasks of that step (on the undercloud), the
`deploy_steps_tasks` of that step, the host's puppet run (the `step_config`
of the role's services that have no containers), at step 1 the puppet config generation,
the `docker_config` containers of that step in `start_order`, and the
`container_puppet_tasks` of that step on the bootstrap host; finally the
external post-deploy tasks. A `Phase` is one slot of that sequence; a `Unit`
is one service's work in one phase, written later as one playbook.

Ansible task lists are split per step the way tripleo-common's splitter did:
a top-level task whose flattened `when` matches `step|int == N` belongs to
step N only; a task with no step condition belongs to every step. The task
keeps its whole `when` (the play sets `step`), so Ansible decides as before.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

DEPLOY_STEPS = range(0, 6)  # deploy_steps_tasks / external_deploy_tasks steps 0..5 (deploy_steps_max = 6)
LIFECYCLE_STEPS = range(0, 6)  # update_tasks / upgrade_tasks steps 0..5
POST_DEPLOY_STEP = 6  # after step 5

_STEP_CONDITION = re.compile(r"\(?step(?:\|int)?\)?==(\d+)")


@dataclass(frozen=True, order=True)
class Phase:
    key: tuple[int, ...]  # position in TripleO's sequence
    name: str  # the anchor (faithful mode) and task name
    step: int  # the TripleO step it belongs to: 0 before step 1, 6 after step 5


def external_phase(step: int) -> Phase:
    return Phase((step, 0), f"step{step}_external", step)


def tasks_phase(step: int) -> Phase:
    return Phase((step, 1), f"step{step}_tasks", step)


def host_puppet_phase(step: int) -> Phase:
    return Phase((step, 1, 1), f"step{step}_host_puppet", step)


HOST_PREP = Phase((0, 2), "host_prep", 0)
CONTAINER_SETUP = Phase((0, 2, 1), "container_setup", 0)  # kolla config and container definitions
PRE_DEPLOY = Phase((0, 3), "pre_deploy", 0)
PUPPET_CONFIG = Phase((1, 2), "step1_config", 1)


def containers_phase(step: int, start_order: int) -> Phase:
    return Phase((step, 3, start_order), f"step{step}_containers_{start_order}".replace("-", "m"), step)


def container_puppet_phase(step: int) -> Phase:
    return Phase((step, 4), f"step{step}_container_puppet", step)


EXTERNAL_POST_DEPLOY = Phase((POST_DEPLOY_STEP, 0), "external_post_deploy", POST_DEPLOY_STEP)


@dataclass
class Unit:
    """One service's work in one phase: one orchc task running one playbook."""

    phase: Phase
    play: dict[str, Any]  # the Ansible play to write
    source: str  # file:line of the section it came from
    external: bool = False  # runs on the undercloud (DEPLOY_SOURCE_HOST)
    once: bool = False  # on the service's bootstrap host only
    step_var: int | None = None  # the `step` the play runs with


def task_steps(task: Any) -> set[int] | None:
    """The steps a top-level task is gated to, or None for a task with no step condition (every step)."""
    condition = task.get("when") if isinstance(task, dict) else None
    if condition is None:
        return None
    parts = condition if isinstance(condition, list) else [condition]
    flat = "".join(re.sub(r"\s+", "", part) for part in parts if isinstance(part, str))
    found = _STEP_CONDITION.findall(flat)
    return {int(n) for n in found} if found else None


def tasks_for_step(tasks: list[Any], step: int) -> list[Any]:
    """The tasks tripleo-common wrote into the file for `step`, in their order."""
    return [t for t in tasks if (steps := task_steps(t)) is None or step in steps]


def play(name: str, tasks: list[Any], become: bool) -> dict[str, Any]:
    """A play like TripleO's: all hosts (orchc limits it to the task's hosts), no facts, fail as one."""
    return {
        "name": name,
        "hosts": "all",
        "gather_facts": False,
        "any_errors_fatal": True,
        "become": become,
        "tasks": tasks,
    }


def host_puppet_tasks(manifest: str) -> list[dict[str, Any]]:
    """TripleO's per-step host puppet run (common/deploy-steps-tasks.yaml), over the role's manifest."""
    manifest_path = "/var/lib/tripleo-config/puppet_step_config.pp"
    return [
        {
            "name": "Write the config_step hieradata",
            "copy": {
                "content": "{{ dict(step=step|int) | to_json }}",
                "dest": "/etc/puppet/hieradata/config_step.json",
                "force": True,
                "mode": "0600",
            },
            "no_log": True,
        },
        {
            "name": "Write the puppet step_config manifest",
            "copy": {"content": manifest, "dest": manifest_path, "force": True, "mode": "0600"},
            "no_log": True,
        },
        {
            "name": "Run puppet host configuration for step {{ step }}",
            "when": "enable_puppet|bool",
            "shell": "set -o pipefail; puppet apply "
            "--modulepath=/etc/puppet/modules:/opt/stack/puppet-modules:/usr/share/openstack-puppet/modules "
            f"--detailed-exitcodes --summarize --color=false {manifest_path} 2>&1 | logger -s -t puppet-user",
            "register": "puppet_host_outputs",
            "failed_when": "puppet_host_outputs.rc not in [0, 2]",
        },
    ]
