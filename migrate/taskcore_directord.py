"""Directord jobs (`RUN`, `ADD`, `DNF`, ...) of a Task-Core task -> orchc actions.

Each job becomes zero or more actions (AST nodes); `--run-once` jobs are marked so
that the task can be split into per-host and `once` parts. A job whose
meaning cannot be kept becomes a comment in the task and an `unsupported`
report entry, never a silent drop.
"""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchc.dsl import ast, build
from orchc.dsl.build import Note
from orchc.migrate.report import Category
from orchc.migrate.taskcore_args import Args, runtime_arg_file

# Flags every Directord verb takes, and RUN's own; value-taking ones map to True.
_FLAGS = {
    "--run-once": False,
    "--skip-cache": False,
    "--force-lock": False,
    "--no-block": False,
    "--timeout": True,
    "--stdout-arg": True,
    "--stderr-arg": True,
}
_FILE_FLAGS = {"--blueprint": False, "--chown": True, "--chmod": True}


@dataclass
class Job:
    """One Directord job after translation."""

    verb: str
    lines: list[ast.Action | Note]  # its actions (or a comment when not converted)
    once: bool = False
    timeout: int | None = None
    notes: list[tuple[Category, str, str]] = field(default_factory=list)


@dataclass
class Step:
    """A job's verb, its flags, and the text after them."""

    verb: str
    flags: dict[str, str | bool]
    rest: str
    extra: dict[str, Any]  # other keys of the job (vars, assign, name)


def parse_job(job: dict[str, Any]) -> Step:
    verbs = [k for k in job if isinstance(k, str) and k.isupper()]
    verb = verbs[0] if verbs else "?"
    text = str(job.get(verb, "")).strip()
    flags: dict[str, str | bool] = {}
    known = {**_FLAGS, **(_FILE_FLAGS if verb in ("ADD", "COPY", "WORKDIR") else {})}
    while text.startswith("--"):
        word, _, remainder = text.partition(" ")
        if word not in known:
            break
        if known[word]:
            flag_value, _, remainder = remainder.strip().partition(" ")
            flags[word] = flag_value
        else:
            flags[word] = True
        text = remainder.strip()
    return Step(verb, flags, text, {k: v for k, v in job.items() if k != verb})


