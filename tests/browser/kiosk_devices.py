"""Pairing for the browser tests: kiosks must be paired (KIOSK_REQUIRE_PAIRING, on by default).

``register_kiosk(data_dir, name)`` registers a device in a server's data dir (in-process, as
``kiosk devices add`` does) and returns its token; ``pair_context(context, base_url, token)``
gives a browser context the device cookie a paired kiosk holds (what the pairing poll sets).
Tests about pairing itself (test_pairing_browser.py) pair through the page and the console.
"""

from __future__ import annotations

from pathlib import Path

TOKEN_COOKIE = "kiosk_device_token"


def register_kiosk(data_dir: Path, name: str) -> str:
    from kiosk import create_app
    from kiosk.config import Config
    from kiosk.extensions import db
    from kiosk.services.devices import register_device

    app = create_app(Config(data_dir))
    with app.app_context():
        _, token = register_device(name)
        db.session.remove()
        db.engine.dispose()
    return token


def pair_context(context, base_url: str, token: str) -> None:
    context.add_cookies([{"name": TOKEN_COOKIE, "value": token, "url": base_url, "httpOnly": True, "secure": True,
                          "sameSite": "Strict"}])
