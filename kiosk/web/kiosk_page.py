"""The kiosk screen: the page a person at the kiosk sees."""

from __future__ import annotations

from flask import Blueprint, current_app, make_response, render_template
from flask_babel import gettext

from ..gesture_vocabulary import kiosk_vocabulary
from ..services.readiness import liveness_files_present
from .gesture_pictograms import teaching
from .i18n import KIOSK_COOKIE, remember, requested_kiosk_language
from .kiosk_text import kiosk_text

kiosk_bp = Blueprint("kiosk_page", __name__)


@kiosk_bp.get("/")
def index():
    # A missing liveness model is said on the screen, where the site sees it on its first day.
    liveness_missing = current_app.config.get("KIOSK_LIVENESS_POLICY") != "off" and not liveness_files_present()
    chosen = requested_kiosk_language()  # /?lang=de: this kiosk's language from now on
    page = render_template("kiosk.html", kiosk_id=current_app.config["KIOSK_ID"], liveness_missing=liveness_missing,
                           lessons=teaching(), touch_confirm=current_app.config.get("KIOSK_TOUCH_CONFIRM", False),
                           kiosk_text=kiosk_text(), gestures=kiosk_vocabulary(gettext))
    return remember(make_response(page), KIOSK_COOKIE, chosen) if chosen else page
