"""A host's files over SSH: the `stat` and `put` primitives of its `HostLink`.

A path is probed with one command (mode, owner, group, sha256, or why there is
no file to compare). Content is written over SFTP to a temp file in the
destination's folder, which gets its mode and owner and is renamed over the
destination. As another user (`become`), SFTP (which runs as the login user)
uploads to a private temp file in /tmp, which that user is then let read
(given away when the login user is root, else granted with an ACL), and
`sudo -n` installs it the same way.
"""

from __future__ import annotations

import posixpath
import secrets
from typing import TYPE_CHECKING

from orchc.backends.connector import (
    Command,
    FileActionError,
    FileState,
    Found,
    as_user,
    missing_folder,
    permission_denied,
)
from orchc.backends.ssh_asyncssh import asyncssh

if TYPE_CHECKING:  # ssh_session imports this module for HostLink's primitives
    from orchc.backends.ssh_session import HostLink

# $1: the destination. Prints its attributes and sha256, or why there is none.
PROBE = (
    'if [ -f "$1" ]; then stat -c "%a %U %G %u %g" -- "$1" && sha256sum < "$1"; '
    'elif [ -e "$1" ]; then echo not-a-file; '
    'elif [ -d "$(dirname -- "$1")" ]; then echo absent; else echo no-folder; fi'
)
_NO_FILE: dict[str, Found] = {"absent": "absent", "no-folder": "no folder", "not-a-file": "not a file"}

# $1: the uploaded temp file (the transport removes it), $2: destination, $3: mode, $4: owner or "".
INSTALL = (
    'set -e; t=$(mktemp "$(dirname -- "$2")/.orchc-XXXXXX"); trap \'rm -f -- "$t"\' EXIT; '
    'cat -- "$1" > "$t"; chmod "$3" "$t"; if [ -n "$4" ]; then chown -- "$4" "$t"; fi; mv -f -- "$t" "$2"'
)


async def probe(link: HostLink, path: str, user: str | None) -> Found:
    result = await link.run(as_user(["/bin/sh", "-c", PROBE, "probe", path], {}, user))
    if result.rc != 0:
        raise FileActionError(f"cannot inspect {path}: {_why(result.stderr, result.error)}")
    lines = result.stdout.split("\n")
    if lines[0] in _NO_FILE:
        return _NO_FILE[lines[0]]
    mode, owner, group, uid, gid = lines[0].split()
    return FileState(mode=int(mode, 8), user=owner, group=group, uid=uid, gid=gid, sha256=lines[1].split()[0])


async def put(link: HostLink, path: str, data: bytes, mode: int, owner: str | None, user: str | None) -> None:
    if user is None:
        await _write_over_sftp(link, path, data, mode, owner)
    else:
        await _install_with_sudo(link, path, data, mode, owner, user)


async def _write_over_sftp(link: HostLink, path: str, data: bytes, mode: int, owner: str | None) -> None:
    folder, name = posixpath.split(path)
    temp = posixpath.join(folder, f".{name}.orchc-{secrets.token_hex(4)}")
    sftp = await _sftp(link)
    try:
        async with sftp.open(temp, "wb", asyncssh.SFTPAttrs(permissions=0o600)) as out:
            await out.write(data)
        await sftp.chmod(temp, mode)
        if owner:
            chown = await link.run(Command(["chown", "--", owner, temp]))
            if chown.rc != 0:
                raise FileActionError(f"cannot set owner {owner} of {path}: {_why(chown.stderr, chown.error)}")
        await sftp.posix_rename(temp, path)
    except asyncssh.SFTPNoSuchFile:  # removed since the probe
        raise missing_folder(path) from None
    except asyncssh.SFTPPermissionDenied:
        raise permission_denied(path, link.login_user) from None
    finally:
        try:
            await sftp.remove(temp)
        except asyncssh.SFTPError:
            pass  # renamed away, as it should be


async def _install_with_sudo(link: HostLink, path: str, data: bytes, mode: int, owner: str | None, user: str) -> None:
    upload = f"/tmp/.orchc-{secrets.token_hex(8)}"
    sftp = await _sftp(link)
    async with sftp.open(upload, "wb", asyncssh.SFTPAttrs(permissions=0o600)) as out:
        await out.write(data)
    install = ["/bin/sh", "-c", INSTALL, "install", upload, path, f"{mode:o}", owner or ""]
    try:
        if user != "root":
            await _let_read(link, upload, user)
        result = await link.run(as_user(install, {}, user))
    finally:
        try:
            await sftp.remove(upload)
        except asyncssh.SFTPError:
            pass  # the connection is gone: /tmp is cleaned by the host
    if result.rc != 0:
        raise FileActionError(f"cannot write {path} as {user}: {_why(result.stderr, result.error)}")


async def _let_read(link: HostLink, upload: str, user: str) -> None:
    """Let `user` read the login user's private upload: give it to `user` (as root), or grant it with an ACL."""
    for argv in (["chown", "--", user, upload], ["setfacl", "-m", f"u:{user}:r", "--", upload]):
        result = await link.run(Command(argv))
        if result.rc == 0:
            return
    raise FileActionError(
        f"cannot let {user} read the file to install ({_why(result.stderr, result.error)}): writing files as "
        f"another user needs the login user {link.login_user} to be root, or setfacl on the host"
    )


async def _sftp(link: HostLink) -> asyncssh.SFTPClient:
    try:
        return await link.sftp()
    except asyncssh.ChannelOpenError:
        if link.closed:
            raise  # the connection is gone: the transport reports that
        raise FileActionError(
            "the SSH server refused the SFTP subsystem, which copy and template need "
            "(sshd_config: Subsystem sftp internal-sftp)"
        ) from None


def _why(stderr: str, error: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    return lines[-1] if lines else error or "no error message"
