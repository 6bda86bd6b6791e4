"""How a kiosk presents its device token over HTTP, and the two ways a kiosk browser gets one.

While ``KIOSK_REQUIRE_PAIRING`` is on (the default; see ``kiosk/services/devices.py``) each
kiosk presents its token with every request to ``/api/v1/kiosk/*`` (except pairing itself), in
one of two ways (both accepted, header first):

* the ``X-Kiosk-Token`` request header (scripts, non-browser kiosks, the test suite:
  ``kiosk devices add NAME --json`` prints one);
* the ``kiosk_device_token`` cookie (HttpOnly, Secure, SameSite=Strict, 400 days), which a
  kiosk browser gets by pairing: the page shows a code, an administrator approves it, the page's
  poll answer sets the cookie (``kiosk/web/api/kiosk_pairing.py``). The older device link works
  too: ``https://HOST/?token=TOKEN`` opened once on the kiosk sets the cookie and redirects to
  ``/`` so the token leaves the address bar and the history. The page's ``fetch`` calls are
  same-origin, so the cookie rides along with every frame without any JavaScript.

A token that is presented but not valid is refused (401 ``kiosk_not_paired``), pairing
required or not.
"""

from __future__ import annotations

from functools import wraps
from urllib.parse import urlencode

from flask import Flask, Response, current_app, g, redirect, request

from ..services import devices
from .errors import error_response

TOKEN_HEADER = "X-Kiosk-Token"
TOKEN_COOKIE = "kiosk_device_token"
TOKEN_QUERY_PARAM = "token"
# Chrome caps cookie lifetimes at 400 days; a kiosk browser keeps its profile for months.
TOKEN_COOKIE_MAX_AGE_S = 400 * 24 * 3600


def presented_token() -> str | None:
    """The token this request carries: the header, else the cookie."""
    return request.headers.get(TOKEN_HEADER) or request.cookies.get(TOKEN_COOKIE) or None


def pairing_required() -> bool:
    return bool(current_app.config.get("KIOSK_REQUIRE_PAIRING", True))


def require_paired_kiosk() -> devices.PairedKiosk | None:
    """Call first in every route a kiosk uses to post frames or check people in.

    Returns the paired device (also kept in ``g.kiosk_device``) when the request carries a
    valid token, ``None`` when pairing is off and no token came. Otherwise the service raises
    ``KioskNotPaired`` (401 ``kiosk_not_paired``), which the KioskError handler turns into JSON.
    """
    device = devices.authenticate(presented_token(), required=pairing_required())
    g.kiosk_device = device
    return device


require_device_token = require_paired_kiosk  # the former name


def paired_kiosk_required(view):
    """Decorator form of :func:`require_paired_kiosk`."""

    @wraps(view)
    def wrapped(*args, **kwargs):
        require_paired_kiosk()
        return view(*args, **kwargs)

    return wrapped


device_token_required = paired_kiosk_required  # the former name


def set_token_cookie(response: Response, token: str) -> Response:
    response.set_cookie(
        TOKEN_COOKIE,
        token,
        max_age=TOKEN_COOKIE_MAX_AGE_S,
        secure=bool(current_app.config.get("SESSION_COOKIE_SECURE", True)),
        httponly=True,  # page scripts never need it: the browser sends it with fetch()
        samesite="Strict",
        path="/",
    )
    # The token must not stay in any cache.
    response.headers["Cache-Control"] = "no-store"
    return response


def _adopt_token_from_link():
    """``GET /?token=...`` on the kiosk: keep the token in a cookie, drop it from the URL."""
    if request.method != "GET" or request.path != "/" or TOKEN_QUERY_PARAM not in request.args:
        return None
    token = request.args.get(TOKEN_QUERY_PARAM, "")
    device = devices.find_device_by_token(token)
    if device is None:
        return error_response(
            401, devices.KioskNotPaired.code,
            "This kiosk link is not valid: the kiosk may have been revoked or paired again. "
            "Open the kiosk page without it and ask an administrator to pair it.",
        )
    devices.touch(device)
    rest = [(key, value) for key, value in request.args.items(multi=True) if key != TOKEN_QUERY_PARAM]
    return set_token_cookie(redirect("/" + (f"?{urlencode(rest)}" if rest else ""), code=303), token)


def init_app(app: Flask) -> None:
    """Install the ``/?token=...`` hook that gives a kiosk browser its device cookie (idempotent)."""
    if app.extensions.get("kiosk_devices"):
        return
    app.extensions["kiosk_devices"] = True
    app.before_request(_adopt_token_from_link)
