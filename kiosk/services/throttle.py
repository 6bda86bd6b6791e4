"""Request limits, counted in the database (table ``request_throttle``) so that every gunicorn
worker and every app host on one database counts against the same numbers. The one home for
the site's limits:

* failed sign-ins per (typed name, address) and per address, counted exactly, one write per
  attempt (``kiosk.services.accounts`` reserves and settles them with the helpers here);
* request rates in fixed windows of ``KIOSK_RATE_WINDOW_SECONDS`` (:func:`count_kiosk_request`,
  :func:`count_sign_in_attempt`): per paired kiosk on the kiosk API, per client address for kiosk
  API traffic that is not a paired kiosk (no token, a bad token, pairing, or every kiosk when
  pairing is off), and sign-in attempts per client address. Over the limit: 429 ``rate_limited``
  with ``Retry-After`` (the end of the window).

A request rate is counted in the process first and written to the database at most every
``KIOSK_RATE_SYNC_SECONDS`` per counter (one small upsert, whatever the rate): a kiosk at 15 frames
a second must not cost its site 15 writes a second (on SQLite every write takes the one write
lock). The process refuses from what it knows: the site's count at the last write plus its own
requests since, which never exceeds the true count, so a refusal is always due; other processes'
requests not yet written can let a window go over by at most their rate times the sync interval.
A flood is refused in memory, without touching the database.

Counting never costs a request its answer: the write waits at most ``COUNT_LOCK_WAIT_MS`` for the
database's lock, and a database that is locked, busy or restarting only skips that write (the
requests stay counted in the process and go with the next one).
"""

from __future__ import annotations

import hashlib
import logging
import math
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from flask import current_app
from sqlalchemy import case, delete, literal
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError

from ..errors import KioskError
from ..extensions import SQLITE_BUSY_TIMEOUT_MS, db
from ..models import RequestThrottle

log = logging.getLogger(__name__)

# Scopes: which limit a row of request_throttle belongs to.
SIGN_IN_FAILURES = "sign_in"  # failed sign-ins (kiosk.services.accounts)
SIGN_IN_ATTEMPTS = "sign_in_address"  # sign-in attempts per client address
KIOSK_DEVICE = "kiosk_device"  # kiosk API requests per paired kiosk
KIOSK_ADDRESS = "kiosk_address"  # kiosk API requests not from a paired kiosk, per client address

# How long counting a request may wait for the database's write lock before it gives up (the
# request goes on; its count goes with the next write).
COUNT_LOCK_WAIT_MS = 200
# A process keeps at most this many counters in memory (one per kiosk or address and window).
MAX_COUNTERS = 10_000
# A failed write is logged at most this often (a locked database would otherwise log every frame).
WARN_EVERY_S = 60.0


class RateLimited(KioskError):
    """Too many requests from one kiosk or address in the current window (429, Retry-After)."""

    status = 429
    code = "rate_limited"


def throttle_key(scope: str, *parts: str) -> str:
    return hashlib.sha256("\0".join((scope, *parts)).encode("utf-8", "surrogatepass")).hexdigest()


def _upsert():
    dialect = db.session.get_bind().dialect.name
    return sqlite.insert if dialect == "sqlite" else postgresql.insert


def insert_if_missing(key: str, scope: str, now: datetime) -> None:
    """The row of ``key`` in the request's session, created if needed without racing another request."""
    values = {"key": key, "scope": scope, "hits": 0, "window_started_at": now}
    if db.session.get_bind().dialect.name in ("sqlite", "postgresql"):
        db.session.execute(_upsert()(RequestThrottle).values(**values).on_conflict_do_nothing(index_elements=["key"]))
    elif db.session.get(RequestThrottle, key) is None:  # other databases: the primary key settles a race
        db.session.add(RequestThrottle(**values))
        db.session.flush()


def forget_expired(scope: str, now: datetime, window: timedelta) -> None:
    """Delete the rows of ``scope`` whose lock has ended or whose window has passed (the table stays small)."""
    db.session.execute(delete(RequestThrottle).where(
        RequestThrottle.scope == scope,
        (RequestThrottle.locked_until <= now)
        | (RequestThrottle.locked_until.is_(None) & (RequestThrottle.window_started_at <= now - window)),
    ))


# ---------------------------------------------------------------------------- request rates


@dataclass(frozen=True)
class RateLimit:
    scope: str
    per_window: int
    window_s: int
    whose: str  # for the message: "this kiosk", "this address"


@dataclass
class _Counter:
    window_start: float  # epoch seconds, a multiple of the window
    site_hits: int = 0  # the site's count as of the last write
    own_hits: int = 0  # this process's requests since
    synced_at: float = -math.inf  # time.monotonic() of the last write (or try)


