"""`copy` and `template` over SSH: compare by sha256 first, then write atomically over SFTP.

The destination is probed with one command (mode, owner, group, sha256). If
all match, the action is `ok` and nothing is written. Otherwise the content
goes to a temp file in the destination's folder, gets its mode and owner, and
is renamed over the destination, so readers never see half a file. Under
`become`, SFTP (which runs as the login user) uploads to a private temp file
in /tmp, which the become user is then let read (given away when the login
user is root, else granted with an ACL), and `sudo -n` installs it the same way.
"""

from __future__ import annotations

import hashlib
import posixpath
import secrets
from dataclasses import dataclass

from orchc.backends.ssh_asyncssh import asyncssh
from orchc.backends.ssh_session import HostLink
from orchc.backends.transport import ActionResult

DEFAULT_MODE = 0o644

# $1: the destination. Prints nothing when it does not exist.
PROBE = 'if [ -f "$1" ]; then stat -c "%a %U %G %u %g" -- "$1" && sha256sum < "$1"; elif [ -e "$1" ]; then echo not-a-file; fi'

# $1: the uploaded temp file (the transport removes it), $2: destination, $3: mode, $4: owner or "".
INSTALL = (
    'set -e; t=$(mktemp "$(dirname -- "$2")/.orchc-XXXXXX"); trap \'rm -f -- "$t"\' EXIT; '
    'cat -- "$1" > "$t"; chmod "$3" "$t"; if [ -n "$4" ]; then chown -- "$4" "$t"; fi; mv -f -- "$t" "$2"'
)


class FileActionError(Exception):
    """The file could not be checked or written; the message says why."""


@dataclass
class RemoteFile:
    mode: int
    user: str
    group: str
    uid: str
    gid: str
    sha256: str

    def owned_by(self, owner: str) -> bool:
        """Whether `owner` ("user", "user:group", names or numbers, as chown takes it) already holds."""
        user, _, group = owner.partition(":")
        return user in (self.user, self.uid) and (not group or group in (self.group, self.gid))


@dataclass
class FileWrite:
    """One file to put on a host: what and where, with the attributes asked for."""

    dest: str
    data: bytes
    mode: str | None
    owner: str | None

    def wanted_mode(self, current: RemoteFile | None) -> int:
        if self.mode is None:
            return current.mode if current else DEFAULT_MODE
        try:
            return int(self.mode, 8)
        except ValueError:
            raise FileActionError(f"mode {self.mode!r} of {self.dest} is not an octal number such as \"0644\"") from None


async def put_file(link: HostLink, file: FileWrite, become_user: str | None, check_mode: bool) -> ActionResult:
    """Make `file.dest` hold `file.data` with its mode and owner; ok if it already did."""
    try:
        current = await _probe(link, file.dest, become_user)
        mode = file.wanted_mode(current)
        differences = _differences(file, current, mode)
        if not differences:
            return ActionResult("ok", message=f"{file.dest} is up to date")
        if not check_mode:
            if become_user is None or become_user == link.login_user:
                await _write_over_sftp(link, file, mode)
            else:
                await _install_with_sudo(link, file, mode, become_user)
    except FileActionError as exc:
        return ActionResult("failed", message=str(exc))
    verb = "would change" if check_mode else "changed"
    return ActionResult("changed", message=f"{verb} {', '.join(differences)} of {file.dest}")


def _differences(file: FileWrite, current: RemoteFile | None, mode: int) -> list[str]:
    if current is None:
        return ["content (new file)"]
    found = []
    if current.sha256 != hashlib.sha256(file.data).hexdigest():
        found.append("content")
    if current.mode != mode:
        found.append(f"mode ({current.mode:o} -> {mode:o})")
    if file.owner and not current.owned_by(file.owner):
        found.append(f"owner ({current.user}:{current.group} -> {file.owner})")
    return found


async def _probe(link: HostLink, dest: str, become_user: str | None) -> RemoteFile | None:
    result = await link.run(["/bin/sh", "-c", PROBE, "probe", dest], become_user)
    if result.rc != 0:
        raise FileActionError(f"cannot inspect {dest}: {_why(result.stderr, result.error)}")
    lines = result.stdout.split("\n")
    if lines[0] == "not-a-file":
        raise FileActionError(f"{dest} exists and is not a regular file")
    if not lines[0]:
        return None
    mode, user, group, uid, gid = lines[0].split()
    return RemoteFile(mode=int(mode, 8), user=user, group=group, uid=uid, gid=gid, sha256=lines[1].split()[0])


async def _write_over_sftp(link: HostLink, file: FileWrite, mode: int) -> None:
    folder, name = posixpath.split(file.dest)
    temp = posixpath.join(folder, f".{name}.orchc-{secrets.token_hex(4)}")
    sftp = await _sftp(link)
    try:
        async with sftp.open(temp, "wb", asyncssh.SFTPAttrs(permissions=0o600)) as out:
            await out.write(file.data)
        await sftp.chmod(temp, mode)
        if file.owner:
            chown = await link.run(["chown", "--", file.owner, temp])
            if chown.rc != 0:
                raise FileActionError(f"cannot set owner {file.owner} of {file.dest}: {_why(chown.stderr, chown.error)}")
        await sftp.posix_rename(temp, file.dest)
    except asyncssh.SFTPNoSuchFile:
        raise FileActionError(f"folder {folder or '.'} does not exist on the host; create it first") from None
    except asyncssh.SFTPPermissionDenied:
        raise FileActionError(
            f"permission denied writing {file.dest} as {link.login_user}; add `become` to the task, or "
            f"ansible_become: true to the host"
        ) from None
    finally:
        try:
            await sftp.remove(temp)
        except asyncssh.SFTPError:
            pass  # renamed away, as it should be


async def _install_with_sudo(link: HostLink, file: FileWrite, mode: int, become_user: str) -> None:
    upload = f"/tmp/.orchc-{secrets.token_hex(8)}"
    sftp = await _sftp(link)
    async with sftp.open(upload, "wb", asyncssh.SFTPAttrs(permissions=0o600)) as out:
        await out.write(file.data)
    install = ["/bin/sh", "-c", INSTALL, "install", upload, file.dest, f"{mode:o}", file.owner or ""]
    try:
        if become_user != "root":
            await _let_read(link, upload, become_user)
        result = await link.run(install, become_user)
    finally:
        try:
            await sftp.remove(upload)
        except asyncssh.SFTPError:
            pass  # the connection is gone: /tmp is cleaned by the host
    if result.rc != 0:
        raise FileActionError(f"cannot write {file.dest} as {become_user}: {_why(result.stderr, result.error)}")


async def _let_read(link: HostLink, upload: str, user: str) -> None:
    """Let `user` read the login user's private upload: give it to `user` (as root), or grant it with an ACL."""
    for argv in (["chown", "--", user, upload], ["setfacl", "-m", f"u:{user}:r", "--", upload]):
        result = await link.run(argv)
        if result.rc == 0:
            return
    raise FileActionError(
        f"cannot let {user} read the file to install ({_why(result.stderr, result.error)}): writing files as "
        f"another user needs the login user {link.login_user} to be root, or setfacl on the host")


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
