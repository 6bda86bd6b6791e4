"""One lock per site-wide concern: ``with site_lock(name) as held: ...``.

A site is one data dir (the processes of one host) and, on PostgreSQL, one database (every app
host on it). :func:`site_lock` holds, in this order:

1. a thread lock, for the threads of this process;
2. an ``flock`` on a file in the data dir, for the processes of this host (the kernel releases it
   when the holder dies, whatever kills it);
3. on PostgreSQL, for the locks that have a key, a transaction-level advisory lock, for every app
   host on the database (the server releases it when the holder's connection goes).

The files and keys of :data:`SITE_LOCKS` are what running hosts use to agree: a host of this code
and a host of the code before it must find the same ones, so they never change. Session-level and
transaction-level advisory locks on one key exclude each other, so either kind agrees.
"""

from __future__ import annotations

import fcntl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO, Callable

from sqlalchemy import text

from .. import storage
from ..extensions import db
from .database import is_postgresql

POLL_S = 0.05  # how often a lock with a timeout is tried again


@dataclass(frozen=True)
class SiteLockPlace:
    file: str  # relative to the data dir
    key: int | None = None  # its PostgreSQL advisory lock; None: the processes of one host only


SITE_LOCKS = {
    # Recording a check-in on SQLite (on PostgreSQL the person's row is locked instead).
    "attendance": SiteLockPlace(".attendance.lock"),
    # Changes to the saved face model.
    "face_model": SiteLockPlace(".face-model.lock", 0x1EA4ED16),
    # One bulk import at a time: two would race for the same people and photos ("kiosk" in the key).
    "import": SiteLockPlace("imports/import.lock", 0x6B696F736B17),
    # Claiming webhook deliveries on SQLite (on PostgreSQL: SELECT ... FOR UPDATE SKIP LOCKED).
    "webhooks": SiteLockPlace(".webhooks.lock"),
    # The background jobs' record, kept per host in its data dir.
    "jobs": SiteLockPlace("jobs/training.lock"),
}

_thread_locks: dict[str, threading.Lock] = {}
_thread_locks_guard = threading.Lock()


@contextmanager
def site_lock(name: str, timeout_s: float | None = None) -> Iterator[bool]:
    """Hold the site's lock ``name`` (a key of :data:`SITE_LOCKS`); yields True once held.

    Without ``timeout_s`` it waits as long as it takes. With one, it yields False when the lock
    could not be had within that many seconds (0: one try), and the caller goes on without it."""
    place = SITE_LOCKS[name]
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    path = storage.data_dir() / place.file
    path.parent.mkdir(parents=True, exist_ok=True)
    thread_lock = _thread_lock(str(path))
    if not thread_lock.acquire(timeout=_seconds_left(deadline)):
        yield False
        return
    try:
        with open(path, "a+b") as handle:
            if not _flock(handle, deadline):
                yield False
                return
            try:
                if place.key is None or not is_postgresql():
                    yield True
                    return
                with db.engine.connect() as connection, connection.begin():
                    yield _advisory_lock(connection, place.key, deadline)
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
    finally:
        thread_lock.release()


def _thread_lock(path: str) -> threading.Lock:
    with _thread_locks_guard:
        return _thread_locks.setdefault(path, threading.Lock())


def _seconds_left(deadline: float | None) -> float:
    return -1 if deadline is None else max(0.0, deadline - time.monotonic())


def _flock(handle: IO[bytes], deadline: float | None) -> bool:
    if deadline is None:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        return True

    def attempt() -> bool:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            return False

    return _wait_for(attempt, deadline)


def _advisory_lock(connection, key: int, deadline: float | None) -> bool:  # noqa: ANN001 - a SQLAlchemy connection
    if deadline is None:
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
        return True
    try_lock = text("SELECT pg_try_advisory_xact_lock(:key)").bindparams(key=key)
    return _wait_for(lambda: bool(connection.scalar(try_lock)), deadline)


def _wait_for(attempt: Callable[[], bool], deadline: float) -> bool:
    while not attempt():
        if time.monotonic() >= deadline:
            return False
        time.sleep(POLL_S)
    return True
