"""How a kiosk presents its device token over HTTP, and the device link that gives it one.

When ``KIOSK_REQUIRE_DEVICE_TOKEN=1`` (see ``kiosk/services/devices.py``) each kiosk presents
its token with every frame, in one of two ways (both accepted, header first):

* the ``X-Kiosk-Token`` request header (scripts, non-browser kiosks, the test suite);
* the ``kiosk_device_token`` cookie, which the kiosk browser gets once: the operator opens
  ``https://HOST/?token=TOKEN`` on the kiosk; :func:`init_app`'s hook checks the token,
  sets the cookie (HttpOnly, Secure, SameSite=Strict, 400 days) and redirects to ``/`` so
  the token leaves the address bar and the browser history. The page's ``fetch`` calls are
  same-origin, so the cookie rides along with every frame without any JavaScript.
"""

from __future__ import annotations

from functools import wraps
from urllib.parse import urlencode

from flask import Flask, current_app, g, redirect, request

from ..models import KioskDevice
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


def tokens_required() -> bool:
    return bool(current_app.config.get("KIOSK_REQUIRE_DEVICE_TOKEN", False))


def require_device_token() -> KioskDevice | None:
    """Call first in every route a kiosk uses to post frames or check people in.

    Returns the registered device (also kept in ``g.kiosk_device``) when the request
    carries a valid token, ``None`` when tokens are not required and none valid was sent.
    When ``KIOSK_REQUIRE_DEVICE_TOKEN`` is on, the service raises ``DeviceTokenRequired`` (401)
    for a request without a token and ``DeviceTokenInvalid`` (403) for an unknown one; the
    KioskError handler turns them into JSON.
    """
    device = devices.authenticate(presented_token(), required=tokens_required())
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
    device = devices.find_device_by_token(token)
    if device is None:
        return error_response(
            403, devices.DeviceTokenInvalid.code,
            "This kiosk link is not valid: the device may have been removed or its token rotated. "
            "Ask an administrator for a new link (kiosk devices rotate NAME).",
        )
    devices.touch(device)
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
