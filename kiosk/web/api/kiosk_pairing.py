"""Pairing a kiosk browser (``kiosk/services/pairing.py``): the only ``/api/v1/kiosk/*`` routes
an unpaired kiosk may call (contract: docs/frame-api.md, "Pairing").

- POST ``/api/v1/kiosk/pairing``: start (or resume) pairing; answers the code to show.
- GET  ``/api/v1/kiosk/pairing``: the kiosk's poll; once an administrator approved its code the
  answer sets the device token cookie (HttpOnly, Secure) and says ``paired``.

The pairing secret travels in its own HttpOnly cookie, so only the browser that shows a code can
collect the token its approval makes; the page's script never sees either secret. Both count
against the per-address request limit (``kiosk.services.throttle``).
"""

from __future__ import annotations

from flask import current_app, jsonify, request
from flask_babel import gettext

from ...extensions import csrf
from ...services import devices, pairing, throttle
from ..device_link import TOKEN_COOKIE, presented_token, set_token_cookie
from ..kiosk_errors import PAIRING_EXPIRED
from . import api_bp

PAIRING_COOKIE = "kiosk_pairing"
POLL_AFTER_MS = 2000


def _secure() -> bool:
    return bool(current_app.config.get("SESSION_COOKIE_SECURE", True))


def _already_paired():
    """The device this request's token belongs to; None when it has none or a stale one."""
    token = presented_token()
    return devices.find_device_by_token(token) if token else None


def _answer(payload: dict, status: int = 200):
    response = jsonify(payload)
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    return response


def _pending(entry) -> dict:
    remaining = (entry.expires_at - devices.utcnow()).total_seconds()
    return {"status": "pending", "code": pairing.format_code(entry.code), "expires_in_s": max(0, round(remaining)),
            "poll_after_ms": POLL_AFTER_MS, "message": gettext(devices.NOT_PAIRED_MESSAGE)}


def _paired(device) -> dict:
    return {"status": "paired", "name": device.name, "location": device.location}


@api_bp.post("/kiosk/pairing")
@csrf.exempt
def kiosk_pairing_start():
    throttle.count_kiosk_request(None, request.remote_addr)
    device = _already_paired()
    if device is not None:
        return _answer(_paired(device))
    secret, entry = pairing.start(request.cookies.get(PAIRING_COOKIE), request.remote_addr or "")
    response = _answer(_pending(entry))
    response.set_cookie(PAIRING_COOKIE, secret, max_age=int((pairing.CODE_TTL + pairing.COLLECT_TTL).total_seconds()),
                        secure=_secure(), httponly=True, samesite="Strict", path="/api/v1/kiosk/pairing")
    if presented_token():  # a revoked kiosk's stale cookie: drop it, the kiosk pairs again
        response.delete_cookie(TOKEN_COOKIE, path="/", secure=_secure(), httponly=True, samesite="Strict")
    return response


@api_bp.get("/kiosk/pairing")
def kiosk_pairing_poll():
    throttle.count_kiosk_request(None, request.remote_addr)
    device = _already_paired()
    if device is not None:
        return _answer(_paired(device))
    result = pairing.collect(request.cookies.get(PAIRING_COOKIE))
    if result.status == "pending":
        return _answer(_pending(result.pairing))
    if result.status == "expired":
        return _answer({"status": "expired", "message": gettext(PAIRING_EXPIRED)})
    response = set_token_cookie(_answer(_paired(result.device)), result.token)
    response.delete_cookie(PAIRING_COOKIE, path="/api/v1/kiosk/pairing", secure=_secure(), httponly=True,
                           samesite="Strict")
    return response
