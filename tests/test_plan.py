"""The Plan IR: canonical bytes, schema, secret markers."""

import json

from orchc.plan import (
    Instance,
    Plan,
    RunAction,
    SourceSpan,
    Task,
    plan_json_schema,
    redact,
    resolve_secrets,
    secret_marker,
    secret_names,
)


def _plan() -> Plan:
    span = SourceSpan(file="a.orch", line=1, column=1, end_line=1, end_column=5)
    return Plan(
        root="/p",
        hosts=[],
        roles=[],
        secrets=[],
        tasks=[Task(id="a", service=None, name="a", anchor=True, source=span)],
        instances=[
            Instance(id="a", task="a", host=None, actions=[RunAction(command="true")], fingerprint="f", change_key="f")
        ],
        vars={"z": 1, "a": 2},
    )


def test_plan_round_trips_to_identical_bytes():
    text = _plan().to_json()
    assert json.loads(text)["schema"] == "orchc.plan/1"
    assert Plan.from_json(text).to_json() == text


def test_schema_names_every_action_kind():
    schema = json.dumps(plan_json_schema())
    for kind in ("RunAction", "CopyAction", "TemplateAction", "PlaybookAction", "AnsibleModuleAction"):
        assert kind in schema


def test_secret_markers_resolve_quoted_in_shell_and_redact():
    cmd = f"mysql -p{secret_marker('pw', shell_quoted=True)} --x={secret_marker('pw', shell_quoted=False)}"
    assert secret_names(cmd) == {"pw"}
    assert resolve_secrets(cmd, {"pw": "a b"}) == "mysql -p'a b' --x=a b"
    assert redact("token a b here", {"pw": "a b"}) == "token ******** here"