class JobTranslator:
    """Translates the jobs of the tasks of one project; collects the files blueprints and copies need."""

    def __init__(self, args: Args, services_dir: Path) -> None:
        self.args = args
        self.services_dir = services_dir
        self.files: dict[str, str] = {}  # output path -> text (blueprints, rewritten)
        self.copies: dict[str, Path] = {}  # output path -> file copied as is

    def translate(self, job: dict[str, Any], hosts: list[str], env: dict[str, str]) -> Job:
        step = parse_job(job)
        out = Job(step.verb, [], once=bool(step.flags.get("--run-once")))
        if isinstance(step.flags.get("--timeout"), str) and str(step.flags["--timeout"]).isdigit():
            out.timeout = int(str(step.flags["--timeout"]))
        handler = getattr(self, f"_{step.verb.lower()}", None)
        if handler is None:
            self._unsupported(out, step, f"Directord verb {step.verb} has no orchc equivalent")
        else:
            handler(step, out, hosts, env)
        if step.extra:
            out.notes.append(
                (
                    "approximated",
                    f"{step.verb} job keys {sorted(step.extra)} not kept",
                    "orchc jobs have no per-job vars/assign/name",
                )
            )
        if step.flags.get("--skip-cache"):
            out.notes.append(
                (
                    "approximated",
                    f"{step.verb} --skip-cache",
                    "orchc skips a succeeded, unchanged instance on a re-run; run with --force to redo it",
                )
            )
        return out

    def _unsupported(self, out: Job, step: Step, why: str) -> None:
        out.lines.append(Note("not converted: " + " ".join(f"{step.verb}: {step.rest}".split())))
        out.notes.append(("unsupported", f"{step.verb} {' '.join(step.rest.split())[:80]}", why))

    def _command(self, command: str, out: Job, step: Step, hosts: list[str], env: dict[str, str]) -> None:
        """A `run` line for a shell command written in Directord's Jinja, if it renders at compile time."""
        prefix = "".join(f"export {name}={shlex.quote(value)}; " for name, value in env.items())
        text = self.args.rewrite(prefix + command, run=True)
        error = self.args.check(text, hosts[0]) if hosts else None
        if error:
            self._unsupported(out, step, error)
            return
        out.lines.append(build.run(text))

    # --- verbs -------------------------------------------------------------------------

    def _run(self, step: Step, out: Job, hosts: list[str], env: dict[str, str]) -> None:
        command = step.rest
        for flag in ("--stdout-arg", "--stderr-arg"):
            name = step.flags.get(flag)
            if isinstance(name, str):
                stream = "" if flag == "--stdout-arg" else "2"
                command = (
                    f"mkdir -p {os.path.dirname(runtime_arg_file(name))} && "
                    f"{{ {command.strip()} ; }} {stream}> {runtime_arg_file(name)}"
                )
                out.notes.append(
                    (
                        "approximated",
                        f"RUN {flag} {name}",
                        f"the output is kept in {runtime_arg_file(name)} on the host, and later "
                        f"commands read it with $(cat ...)",
                    )
                )
        if step.flags.get("--no-block"):
            out.notes.append(("approximated", "RUN --no-block", "orchc waits for the command to end"))
        self._command(command, out, step, hosts, env)

    def _arg(self, step: Step, out: Job, hosts: list[str], env: dict[str, str]) -> None:
        # Values were collected before translating (see taskcore.py); the job itself does nothing.
        out.notes.append(("native", f"ARG {step.rest.split()[0] if step.rest else ''}", "a variable"))

    def _env(self, step: Step, out: Job, hosts: list[str], env: dict[str, str]) -> None:
        name, _, value = step.rest.partition(" ")
        env[name] = " ".join(shlex.split(value))
        out.notes.append(("approximated", f"ENV {name}", "exported for the later commands of the same task only"))

    def _cachefile(self, step: Step, out: Job, hosts: list[str], env: dict[str, str]) -> None:
        out.notes.append(("native", f"CACHEFILE {step.rest}", "its values became variables"))

    def _query(self, step: Step, out: Job, hosts: list[str], env: dict[str, str]) -> None:
        out.notes.append(
            (
                "approximated",
                f"QUERY {step.rest}",
                "the `query` variable holds every node's value, known at compile time",
            )
        )

    def _workdir(self, step: Step, out: Job, hosts: list[str], env: dict[str, str]) -> None:
        path = step.rest
        command = f"mkdir -p {path}"
        if step.flags.get("--chown"):
            command += f" && chown {step.flags['--chown']} {path}"
        if step.flags.get("--chmod"):
            command += f" && chmod {step.flags['--chmod']} {path}"
        self._command(command, out, step, hosts, env)

    def _dnf(self, step: Step, out: Job, hosts: list[str], env: dict[str, str]) -> None:
        words = step.rest.split()
        packages = [w for w in words if not w.startswith("--")]
        excludes = [w.split("=", 1)[1] for w in words if w.startswith("--exclude=")]
        options = "".join(f" --exclude={e}" for e in excludes)
        if "--absent" in words:
            command = f"dnf -y remove {' '.join(packages)}"
        else:
            command = f"dnf -y install{options} {' '.join(packages)}"
            if "--latest" in words:
                command += f" && dnf -y upgrade{options} {' '.join(packages)}"
        self._command(command, out, step, hosts, env)

    def _service(self, step: Step, out: Job, hosts: list[str], env: dict[str, str]) -> None:
        words = step.rest.split()
        units = " ".join(w for w in words if not w.startswith("--"))
        commands = []
        if "--enable" in words:
            commands.append(f"systemctl enable {units}")
        if "--disable" in words:
            commands.append(f"systemctl disable {units}")
        state = next((w for w in ("--restarted", "--stopped", "--reloaded") if w in words), None)
        verb = {"--restarted": "restart", "--stopped": "stop", "--reloaded": "reload"}.get(state or "", "start")
        commands.append(f"systemctl {verb} {units}")
        self._command(" && ".join(commands), out, step, hosts, env)

    def _reboot(self, step: Step, out: Job, hosts: list[str], env: dict[str, str]) -> None:
        out.lines.append(build.ansible("reboot", {}))  # waits for the host to come back, as Directord held its work

    def _add(self, step: Step, out: Job, hosts: list[str], env: dict[str, str]) -> None:
        words = shlex.split(step.rest)
        flags = dict(step.flags)
        positional: list[str] = []
        while words:
            word = words.pop(0)
            if word in _FILE_FLAGS:
                flags[word] = words.pop(0) if _FILE_FLAGS[word] and words else True
            else:
                positional.append(word)
        if len(positional) != 2:
            self._unsupported(out, step, "orchc copies one file to one destination")
            return
        source, dest = positional
        local = (self.services_dir / source).resolve()
        if not local.is_file():
            self._unsupported(out, step, f"source '{source}' is not a file beside the services")
            return
        blueprint = bool(flags.get("--blueprint"))
        relative = Path(os.path.relpath(local, self.services_dir.resolve()))
        outside = relative.parts[0] == ".."
        target = (
            ("files/external/" + "/".join(p for p in relative.parts if p != "..")) if outside else relative.as_posix()
        )
        if blueprint:
            text = self.args.rewrite(local.read_text(encoding="utf-8"), run=False)
            error = self.args.check(text, hosts[0]) if hosts else None
            if error:
                self._unsupported(out, step, f"the blueprint: {error}")
                return
            self.files[target] = text
        else:
            self.copies[target] = local
        dest_text = self.args.rewrite(dest, run=False)
        mode = str(flags["--chmod"]) if flags.get("--chmod") else None
        owner = str(flags["--chown"]) if flags.get("--chown") else None
        out.lines.append(build.copy(target, dest_text, mode, owner, template=blueprint))

    _copy = _add
