"""Paired kiosk devices and their tokens: by default only paired kiosks may use the frame API.

``KIOSK_REQUIRE_PAIRING`` (default on; the old name ``KIOSK_REQUIRE_DEVICE_TOKEN`` still works)
says whether a kiosk must be paired. How a kiosk presents its token (the ``X-Kiosk-Token``
header, or the cookie pairing sets) is the web layer's business (``kiosk/web/device_link.py``);
how a kiosk gets paired without anyone typing a token is ``kiosk/services/pairing.py``. This
service registers devices, renames and revokes them, and checks tokens: :func:`authenticate`
raises :class:`KioskNotPaired` (401) for a missing token when pairing is required, and for a
token that is not valid (wrong, revoked, replaced by a re-pair) always: a token is never ignored.

A device has a display name ("Front door", unique once case and width are folded) and an
optional location. Tokens are 256-bit random strings shown once; only their SHA-256 is stored:
a slow password hash buys nothing against a 256-bit secret, and a plain digest lets every
frame find its device with one indexed lookup. Revoking clears the hash, so the next request
of that kiosk (on any worker or app host) is refused.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from ..errors import Conflict, InvalidInput, KioskError, NotFound
from ..extensions import db
from ..languages import LANGUAGES, language_code, mark
from ..models import KioskDevice, utcnow
from ..names import clean_text, name_key
from . import audit, pairing  # module, not name: pairing imports this module too
from .audit_actions import (
    DEVICE_ADDED,
    DEVICE_LANGUAGE_CHANGED,
    DEVICE_REMOVED,
    DEVICE_RENAMED,
    DEVICE_REVOKED,
    DEVICE_ROTATED,
)
from .database import retry_on_disconnect

log = logging.getLogger(__name__)

# last_seen is written at most once a minute per device: a write per frame (two a
# second per kiosk) would only add SQLite lock contention for a figure shown in minutes.
LAST_SEEN_RESOLUTION = timedelta(seconds=60)
MAX_TOKEN_LENGTH = 256  # ours are 43 characters; anything longer is refused unread
MAX_DEVICE_NAME_LENGTH = 64  # what attendance events keep as their kiosk_id
MAX_LOCATION_LENGTH = 120


class KioskNotPaired(KioskError):
    """The request carries no device token while pairing is required, or a token that is not
    (or no longer) a paired kiosk's. ``reason``: ``missing`` or ``invalid``."""

    status = 401
    code = "kiosk_not_paired"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token() -> str:
    return secrets.token_urlsafe(32)


def _target(device: KioskDevice) -> audit.Target:
    return audit.Target("device", device.id, device.name)


def clean_device_name(value: object) -> str:
    name = clean_text(value, "A kiosk name", max_length=MAX_DEVICE_NAME_LENGTH, code="invalid_device_name",
                      too_long_code="device_name_too_long")
    if not name:
        raise InvalidInput("A kiosk needs a name (for example \"Front door\").", code="missing_device_name")
    return name


def clean_location(value: object) -> str | None:
    text = clean_text(value, "A location", max_length=MAX_LOCATION_LENGTH, code="invalid_location",
                      too_long_code="location_too_long")
    return text or None


def _check_name_free(name: str, except_id: int | None = None) -> None:
    other = db.session.scalar(select(KioskDevice).where(KioskDevice.name_key == name_key(name)))
    if other is not None and other.id != except_id:
        raise Conflict(f"A kiosk named {other.name!r} already exists.", code="device_name_taken", name=other.name)


def new_device(name: str, location: str | None = None) -> KioskDevice:
    """A device row (added to the session, not committed, no token yet)."""
    name, location = clean_device_name(name), clean_location(location)
    _check_name_free(name)
    device = KioskDevice(name=name, name_key=name_key(name), location=location)
    db.session.add(device)
    return device


def issue_token(device: KioskDevice) -> str:
    """A new token for ``device`` (any previous one stops working); the caller commits."""
    token = new_token()
    device.token_hash = hash_token(token)
    device.paired_at, device.revoked_at = utcnow(), None
    return token


def register_device(name: str, location: str | None = None, *,
                    actor: audit.Actor | str | None = None) -> tuple[KioskDevice, str]:
    """Register a paired kiosk; returns the device and its token (the only time the token exists
    in clear). Raises InvalidInput (bad name) or Conflict (name taken)."""
    device = new_device(name, location)
    token = issue_token(device)
    db.session.flush()
    audit.record(DEVICE_ADDED, _target(device), actor=actor,
                 after={"name": device.name, "location": device.location})  # never the token
    db.session.commit()
    return device, token


def rotate_token(name_or_id: str | int, *, actor: audit.Actor | str | None = None) -> str:
    """Give a device a new token (the old one stops working at once). Raises NotFound."""
    device = get_device(name_or_id)
    token = issue_token(device)
    audit.record(DEVICE_ROTATED, _target(device), actor=actor)
    db.session.commit()
    return token


def get_device(name_or_id: str | int) -> KioskDevice:
    if isinstance(name_or_id, int):
        device = db.session.get(KioskDevice, name_or_id)
    else:
        key = name_key(" ".join(name_or_id.split()))
        device = db.session.scalar(select(KioskDevice).where(KioskDevice.name_key == key))
    if device is None:
        raise NotFound(f"No kiosk device named {name_or_id!r}." if isinstance(name_or_id, str) else "No such kiosk.")
    return device


