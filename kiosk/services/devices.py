"""Registered kiosk devices and their tokens: only registered kiosks may post frames.

A site turns this on with ``KIOSK_REQUIRE_DEVICE_TOKEN=1``. Each kiosk then presents its
token with every frame, in one of two ways (both accepted, header first):

* the ``X-Kiosk-Token`` request header (scripts, non-browser kiosks, the test suite);
* the ``kiosk_device_token`` cookie, which the kiosk browser gets once: the operator opens
  ``https://HOST/?token=TOKEN`` on the kiosk; :func:`init_app`'s hook checks the token,
  sets the cookie (HttpOnly, Secure, SameSite=Strict, 400 days) and redirects to ``/`` so
  the token leaves the address bar and the browser history. The page's ``fetch`` calls are
  same-origin, so the cookie rides along with every frame without any JavaScript.

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
from functools import wraps
from urllib.parse import urlencode

from flask import Flask, current_app, g, redirect, request
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from ..errors import Conflict, InvalidInput, KioskError, NotFound
from ..extensions import db
from ..models import KioskDevice, utcnow

log = logging.getLogger(__name__)

TOKEN_HEADER = "X-Kiosk-Token"
TOKEN_COOKIE = "kiosk_device_token"
TOKEN_QUERY_PARAM = "token"
# Chrome caps cookie lifetimes at 400 days; a kiosk browser keeps its profile for months.
TOKEN_COOKIE_MAX_AGE_S = 400 * 24 * 3600
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


def register_device(name: str) -> tuple[KioskDevice, str]:
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
    db.session.commit()
    return device, token


def rotate_token(name: str) -> str:
    """Give a device a new token (the old one stops working at once). Raises NotFound."""
    device = get_device(name)
    token = _new_token()
    device.token_hash = hash_token(token)
    db.session.commit()
    return token


def get_device(name: str) -> KioskDevice:
    device = db.session.scalar(select(KioskDevice).where(KioskDevice.name == name))
    if device is None:
        raise NotFound(f"No kiosk device named {name!r}.")
    return device


def list_devices() -> list[KioskDevice]:
    return list(db.session.scalars(select(KioskDevice).order_by(KioskDevice.name)))


def remove_device(name: str) -> None:
    """Remove a device; its token stops working at once. Raises NotFound."""
    db.session.delete(get_device(name))
    db.session.commit()


def find_device_by_token(token: str | None) -> KioskDevice | None:
    if not token or len(token) > MAX_TOKEN_LENGTH:
        return None
    return db.session.scalar(select(KioskDevice).where(KioskDevice.token_hash == hash_token(token)))


def presented_token() -> str | None:
    """The token this request carries: the header, else the cookie."""
    return request.headers.get(TOKEN_HEADER) or request.cookies.get(TOKEN_COOKIE) or None


def tokens_required() -> bool:
    return bool(current_app.config.get("KIOSK_REQUIRE_DEVICE_TOKEN", False))


def _touch(device: KioskDevice) -> None:
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


def require_device_token() -> KioskDevice | None:
    """Call first in every route a kiosk uses to post frames or check people in.

    Returns the registered device (also kept in ``g.kiosk_device``) when the request
    carries a valid token, ``None`` when tokens are not required and none valid was sent.
    When ``KIOSK_REQUIRE_DEVICE_TOKEN`` is on, raises :class:`DeviceTokenRequired` (401)
    for a request without a token and :class:`DeviceTokenInvalid` (403) for an unknown
    one; the web layer's KioskError handler turns them into JSON.
    """
    token = presented_token()
    device = find_device_by_token(token)
    if device is None and tokens_required():
        if not token:
            raise DeviceTokenRequired(
                "This kiosk is not registered: open the kiosk page once with its device link "
                "(https://HOST/?token=...) or send the X-Kiosk-Token header."
            )
        raise DeviceTokenInvalid("This kiosk's device token is not valid (it may have been removed or rotated).")
    if device is not None:
        _touch(device)
    g.kiosk_device = device
    return device


def device_token_required(view):
    """Decorator form of :func:`require_device_token`."""

    @wraps(view)
    def wrapped(*args, **kwargs):
        require_device_token()
        return view(*args, **kwargs)

    return wrapped


def _adopt_token_from_link():
    """``GET /?token=...`` on the kiosk: keep the token in a cookie, drop it from the URL."""
    if request.method != "GET" or request.path != "/" or TOKEN_QUERY_PARAM not in request.args:
        return None
    token = request.args.get(TOKEN_QUERY_PARAM, "")
    device = find_device_by_token(token)
    if device is None:
        from ..web.errors import error_response

        return error_response(
            403, DeviceTokenInvalid.code,
            "This kiosk link is not valid: the device may have been removed or its token rotated. "
            "Ask an administrator for a new link (kiosk devices rotate NAME).",
        )
    _touch(device)
    rest = [(key, value) for key, value in request.args.items(multi=True) if key != TOKEN_QUERY_PARAM]
    response = redirect("/" + (f"?{urlencode(rest)}" if rest else ""), code=303)
    response.set_cookie(
        TOKEN_COOKIE,
        token,
        max_age=TOKEN_COOKIE_MAX_AGE_S,
        secure=bool(current_app.config.get("SESSION_COOKIE_SECURE", True)),
        httponly=True,  # page scripts never need it: the browser sends it with fetch()
        samesite="Strict",
        path="/",
    )
    # The token must not stay in any cache (the redirect has no body to leak a Referer from).
    response.headers["Cache-Control"] = "no-store"
    return response


def init_app(app: Flask) -> None:
    """Install the ``/?token=...`` hook that gives a kiosk browser its device cookie (idempotent)."""
    if app.extensions.get("kiosk_devices"):
        return
    app.extensions["kiosk_devices"] = True
    app.before_request(_adopt_token_from_link)
