"""A real PostgreSQL server on 127.0.0.1 for tests and benchmarks (pytest plugin `postgres`).

The cluster lives in a temp dir (`initdb`, `pg_ctl` from Debian's `postgresql`
package). PostgreSQL refuses to run as root, and the tests run as root: then
the server runs as `nobody`, in a folder `nobody` owns — directly under the
system's temp dir, since pytest keeps its own temp dirs private to root.
Authentication is `trust` on the loopback address only.

Fixtures:

- `postgres` (session): the shared `PostgresServer`; `postgres.new_database()`
  creates an empty database and returns its URL, one per test.
- `make_postgres` (function): a factory of private servers, for tests that
  restart or kill them.

Outside pytest (benchmarks): put `tests/` on `sys.path`, `import postgres`, then
`server = postgres.PostgresServer.start(folder)` ... `server.stop()`.
"""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from sshd import _free_port

BINARIES = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
RUN_AS = "nobody"


def _bin_dir() -> Path | None:
    return Path(BINARIES[-1]) if BINARIES else None


def _as_server_user(argv: list[str]) -> list[str]:
    return ["runuser", "-u", RUN_AS, "--", *argv] if os.geteuid() == 0 else argv


@dataclass
class PostgresServer:
    folder: Path
    port: int
    _databases: Iterator[int] = field(default_factory=itertools.count)

    @classmethod
    def start(cls, folder: Path) -> PostgresServer:
        bin_dir = _bin_dir()
        if bin_dir is None:
            raise FileNotFoundError("no PostgreSQL binaries under /usr/lib/postgresql/*/bin")
        folder.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            user = pwd.getpwnam(RUN_AS)
            os.chown(folder, user.pw_uid, user.pw_gid)
        data = folder / "data"
        subprocess.run(
            _as_server_user([str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust", "-E", "UTF8"]),
            check=True,
            capture_output=True,
        )
        server = cls(folder, _free_port())
        server.resume()
        return server

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def resume(self) -> None:
        """Start (or start again) the server on its port."""
        bin_dir = _bin_dir()
        assert bin_dir is not None
        options = f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.folder} -c fsync=off"
        subprocess.run(
            _as_server_user(
                [str(bin_dir / "pg_ctl"), "-D", str(self.folder / "data"), "-l", str(self.folder / "log"), "-w"]
                + ["-o", options, "start"]
            ),
            check=True,
            capture_output=True,
        )

    def stop(self, mode: str = "fast") -> None:
        bin_dir = _bin_dir()
        assert bin_dir is not None
        subprocess.run(
            _as_server_user([str(bin_dir / "pg_ctl"), "-D", str(self.folder / "data"), "-m", mode, "-w", "stop"]),
            check=False,
            capture_output=True,
        )

    def new_database(self) -> str:
        """An empty database of its own: its URL."""
        import psycopg

        name = f"orchc_{next(self._databases)}"
        with psycopg.connect(self.url, autocommit=True) as db:
            db.execute(f"CREATE DATABASE {name}")
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"


def _skip_without_binaries() -> None:
    if _bin_dir() is None:
        pytest.skip("PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb): .ci/run installs it")


def _folder() -> Path:
    return Path(tempfile.mkdtemp(prefix="orchc-postgres-"))


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    _skip_without_binaries()
    server = PostgresServer.start(_folder())
    yield server
    server.stop("immediate")
    shutil.rmtree(server.folder, ignore_errors=True)


@pytest.fixture
def make_postgres() -> Iterator[Callable[[], PostgresServer]]:
    _skip_without_binaries()
    servers: list[PostgresServer] = []

    def make() -> PostgresServer:
        servers.append(PostgresServer.start(_folder()))
        return servers[-1]

    yield make
    for server in servers:
        server.stop("immediate")
        shutil.rmtree(server.folder, ignore_errors=True)
