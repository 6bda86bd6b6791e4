"""A throwaway PostgreSQL server for the tests: Debian's ``postgresql`` package, a cluster made
with ``initdb`` in a temporary folder and started on a free loopback port.

PostgreSQL refuses to run as root, so when the tests run as root (CI) the cluster belongs to
Debian's ``postgres`` system user (created by the package) and its programs are run through
``runuser``. Durability is off (``fsync=off``): the cluster is deleted at the end of the run,
and a clean restart (what the outage tests do) loses nothing anyway.

Used by the ``postgres_server`` fixture (tests/conftest.py) and the scale-out reliability tests.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

SUPERUSER = "kiosk_test"
CLUSTER_USER = "postgres"  # Debian's package creates it; used only when the tests run as root
MISSING_REASON = (
    "PostgreSQL's server programs are not installed (Debian's `postgresql` package: scripts/system-deps.sh "
    "installs it)"
)


def find_bindir() -> Path | None:
    """The newest ``/usr/lib/postgresql/N/bin`` with initdb, pg_ctl and postgres, else PATH's."""
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(re.sub(r"\D", "", p) or 0))
    for folder in reversed(candidates):
        if all(os.access(Path(folder) / name, os.X_OK) for name in ("initdb", "pg_ctl", "postgres")):
            return Path(folder)
    initdb = shutil.which("initdb")
    if initdb and shutil.which("pg_ctl") and shutil.which("postgres"):
        return Path(initdb).resolve().parent
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PostgresServer:
    def __init__(self, bindir: Path, root: Path | None = None) -> None:
        self.bindir = bindir
        self.port = _free_port()
        self.as_root = os.geteuid() == 0
        if self.as_root:
            try:
                self._owner = pwd.getpwnam(CLUSTER_USER)
            except KeyError as err:
                raise RuntimeError(
                    f"running as root, PostgreSQL needs a non-root user to own its cluster: no {CLUSTER_USER!r} user "
                    "(Debian's postgresql package creates it)"
                ) from err
        # Not under pytest's private (0700) temp folders: the cluster's owner must be able to enter it.
        self.root = Path(root or tempfile.mkdtemp(prefix="kiosk-pg-"))
        self.root.chmod(0o755)
        if self.as_root and not self._owner_can_enter(self.root):
            self.root.rmdir()
            self.root = Path(tempfile.mkdtemp(prefix="kiosk-pg-", dir="/tmp"))
            self.root.chmod(0o755)
        self.data = self.root / "data"
        self.sockets = self.root / "sockets"
        self.log = self.root / "server.log"
        self.sockets.mkdir(exist_ok=True)
        if self.as_root:
            for path in (self.root, self.sockets):
                os.chown(path, self._owner.pw_uid, self._owner.pw_gid)
        self._admin = None

    @staticmethod
    def _owner_can_enter(folder: Path) -> bool:
        check = subprocess.run(["runuser", "-u", CLUSTER_USER, "--", "test", "-x", str(folder)], capture_output=True)
        return check.returncode == 0

    # ------------------------------------------------------------------ running its programs

    def _run(self, program: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        command = [str(self.bindir / program), *args]
        if self.as_root:
            command = ["runuser", "-u", CLUSTER_USER, "--", *command]
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=self.root,
                                env={**os.environ, "LC_ALL": "C.UTF-8", "TZ": "UTC"})
        if result.returncode != 0:
            raise RuntimeError(f"{program} {' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n"
                               f"{result.stderr}\n{self.log_tail()}")
        return result

    def log_tail(self, chars: int = 3000) -> str:
        with contextlib.suppress(OSError):
            return self.log.read_text(errors="replace")[-chars:]
        return ""

    def init(self) -> PostgresServer:
        self._run("initdb", "-D", str(self.data), "-U", SUPERUSER, "--auth=trust", "-E", "UTF8", "--no-locale",
                  "--no-sync")
        return self

    def start(self, timeout_s: float = 60) -> PostgresServer:
        options = " ".join([
            f"-p {self.port}", "-c listen_addresses=127.0.0.1", f"-c unix_socket_directories={self.sockets}",
            "-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off", "-c max_connections=200",
            "-c timezone=Europe/Paris",  # not UTC on purpose: the kiosk must not depend on the server's zone
        ])
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "-t", str(int(timeout_s)),
                  "start", timeout=timeout_s + 30)
        return self

    def stop(self, mode: str = "fast") -> None:
        self.close_admin()
        if (self.data / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def is_running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def destroy(self) -> None:
        with contextlib.suppress(Exception):
            self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)

    # ------------------------------------------------------------------ databases

    def url(self, database: str, driver: str = "postgresql+psycopg") -> str:
        return f"{driver}://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def _admin_connection(self):
        import psycopg

        if self._admin is None or self._admin.closed:
            self._admin = psycopg.connect(host="127.0.0.1", port=self.port, user=SUPERUSER, dbname="postgres",
                                          autocommit=True, connect_timeout=10)
        return self._admin

    def close_admin(self) -> None:
        if self._admin is not None:
            with contextlib.suppress(Exception):
                self._admin.close()
            self._admin = None

    def execute(self, sql: str) -> None:
        self._admin_connection().execute(sql)

    def create_database(self, name: str, template: str | None = None) -> str:
        """A new database (a copy of ``template`` when given); returns its SQLAlchemy URL."""
        suffix = f' TEMPLATE "{template}" STRATEGY FILE_COPY' if template else ""
        self.execute(f'CREATE DATABASE "{name}"{suffix}')
        return self.url(name)

    def drop_database(self, name: str) -> None:
        self.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def wait_ready(self, timeout_s: float = 30) -> None:
        import psycopg

        deadline = time.monotonic() + timeout_s
        while True:
            try:
                psycopg.connect(host="127.0.0.1", port=self.port, user=SUPERUSER, dbname="postgres",
                                connect_timeout=2).close()
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)


def start_throwaway_server() -> PostgresServer:
    """Make and start a cluster; raises LookupError(MISSING_REASON) when PostgreSQL is not installed."""
    bindir = find_bindir()
    if bindir is None:
        raise LookupError(MISSING_REASON)
    server = PostgresServer(bindir)
    try:
        server.init().start()
    except BaseException:
        server.destroy()
        raise
    return server
