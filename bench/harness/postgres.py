"""A throw-away PostgreSQL cluster for the tests and the benchmarks: ``initdb`` in a temp dir, the server on a free
127.0.0.1 port, a fresh database per user of it, everything removed at the end. initdb refuses to run as root, so as
root the server runs as the ``postgres`` system user (the Debian package creates it) on a directory owned by it.
The binaries come from scripts/install-postgres.sh (``make test`` runs it)."""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

from bench.harness.machine import LOCALHOST
from bench.harness.topology import free_port

SERVER_USER = "postgres"


class PostgresUnavailable(RuntimeError):
    """The server binaries are not installed, or there is no unprivileged user to run them as."""


def bin_dir() -> Path:
    """The directory of initdb and pg_ctl: Debian's newest /usr/lib/postgresql/<major>/bin, else the PATH's."""
    for found in sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name), reverse=True):
        if os.access(Path(found) / "initdb", os.X_OK) and os.access(Path(found) / "pg_ctl", os.X_OK):
            return Path(found)
    initdb = shutil.which("initdb")
    if initdb and shutil.which("pg_ctl"):
        return Path(initdb).resolve().parent
    raise PostgresUnavailable("no initdb/pg_ctl: run scripts/install-postgres.sh (make test does)")


class Cluster:
    """One running server; ``database()`` creates a database of its own and answers its URL."""

    def __init__(self, root: Path, port: int, bindir: Path, as_user: str | None) -> None:
        self.root, self.port, self.bindir, self.as_user = root, port, bindir, as_user
        self.data = root / "data"

    def _run(self, *argv: str, timeout: float = 60) -> None:
        prefix = ["runuser", "-u", self.as_user, "--"] if self.as_user else []
        done = subprocess.run(
            [*prefix, *argv], capture_output=True, text=True, timeout=timeout, check=False, cwd=self.root
        )
        if done.returncode != 0:
            raise RuntimeError(f"{Path(argv[0]).name} failed ({done.returncode}): {done.stderr.strip()[-800:]}")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{SERVER_USER}@{LOCALHOST}:{self.port}/{database}"

    def start(self, settings: dict[str, str]) -> None:
        self._run(
            str(self.bindir / "initdb"),
            "-D",
            str(self.data),
            "-U",
            SERVER_USER,
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        )
        self._options = " ".join(
            f"-c {k}={v}"
            for k, v in {
                "listen_addresses": LOCALHOST,
                "port": str(self.port),
                "unix_socket_directories": str(self.root),
                **settings,
            }.items()
        )
        self.restart()

    def restart(self) -> None:
        """Start the server (again, after ``stop``) on the same port and data."""
        log = str(self.root / "server.log")
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-l", log, "-o", self._options, "-w", "start")

    def stop(self) -> None:
        with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
            self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def database(self) -> str:
        """A new, empty database; its URL."""
        name = "t_" + uuid.uuid4().hex[:12]
        self._run(str(self.bindir / "createdb"), "-h", LOCALHOST, "-p", str(self.port), "-U", SERVER_USER, name)
        return self.url(name)


# the tests' server trades durability for speed (a crash of a test server loses nothing anyone keeps)
TEST_SETTINGS = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off", "shared_buffers": "32MB"}
# the benchmarks and the crash tests keep PostgreSQL's durable defaults (a commit waits for its WAL flush)
DURABLE_SETTINGS = {"shared_buffers": "64MB"}


@contextlib.contextmanager
def cluster(settings: dict[str, str] | None = None) -> Iterator[Cluster]:
    """A running throw-away cluster, stopped and removed on exit."""
    bindir = bin_dir()
    as_user: str | None = None
    if os.geteuid() == 0:
        try:
            pw = pwd.getpwnam(SERVER_USER)
        except KeyError:
            raise PostgresUnavailable(f"running as root and no {SERVER_USER!r} user to run the server as") from None
        as_user = SERVER_USER
    root = Path(tempfile.mkdtemp(prefix="swarm-pg-"))
    try:
        if as_user:
            os.chown(root, pw.pw_uid, pw.pw_gid)
        c = Cluster(root, free_port(), bindir, as_user)
        c.start(TEST_SETTINGS if settings is None else settings)
        try:
            yield c
        finally:
            c.stop()
    finally:
        shutil.rmtree(root, ignore_errors=True)
