"""orchc's remote agent: runs every command of a run on one host, over one SSH channel.

This file is not imported by orchc. Its source is sent to the target and run
there by `python3 -u -c BOOTSTRAP` (see `backends/ssh_session.py`). It must
stay a single stdlib-only module that runs on Python 3.6 and later, written in
ASCII only (the bootstrap reads it by character count).

Protocol: JSON, one object per line. Requests arrive on stdin:

    {"op": "run", "id": 7, "argv": ["/bin/sh", "-c", "echo hi"],
     "env": {"K": "V"}, "cwd": null, "timeout": 30.0}
    {"op": "kill", "id": 7}

Replies go to stdout; the first line is {"ready": true, "protocol": 1}. Then,
for each command, any number of output chunks and exactly one end:

    {"id": 7, "stream": "stdout", "data": "hi\\n"}
    {"id": 7, "exit": 0, "signal": null, "timed_out": false, "killed": false}
    {"id": 7, "error": "No such file or directory: '/nope'"}   (could not start)

Commands run concurrently, each in a process group of its own, so that a
timeout or a kill stops everything the command started. When stdin closes
(the controller went away, or the connection broke) every running command is
killed and the agent exits.
"""

import codecs
import json
import os
import signal
import subprocess
import sys
import threading

PROTOCOL = 1
KILL_GRACE = 2.0  # seconds between SIGTERM and SIGKILL

_output_lock = threading.Lock()
_running: "dict[int, subprocess.Popen[bytes]]" = {}  # command id -> its process (a string: Python 3.6 reads it)
_killed: "set[int]" = set()  # ids of commands stopped by a kill request
_running_lock = threading.Lock()


def send(message):
    line = json.dumps(message, separators=(",", ":")) + "\n"
    with _output_lock:
        sys.stdout.write(line)
        sys.stdout.flush()


def stream_output(command_id, stream, pipe):
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    while True:
        chunk = os.read(pipe.fileno(), 65536)
        text = decoder.decode(chunk, final=not chunk)
        if text:
            send({"id": command_id, "stream": stream, "data": text})
        if not chunk:
            break
    pipe.close()


def kill_group(process):
    """SIGTERM the command's process group, then SIGKILL it if it is still there."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
        except OSError:
            return
        try:
            process.wait(timeout=KILL_GRACE)
            if sig == signal.SIGTERM:
                # The leader is gone; make sure nothing it started stays behind.
                os.killpg(process.pid, signal.SIGKILL)
            return
        except subprocess.TimeoutExpired:
            continue
        except OSError:
            return


def run(request):
    command_id = request["id"]
    env = dict(os.environ)
    env.update(request.get("env") or {})
    try:
        process = subprocess.Popen(
            request["argv"],
            cwd=request.get("cwd") or None,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
    except OSError as exc:
        send({"id": command_id, "error": str(exc)})
        return
    with _running_lock:
        _running[command_id] = process
        kill_requested = command_id in _killed
    if kill_requested:
        kill_group(process)
    readers = [
        threading.Thread(target=stream_output, args=(command_id, "stdout", process.stdout)),
        threading.Thread(target=stream_output, args=(command_id, "stderr", process.stderr)),
    ]
    for reader in readers:
        reader.start()
    timed_out = False
    try:
        process.wait(timeout=request.get("timeout"))
    except subprocess.TimeoutExpired:
        timed_out = True
        kill_group(process)
    for reader in readers:
        reader.join()
    with _running_lock:
        del _running[command_id]
        killed = command_id in _killed
        _killed.discard(command_id)
    rc = process.returncode
    send(
        {
            "id": command_id,
            "exit": rc if rc >= 0 else None,
            "signal": -rc if rc < 0 else None,
            "timed_out": timed_out,
            "killed": killed,
        }
    )


def kill(request):
    with _running_lock:
        process = _running.get(request["id"])
        _killed.add(request["id"])  # also stops a command whose process is not started yet
    if process is not None:
        kill_group(process)


def main():
    send({"ready": True, "protocol": PROTOCOL})
    for line in sys.stdin:
        request = json.loads(line)
        handler = run if request["op"] == "run" else kill
        threading.Thread(target=handler, args=(request,), daemon=True).start()
    with _running_lock:
        left = list(_running.values())
    for process in left:
        kill_group(process)


if __name__ == "__main__":
    main()
