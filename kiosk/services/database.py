"""The database seen from the services: which engine, and riding out a server that went away.

SQLite (one box) and PostgreSQL (several app hosts) run the same code; the few places that
differ ask :func:`is_postgresql`. A PostgreSQL server that restarts or fails over drops every
connection: the pool's pre-ping (``kiosk.config.engine_options``) replaces stale connections,
and :func:`retry_on_disconnect` makes the kiosk's database steps wait for the server (bounded by
``KIOSK_DB_RETRY_SECONDS``) instead of failing each frame. What still cannot reach the database
after that answers 503 ``database_unavailable`` (never a 500), with ``Retry-After``.
"""

from __future__ import annotations

import logging
import time
from typing import Callable, TypeVar

from flask import current_app
from sqlalchemy.exc import DBAPIError, OperationalError

from ..errors import KioskError
from ..extensions import db

log = logging.getLogger(__name__)

T = TypeVar("T")

RETRY_FIRST_PAUSE_S = 0.2
RETRY_MAX_PAUSE_S = 1.0


class DatabaseUnavailable(KioskError):
    """The database server cannot be reached (restarting, failing over, or down)."""

    status = 503
    code = "database_unavailable"

    def __init__(self, message: str | None = None, **extra) -> None:
        super().__init__(
            message or "The database cannot be reached right now; the kiosk keeps trying. Try again in a moment.",
            retry_after=2,
            **extra,
        )


def dialect_name() -> str:
    return db.engine.dialect.name


def is_postgresql() -> bool:
    return dialect_name() == "postgresql"


def is_disconnect(err: BaseException) -> bool:
    """Whether ``err`` means "the database server is not there" (rather than a bad statement).

    SQLAlchemy flags errors that invalidated the connection; on PostgreSQL every OperationalError
    (refused connection, server shut down, connection lost) is of that family. SQLite's
    OperationalError ("database is locked") is not: the busy timeout already waited for it.
    """
    if isinstance(err, DBAPIError) and err.connection_invalidated:
        return True
    return isinstance(err, OperationalError) and "sqlite" not in type(err.orig).__module__


def retry_on_disconnect(step: Callable[[], T], what: str, *, rollback_session: bool = True) -> T:
    """Run ``step`` (one database unit of work that is safe to run again) until it gets through.

    A lost connection rolls the session back (unless ``step`` works on connections of its own:
    ``rollback_session=False``), waits (0.2 s, doubling to 1 s) and runs ``step`` again, until
    ``KIOSK_DB_RETRY_SECONDS`` have passed; then :class:`DatabaseUnavailable`.
    """
    deadline = time.monotonic() + float(current_app.config.get("KIOSK_DB_RETRY_SECONDS", 15.0))
    pause = RETRY_FIRST_PAUSE_S
    attempt = 0
    while True:
        attempt += 1
        try:
            return step()
        except DBAPIError as err:
            if not is_disconnect(err):
                raise
            if rollback_session:
                rollback_quietly()
            if time.monotonic() + pause > deadline:
                log.error("The database stayed unreachable while %s (%d attempts); giving up.", what, attempt)
                raise DatabaseUnavailable() from err
            if attempt == 1:
                log.warning("Lost the database connection while %s; retrying.", what)
            time.sleep(pause)
            pause = min(RETRY_MAX_PAUSE_S, pause * 2)


def rollback_quietly() -> None:
    """Roll the session back, also when its connection is already gone."""
    try:
        db.session.rollback()
    except DBAPIError:  # the connection is gone; the pool discards it
        db.session.close()
