"""Plans from a compact description, for the engine's tests (no compiler needed).

    plan = make_plan('''
        db.install@h1
        db.start@h1: db.install@h1
        web.up@h2: db.start@h1
        ready: web.up@h2
    ''', roles={"db": (["h1"], 0), "web": (["h2"], 1)})

Each line is `INSTANCE[: DEP ...]`; `svc.task@host` runs `commands.get(id, "true")`,
an id without `@host` is an anchor. Hosts are local; roles default to one per host.
"""

from __future__ import annotations

from pathlib import Path

from orchc.plan import Host, Instance, Placement, Plan, Role, RunAction, SourceSpan, Task

SPAN = SourceSpan(file="test.orch", line=1, column=1, end_line=1, end_column=2)


def make_plan(
    text: str,
    *,
    roles: dict[str, tuple[list[str], int]] | None = None,
    commands: dict[str, str] | None = None,
    concurrency: dict[str, int] | None = None,
    any_of: dict[str, list[list[str]]] | None = None,
    alternates: dict[str, list[str]] | None = None,
    retries: dict[str, tuple[int, float]] | None = None,
    timeout: dict[str, float] | None = None,
    skip: dict[str, str] | None = None,
    root: Path | str = "/tmp",
    change_keys: dict[str, str] | None = None,
) -> Plan:
    commands = commands or {}
    instances: list[Instance] = []
    tasks: dict[str, Task] = {}
    hosts: list[str] = []
    for line in (ln.strip() for ln in text.strip().splitlines()):
        if not line:
            continue
        head, _, tail = line.partition(":")
        iid = head.strip()
        task_id, _, host = iid.partition("@")
        anchor = not host
        if host and host not in hosts:
            hosts.append(host)
        for alt in (alternates or {}).get(iid, []):
            if alt not in hosts:
                hosts.append(alt)
        if task_id not in tasks:
            service, _, name = task_id.rpartition(".")
            retry = (retries or {}).get(task_id, (0, 0.0))
            tasks[task_id] = Task(
                id=task_id,
                service=service or None,
                name=name,
                anchor=anchor,
                once=bool((alternates or {}).get(iid)),
                concurrency=(concurrency or {}).get(task_id),
                retries=retry[0],
                delay=retry[1],
                timeout=(timeout or {}).get(task_id),
                source=SPAN,
            )
        actions = [] if anchor else [RunAction(command=commands.get(iid, "true"))]
        key = (change_keys or {}).get(iid, f"key-{iid}")
        instances.append(
            Instance(
                id=iid,
                task=task_id,
                host=host or None,
                deps=tail.split(),
                actions=actions,
                any_of=(any_of or {}).get(iid, []),
                fingerprint=f"fp-{iid}",
                change_key=key,
                skip=(skip or {}).get(iid),
                alternates=[
                    Placement(
                        host=alt,
                        actions=[RunAction(command=commands.get(f"{task_id}@{alt}", "true"))],
                        fingerprint=f"fp-{task_id}@{alt}",
                    )
                    for alt in (alternates or {}).get(iid, [])
                ],
            )
        )
    role_map = roles if roles is not None else {h: ([h], 0) for h in hosts}
    return Plan(
        root=str(root),
        hosts=[Host(name=h, address="127.0.0.1", connection="local") for h in hosts],
        roles=[
            Role(name=name, hosts=members, services=[], tolerate=tol, tolerate_spec=str(tol))
            for name, (members, tol) in role_map.items()
        ],
        tasks=list(tasks.values()),
        instances=instances,
    )
