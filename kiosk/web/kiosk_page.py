"""The kiosk screen: the page a person at the kiosk sees."""

from __future__ import annotations

from flask import Blueprint, current_app, render_template

kiosk_bp = Blueprint("kiosk_page", __name__)


@kiosk_bp.get("/")
def index():
    return render_template("kiosk.html", kiosk_id=current_app.config["KIOSK_ID"])
