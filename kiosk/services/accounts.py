"""Admin accounts: creation, password changes and removal, sign-in with limits on failures, and
the server-side admin sessions.

Sign-in limits (``KIOSK_LOGIN_*``; a refused attempt is a 429 with the wait):

* a typed name from one client address gets ``KIOSK_LOGIN_MAX_FAILURES`` wrong passwords, then
  that name is locked *for that address* for ``KIOSK_LOGIN_LOCKOUT_SECONDS``: someone guessing
  elsewhere cannot lock the administrator out of their own desk;
* one client address gets ``KIOSK_LOGIN_MAX_FAILURES_PER_ADDRESS`` failures over all names in
  that time, then it is locked for every name;
* unknown names are counted and locked exactly like real ones, with the same answers and the
  same time spent (a password is hashed either way), so the answers tell no one which names exist;
* each attempt *reserves* its count with one atomic UPDATE before its password is checked (and
  gives it back if the password was right), so attempts sent in parallel cannot all pass
  before the first failure is written.

The counts live in the site's one table of request limits (``kiosk.services.throttle``, which
also limits the rate of sign-in attempts per address, ``KIOSK_RATE_SIGN_INS_PER_ADDRESS``).

Admin sessions: signing in creates an :class:`AdminSession` row; the signed session cookie
carries its random token (the row holds only a hash). Every request checks the row, so a session
ends on the server, whatever the browser kept, when:

* the admin signs out (that session), their password is changed or they are removed (all of
  theirs);
* it was idle ``KIOSK_ADMIN_IDLE_MINUTES`` (default 30) or is ``KIOSK_ADMIN_SESSION_HOURS`` old
  (default 12).
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import delete, or_, select, update
from sqlalchemy.exc import OperationalError

from ..errors import Conflict, InvalidInput, KioskError, NotFound
from ..extensions import db
from ..models import AdminSession, AdminUser, RequestThrottle, utcnow
from . import audit, throttle
from .audit_actions import ADMIN_CREATED, ADMIN_PASSWORD_CHANGED, ADMIN_REMOVED, ADMIN_SIGNED_IN

log = logging.getLogger(__name__)

USERNAME_RE = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")
MIN_PASSWORD_LENGTH = 10
# last_seen_at is written at most this often per session: an admin page polling the training
# progress every second must not write to the database every second.
SESSION_TOUCH_SECONDS = 60


class SignInRefused(KioskError):
    status = 401
    code = "sign_in_refused"


# ---------------------------------------------------------------------------- accounts


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(f"The password must be at least {MIN_PASSWORD_LENGTH} characters long.")


def _target(user: AdminUser) -> audit.Target:
    return audit.Target("admin", user.id, user.username)


def create_admin(username: str, password: str, *, actor: audit.Actor | str | None = None) -> AdminUser:
    """Create an admin. Raises InvalidInput (bad name or short password) or Conflict (exists)."""
    username = username.strip()
    if not USERNAME_RE.match(username):
        raise InvalidInput("A username is 1-64 letters, digits or . _ @ -.")
    _check_password(password)
    if db.session.scalar(select(AdminUser).where(AdminUser.username == username)):
        raise Conflict(f"An admin named {username!r} already exists.")
    user = AdminUser(username=username)
    user.set_password(password)
    db.session.add(user)
    db.session.flush()
    audit.record(ADMIN_CREATED, _target(user), actor=actor, after={"username": username})  # never the password
    db.session.commit()
    return user


def get_admin(username: str) -> AdminUser:
    user = db.session.scalar(select(AdminUser).where(AdminUser.username == username))
    if user is None:
        raise NotFound(f"No admin named {username!r}.")
    return user


def list_admins() -> list[AdminUser]:
    return list(db.session.scalars(select(AdminUser).order_by(AdminUser.username)))


def change_password(username: str, password: str, *, actor: audit.Actor | str | None = None) -> int:
    """Set a new password and end every session of that admin; returns how many were ended."""
    _check_password(password)
    _new_transaction()
    user = get_admin(username)
    user.set_password(password)
    ended = _end_sessions(user.id)
    audit.record(ADMIN_PASSWORD_CHANGED, _target(user), actor=actor, after={"sessions_ended": ended})
    db.session.commit()
    log.info("The password of admin %s was changed; %d session(s) ended.", user.username, ended)
    return ended


def remove_admin(username: str, *, actor: audit.Actor | str | None = None) -> int:
    """Remove an admin (their sessions go with them); returns how many sessions were ended."""
    user = get_admin(username)
    ended = _end_sessions(user.id)
    audit.record(ADMIN_REMOVED, _target(user), actor=actor, before={"username": user.username, "sessions": ended})
    db.session.delete(user)
    db.session.commit()
    log.info("Admin %s was removed; %d session(s) ended.", username, ended)
    return ended


# ---------------------------------------------------------------------------- sign-in


def _setting(name: str) -> int:
    return int(current_app.config[name])


def _new_transaction() -> None:
    """End the request's read transaction before writing. On SQLite (WAL) a read transaction
    that another connection wrote past cannot become a write one: "database is locked" at once,
    whatever the busy timeout. A write that starts a transaction waits its turn instead."""
    db.session.commit()


def _reserve(username: str, address: str) -> list[tuple[str, int]]:
    """Count this attempt against its name-and-address and address limits, or refuse it (429).
    Returns the (throttle key, limit) pairs to settle once the password is checked."""
    _new_transaction()
    now = utcnow()
    window = timedelta(seconds=_setting("KIOSK_LOGIN_LOCKOUT_SECONDS"))
    attempt = [
        (throttle.throttle_key("name", username, address), _setting("KIOSK_LOGIN_MAX_FAILURES")),
        (throttle.throttle_key("address", address), _setting("KIOSK_LOGIN_MAX_FAILURES_PER_ADDRESS")),
    ]
    throttle.forget_expired(throttle.SIGN_IN_FAILURES, now, window)
    for key, limit in attempt:
        throttle.insert_if_missing(key, throttle.SIGN_IN_FAILURES, now)
        reserved = db.session.execute(
            update(RequestThrottle)
            .where(RequestThrottle.key == key, RequestThrottle.hits < limit, RequestThrottle.locked_until.is_(None))
            .values(hits=RequestThrottle.hits + 1)
            .execution_options(synchronize_session=False)
        ).rowcount
        if not reserved:
            locked_until = db.session.scalar(select(RequestThrottle.locked_until).where(RequestThrottle.key == key))
            db.session.rollback()  # the other reservation (if any) is given back with it
            wait = int(((locked_until or now + window) - now).total_seconds()) + 1
            raise SignInRefused(
                f"Too many failed sign-ins; try again in {wait} seconds.", status=429, code="locked_out",
                retry_after=wait,
            )
    db.session.commit()
    return attempt


def _settle(attempt: list[tuple[str, int]], succeeded: bool) -> None:
    _new_transaction()
    now = utcnow()
    (name_key, _), (address_key, _) = attempt
    if succeeded:
        db.session.execute(delete(RequestThrottle).where(RequestThrottle.key == name_key))
        db.session.execute(
            update(RequestThrottle).where(RequestThrottle.key == address_key, RequestThrottle.hits > 0)
            .values(hits=RequestThrottle.hits - 1).execution_options(synchronize_session=False)
        )
    else:
        lock_until = now + timedelta(seconds=_setting("KIOSK_LOGIN_LOCKOUT_SECONDS"))
        for key, limit in attempt:
            db.session.execute(
                update(RequestThrottle)
                .where(RequestThrottle.key == key, RequestThrottle.hits >= limit)
                .where(RequestThrottle.locked_until.is_(None))
                .values(locked_until=lock_until).execution_options(synchronize_session=False)
            )
    db.session.commit()


def authenticate(username: str, password: str, address: str | None) -> AdminUser:
    """The admin for these credentials, or SignInRefused (wrong: 401; too many failures: 429).

    ``address`` is the client's address (``request.remote_addr``; behind Nginx set
    ``KIOSK_BEHIND_PROXY=1`` so that it is the browser's, not Nginx's)."""
    generic = SignInRefused("Wrong username or password.")
    address = address or "unknown"
    attempt = _reserve(username, address)
    user = db.session.scalar(select(AdminUser).where(AdminUser.username == username))
    if user is None:
        AdminUser(username="-").set_password(password or "-")  # as long as a wrong password takes
        ok = False
    else:
        ok = user.check_password(password)
    _settle(attempt, ok)
    if not ok:
        log.warning("Failed admin sign-in from %s.", address)
        raise generic
    return user


# ---------------------------------------------------------------------------- sessions


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _end_sessions(user_id: int) -> int:
    return int(db.session.execute(delete(AdminSession).where(AdminSession.user_id == user_id)).rowcount or 0)


def _expired(now: datetime):
    idle = timedelta(minutes=_setting("KIOSK_ADMIN_IDLE_MINUTES"))
    lifetime = timedelta(hours=_setting("KIOSK_ADMIN_SESSION_HOURS"))
    return or_(AdminSession.last_seen_at <= now - idle, AdminSession.created_at <= now - lifetime)


def open_session(user: AdminUser, address: str | None = None) -> str:
    """A new session for ``user`` (audited as a sign-in from ``address``); returns the token to keep
    in the (signed) session cookie."""
    _new_transaction()
    now = utcnow()
    db.session.execute(delete(AdminSession).where(_expired(now)))
    token = secrets.token_urlsafe(32)
    db.session.add(AdminSession(user_id=user.id, token_hash=_token_hash(token), created_at=now, last_seen_at=now))
    audit.record(ADMIN_SIGNED_IN, _target(user), actor=audit.Actor(user.username, address))
    db.session.commit()
    return token


@dataclass
class SessionCheck:
    user: AdminUser | None
    ended: str | None = None  # why a session the browser still had is over (for the sign-in page)


def check_session(token: object, user_id: object) -> SessionCheck:
    """The admin of a live session, touching its last use; or why there is none."""
    if not isinstance(token, str) or not token:
        return SessionCheck(None)
    row = db.session.scalar(select(AdminSession).where(AdminSession.token_hash == _token_hash(token)))
    if row is None or str(row.user_id) != str(user_id):
        return SessionCheck(None, "Your session has ended (signed out, or the password was changed); sign in again.")
    now = utcnow()
    idle_minutes, hours = _setting("KIOSK_ADMIN_IDLE_MINUTES"), _setting("KIOSK_ADMIN_SESSION_HOURS")
    idle = row.last_seen_at <= now - timedelta(minutes=idle_minutes)
    if idle or row.created_at <= now - timedelta(hours=hours):
        _best_effort(lambda: db.session.delete(row))  # refused either way; the next sign-in prunes it too
        why = f"{idle_minutes} minutes without activity" if idle else f"{hours} hours"
        return SessionCheck(None, f"You were signed out after {why}; sign in again.")
    user = row.user
    if (now - row.last_seen_at).total_seconds() >= SESSION_TOUCH_SECONDS:
        _best_effort(lambda: setattr(row, "last_seen_at", now))
    return SessionCheck(user)


def _best_effort(change) -> None:
    """Write ``change`` now if the database lets us; a busy database only delays it (the session's
    last use is then a minute older, which errs on the side of ending it)."""
    try:
        change()
        db.session.commit()
    except OperationalError:
        db.session.rollback()
        log.warning("Could not record an admin session's last use (database busy); it will be next time.")


def close_session(token: object) -> None:
    """End one session (sign-out)."""
    if isinstance(token, str) and token:
        _new_transaction()
        db.session.execute(delete(AdminSession).where(AdminSession.token_hash == _token_hash(token)))
        db.session.commit()