class _Counters:
    """This app's counters in this process, shared by its request threads."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.by_key: dict[str, _Counter] = {}
        self.pruned_window: dict[str, float] = {}
        self.warned_at = -math.inf

    def current(self, key: str, window_start: float) -> _Counter:
        counter = self.by_key.get(key)
        if counter is None or counter.window_start < window_start:
            if len(self.by_key) >= MAX_COUNTERS:
                self.by_key = {k: c for k, c in self.by_key.items() if c.window_start >= window_start}
            counter = self.by_key[key] = _Counter(window_start)
        return counter


_COUNTERS_EXTENSION = "kiosk_request_counters"
_counters_created = threading.Lock()


def _app_counters() -> _Counters:
    extensions = current_app.extensions
    with _counters_created:
        return extensions.setdefault(_COUNTERS_EXTENSION, _Counters())


def _write(counters: _Counters, key: str, limit: RateLimit, window_start: float, hits: int) -> int | None:
    """Add ``hits`` to the site's count of ``key`` in this window; returns the site's count, or
    None when the database could not take the write now."""
    started = datetime.fromtimestamp(window_start, timezone.utc)
    table = RequestThrottle.__table__
    started_value = literal(started, table.c.window_started_at.type)
    statement = _upsert()(RequestThrottle).values(key=key, scope=limit.scope, hits=hits, window_started_at=started)
    statement = statement.on_conflict_do_update(index_elements=["key"], set_={
        "hits": case((table.c.window_started_at < started, hits), else_=table.c.hits + hits),
        "window_started_at": case((table.c.window_started_at < started, started_value),
                                  else_=table.c.window_started_at),
    }).returning(table.c.hits)
    on_sqlite = db.engine.dialect.name == "sqlite"
    try:
        with db.engine.connect() as connection:
            if on_sqlite:
                connection.exec_driver_sql(f"PRAGMA busy_timeout={COUNT_LOCK_WAIT_MS}")
                connection.commit()
            try:
                with connection.begin():
                    if not on_sqlite:
                        connection.exec_driver_sql(f"SET LOCAL lock_timeout = '{COUNT_LOCK_WAIT_MS}ms'")
                    site_hits = int(connection.execute(statement).scalar_one())
                    _forget_old_windows(counters, connection, limit, window_start)
            finally:
                if on_sqlite:
                    connection.exec_driver_sql(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
                    connection.commit()
        return site_hits
    except SQLAlchemyError as err:
        with counters.lock:
            warn = time.monotonic() - counters.warned_at >= WARN_EVERY_S
            if warn:
                counters.warned_at = time.monotonic()
        if warn:
            log.warning("Could not write a request count (%s); requests stay counted in this process meanwhile.",
                        type(getattr(err, "orig", err)).__name__)
        return None


def _forget_old_windows(counters: _Counters, connection, limit: RateLimit, window_start: float) -> None:
    """Once a window per scope and process: delete that scope's rows of earlier windows."""
    with counters.lock:
        if counters.pruned_window.get(limit.scope, -math.inf) >= window_start:
            return
        counters.pruned_window[limit.scope] = window_start
    started = datetime.fromtimestamp(window_start, timezone.utc)
    connection.execute(delete(RequestThrottle).where(RequestThrottle.scope == limit.scope,
                                                     RequestThrottle.window_started_at < started))


def count_request(limit: RateLimit, *who: str) -> None:
    """Count one request of ``who`` against ``limit``; raises :class:`RateLimited` (429) when the
    window already holds ``limit.per_window`` of them. A request refused from the process's own
    count is not counted; one that its write finds over the limit (other hosts') stays counted."""
    key = throttle_key(limit.scope, *who)
    now = time.time()
    window_start = math.floor(now / limit.window_s) * limit.window_s
    sync_s = float(current_app.config["KIOSK_RATE_SYNC_SECONDS"])
    counters = _app_counters()
    with counters.lock:
        counter = counters.current(key, window_start)
        refused = counter.site_hits + counter.own_hits >= limit.per_window
        if not refused:
            counter.own_hits += 1
        write = not refused and time.monotonic() - counter.synced_at >= sync_s
        if write:
            to_write, counter.own_hits, counter.synced_at = counter.own_hits, 0, time.monotonic()
    if write:
        site_hits = _write(counters, key, limit, window_start, to_write)
        with counters.lock:
            if site_hits is None:  # not written: keep them to send with the next write
                counter.own_hits += to_write
            elif counter.window_start == window_start:
                counter.site_hits = max(counter.site_hits, site_hits)
        # Other hosts' requests took the window past the limit since this process last knew: this
        # one (already counted) is refused too, so with every count written the limit is exact.
        refused = site_hits is not None and site_hits > limit.per_window
    if refused:
        wait = max(1, math.ceil(window_start + limit.window_s - now))
        raise RateLimited(
            f"Too many requests from {limit.whose}: at most {limit.per_window} every {limit.window_s} seconds. "
            f"Try again in {wait} seconds.", retry_after=wait, limit=limit.per_window, window_s=limit.window_s,
        )


def _limit(scope: str, setting: str, whose: str) -> RateLimit:
    config = current_app.config
    return RateLimit(scope, int(config[setting]), int(config["KIOSK_RATE_WINDOW_SECONDS"]), whose)


def _enabled() -> bool:
    return bool(current_app.config["KIOSK_RATE_LIMITS"])


def count_kiosk_request(device_id: int | None, address: str | None) -> None:
    """Count one kiosk API request: a paired kiosk's against its own limit (``KIOSK_RATE_PER_DEVICE``),
    anything else against its client address (``KIOSK_RATE_PER_ADDRESS``). A paired kiosk is never
    counted by address: kiosks often share one (a NAT, a proxy), and no other traffic may refuse it."""
    if not _enabled():
        return
    if device_id is not None:
        count_request(_limit(KIOSK_DEVICE, "KIOSK_RATE_PER_DEVICE", "this kiosk"), str(device_id))
    else:
        count_request(_limit(KIOSK_ADDRESS, "KIOSK_RATE_PER_ADDRESS", "this address"), address or "unknown")


def count_sign_in_attempt(address: str | None) -> None:
    """Count one sign-in attempt of a client address (``KIOSK_RATE_SIGN_INS_PER_ADDRESS``), whatever its
    outcome; the failures' own limits are ``kiosk.services.accounts``'s."""
    if _enabled():
        count_request(_limit(SIGN_IN_ATTEMPTS, "KIOSK_RATE_SIGN_INS_PER_ADDRESS", "this address"), address or "unknown")