def list_devices() -> list[KioskDevice]:
    return list(db.session.scalars(select(KioskDevice).order_by(KioskDevice.name_key)))


def rename_device(device_id: int, name: str, location: str | None, *,
                  actor: audit.Actor | str | None = None) -> KioskDevice:
    """New display name and location. Raises NotFound, InvalidInput, Conflict."""
    device = get_device(device_id)
    before = {"name": device.name, "location": device.location}
    name = clean_device_name(name)
    _check_name_free(name, except_id=device.id)
    device.name, device.name_key, device.location = name, name_key(name), clean_location(location)
    audit.record(DEVICE_RENAMED, _target(device), actor=actor, before=before,
                 after={"name": device.name, "location": device.location})
    db.session.commit()
    return device


def set_device_language(device_id: int, language: object, *, actor: audit.Actor | str | None = None) -> KioskDevice:
    """The language the kiosk speaks from its next request on: a code of :data:`LANGUAGES`, or
    "" / None for the site's ``KIOSK_LANGUAGE``. Raises NotFound, InvalidInput (a language the
    kiosk does not speak; nothing is changed)."""
    device = get_device(device_id)
    if language in (None, ""):
        code = None
    else:
        code = language_code(language) if isinstance(language, str) and language in LANGUAGES else None
        if code is None:
            raise InvalidInput(f"A kiosk speaks one of {', '.join(LANGUAGES)} (or the site's default), "
                               f"not {language!r}.", code="unknown_language")
    if code == device.language:
        return device
    audit.record(DEVICE_LANGUAGE_CHANGED, _target(device), actor=actor, before={"language": device.language},
                 after={"language": code})
    device.language = code
    db.session.commit()
    return device


def revoke_device(device_id: int, *, actor: audit.Actor | str | None = None) -> KioskDevice:
    """The kiosk's token stops working at once (its next request is 401); the device keeps its
    name and can be paired again. Raises NotFound."""
    device = get_device(device_id)
    device.token_hash, device.revoked_at = None, utcnow()
    pairing.cancel_for_device(device.id)
    audit.record(DEVICE_REVOKED, _target(device), actor=actor)
    db.session.commit()
    return device


def remove_device(name_or_id: str | int, *, actor: audit.Actor | str | None = None) -> None:
    """Remove a device; its token stops working at once. Raises NotFound."""
    device = get_device(name_or_id)
    pairing.cancel_for_device(device.id)
    audit.record(DEVICE_REMOVED, _target(device), actor=actor, before={"name": device.name})
    db.session.delete(device)
    db.session.commit()


def find_device_by_token(token: str | None) -> KioskDevice | None:
    if not token or len(token) > MAX_TOKEN_LENGTH:
        return None
    digest = hash_token(token)
    return retry_on_disconnect(
        lambda: db.session.scalar(select(KioskDevice).where(KioskDevice.token_hash == digest)),
        "checking a device token",
    )


def language_of_token(token: str | None) -> str | None:
    """The language set for the kiosk ``token`` belongs to, or None: no such kiosk, none set, or a
    database that cannot answer now (one try, no retry: the site's language is a fine answer for
    a page that is already late, an error page included)."""
    if not token or len(token) > MAX_TOKEN_LENGTH:
        return None
    try:
        return db.session.scalar(select(KioskDevice.language).where(KioskDevice.token_hash == hash_token(token)))
    except SQLAlchemyError:
        db.session.rollback()
        return None


def touch(device: KioskDevice) -> None:
    """Note that ``device`` was seen now (at most one write a minute)."""
    now = utcnow()
    name = device.name
    if device.last_seen is not None and now - device.last_seen < LAST_SEEN_RESOLUTION:
        return
    try:
        device.last_seen = now
        db.session.commit()
    except SQLAlchemyError:
        # A busy, locked or restarting database must not cost the kiosk its frame: last_seen is
        # informational (the database's own errors are answered by the next query that needs it).
        db.session.rollback()
        log.warning("Could not record last_seen of kiosk device %s (database busy)", name)


@dataclass(frozen=True)
class PairedKiosk:
    """Who sent a request: read once, so nothing later in the request goes back to the database for
    it (a database restarting mid-frame once turned a refreshed device row into a 500)."""

    id: int
    name: str
    language: str | None = None  # None: the site's KIOSK_LANGUAGE


NOT_PAIRED_MESSAGE = mark("This kiosk is not paired: ask an administrator.")


def authenticate(token: str | None, *, required: bool) -> PairedKiosk | None:
    """The paired device ``token`` belongs to (its last_seen noted), or None when no token came
    and pairing is not required. A token that is not valid raises :class:`KioskNotPaired` even
    then (never ignored); no token raises it when ``required``."""
    if not token:
        if required:
            raise KioskNotPaired(NOT_PAIRED_MESSAGE, reason="missing")
        return None
    device = find_device_by_token(token)
    if device is None:
        raise KioskNotPaired(
            "This kiosk is not paired: its device token is not valid (the kiosk may have been revoked or "
            "paired again). Ask an administrator.", reason="invalid",
        )
    paired = PairedKiosk(device.id, device.name, device.language)
    touch(device)
    end_read()
    return paired


def end_read() -> None:
    """End the token look-up's read transaction now: the frame that follows holds no database
    connection, so a database that restarts meanwhile cannot fail the request's tear-down."""
    try:
        db.session.rollback()
    except SQLAlchemyError:
        log.warning("The database went away after a kiosk's token was checked; the frame goes on.")
