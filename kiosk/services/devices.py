"""Registered kiosk devices and their tokens: only registered kiosks may post frames.

A site turns this on with ``KIOSK_REQUIRE_DEVICE_TOKEN=1``. How a kiosk presents its token
(a header, or the cookie its device link sets) is the web layer's business
(``kiosk/web/device_link.py``); this service registers devices and checks tokens:
:func:`authenticate` raises :class:`DeviceTokenRequired` (401) or :class:`DeviceTokenInvalid`
(403).

Tokens are 256-bit random strings shown once (``kiosk devices add NAME``). Only their
SHA-256 is stored: a slow password hash buys nothing against a 256-bit secret, and a
plain digest lets every frame find its device with one indexed lookup.
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from ..errors import Conflict, InvalidInput, KioskError, NotFound
from ..extensions import db
from ..models import KioskDevice, utcnow
from . import audit
from .audit_actions import DEVICE_ADDED, DEVICE_REVOKED, DEVICE_ROTATED

log = logging.getLogger(__name__)

# last_seen is written at most once a minute per device: a write per frame (two a
# second per kiosk) would only add SQLite lock contention for a figure shown in minutes.
LAST_SEEN_RESOLUTION = timedelta(seconds=60)
MAX_TOKEN_LENGTH = 256  # ours are 43 characters; anything longer is refused unread

DEVICE_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class DeviceTokenRequired(KioskError):
    """The request carries no device token while the site requires one."""

    status = 401
    code = "device_token_required"


class DeviceTokenInvalid(KioskError):
    """The token presented belongs to no registered device (wrong, or the device was removed)."""

    status = 403
    code = "device_token_invalid"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _new_token() -> str:
    return secrets.token_urlsafe(32)


def _target(device: KioskDevice) -> audit.Target:
    return audit.Target("device", device.id, device.name)


def register_device(name: str, *, actor: audit.Actor | str | None = None) -> tuple[KioskDevice, str]:
    """Register a kiosk; returns the device and its token (the only time the token exists
    in clear). Raises InvalidInput (bad name) or Conflict (name taken)."""
    name = (name or "").strip()
    if not DEVICE_NAME_RE.match(name):
        raise InvalidInput("A device name is 1-64 letters, digits or . _ - (starting with a letter or digit).")
    if db.session.scalar(select(KioskDevice).where(KioskDevice.name == name)):
        raise Conflict(f"A kiosk device named {name!r} already exists.")
    token = _new_token()
    device = KioskDevice(name=name, token_hash=hash_token(token))
    db.session.add(device)
    db.session.flush()
    audit.record(DEVICE_ADDED, _target(device), actor=actor, after={"name": name})  # never the token
    db.session.commit()
    return device, token


def rotate_token(name: str, *, actor: audit.Actor | str | None = None) -> str:
    """Give a device a new token (the old one stops working at once). Raises NotFound."""
    device = get_device(name)
    token = _new_token()
    device.token_hash = hash_token(token)
    audit.record(DEVICE_ROTATED, _target(device), actor=actor)
    db.session.commit()
    return token


def get_device(name: str) -> KioskDevice:
    device = db.session.scalar(select(KioskDevice).where(KioskDevice.name == name))
    if device is None:
        raise NotFound(f"No kiosk device named {name!r}.")
    return device


def list_devices() -> list[KioskDevice]:
    return list(db.session.scalars(select(KioskDevice).order_by(KioskDevice.name)))


def remove_device(name: str, *, actor: audit.Actor | str | None = None) -> None:
    """Remove a device; its token stops working at once. Raises NotFound."""
    device = get_device(name)
    audit.record(DEVICE_REVOKED, _target(device), actor=actor, before={"name": device.name})
    db.session.delete(device)
    db.session.commit()


def find_device_by_token(token: str | None) -> KioskDevice | None:
    if not token or len(token) > MAX_TOKEN_LENGTH:
        return None
    from .database import retry_on_disconnect

    digest = hash_token(token)
    return retry_on_disconnect(
        lambda: db.session.scalar(select(KioskDevice).where(KioskDevice.token_hash == digest)), "checking a device token"
    )


def touch(device: KioskDevice) -> None:
    """Note that ``device`` was seen now (at most one write a minute)."""
    now = utcnow()
    if device.last_seen is not None and now - device.last_seen < LAST_SEEN_RESOLUTION:
        return
    device.last_seen = now
    try:
        db.session.commit()
    except OperationalError:
        # A busy database must not cost the kiosk its frame: last_seen is informational.
        db.session.rollback()
        log.warning("Could not record last_seen of kiosk device %s (database busy)", device.name)


def authenticate(token: str | None, *, required: bool) -> KioskDevice | None:
    """The registered device ``token`` belongs to (its last_seen noted), or None.

    When ``required``, a request without a token raises :class:`DeviceTokenRequired` and one
    with an unknown token :class:`DeviceTokenInvalid`; otherwise an unknown token is None."""
    device = find_device_by_token(token)
    if device is None and required:
        if not token:
            raise DeviceTokenRequired(
                "This kiosk is not registered: open the kiosk page once with its device link "
                "(https://HOST/?token=...) or send the X-Kiosk-Token header."
            )
        raise DeviceTokenInvalid("This kiosk's device token is not valid (it may have been removed or rotated).")
    if device is not None:
        touch(device)
    return device
