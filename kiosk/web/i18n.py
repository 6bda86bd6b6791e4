"""Which language a request is in, and the console's language switch.

* **The kiosk** (its page and its ``/api/v1/kiosk/`` calls) speaks, first, the language an
  administrator set for that paired kiosk on the Devices page (central, so a change reaches the
  kiosk on its next frame whatever its browser once chose); else the language chosen in that
  browser: opened once as ``/?lang=de``, kept in the ``kiosk_language`` cookie (a year) - what an
  unpaired kiosk (pairing off) or one left on "site default" can still pick; else the site's
  ``KIOSK_LANGUAGE``. A person walking up never needs to pick one.
* **The console** follows the browser's languages (Accept-Language) until the administrator picks
  one with the switch in the navigation (the ``console_language`` cookie).

Flask-Babel asks :func:`select_locale` once per request; templates get ``_()``,
``current_language`` and the ``number``, ``percent`` and ``duration`` filters (figures as the
language writes them); the services get the code and make a Flask-free ``gettext`` from it.
"""

from __future__ import annotations

import math

from babel.numbers import format_decimal, format_percent
from babel.units import format_unit
from flask import Blueprint, Flask, current_app, g, redirect, request
from flask_babel import get_locale
from flask_babel import gettext as _

from ..errors import InvalidInput
from ..extensions import babel
from ..languages import LANGUAGES, TRANSLATIONS_DIR, language_code
from ..services.devices import language_of_token
from .device_link import presented_token

KIOSK_COOKIE = "kiosk_language"
CONSOLE_COOKIE = "console_language"
COOKIE_DAYS = 365

i18n_bp = Blueprint("i18n", __name__)


def is_kiosk_request() -> bool:
    return request.blueprint == "kiosk_page" or request.path.startswith("/api/v1/kiosk/")


def requested_kiosk_language() -> str | None:
    """The language named by ``?lang=`` on the kiosk page (400 for one the kiosk does not speak)."""
    value = request.args.get("lang")
    if value is None:
        return None
    code = language_code(value)
    if code is None:
        raise InvalidInput(f"The kiosk does not speak {value!r}: choose one of {', '.join(LANGUAGES)} (for example "
                           f"/?lang=de).", code="unknown_language")
    return code


def paired_kiosk_language() -> str | None:
    """The language set for the paired kiosk making this request (None: not paired, or none set)."""
    device = g.get("kiosk_device")  # the frame routes have read the device already
    if device is not None:
        return device.language
    return language_of_token(presented_token())


def kiosk_language() -> str:
    # Never raises: the error page for a bad ?lang= is rendered in a language too.
    asked = language_code(request.args.get("lang")) if request.blueprint == "kiosk_page" else None
    return (language_code(paired_kiosk_language()) or asked or language_code(request.cookies.get(KIOSK_COOKIE))
            or current_app.config["KIOSK_LANGUAGE"])


def console_language() -> str:
    chosen = language_code(request.cookies.get(CONSOLE_COOKIE))
    return chosen or request.accept_languages.best_match(list(LANGUAGES)) or current_app.config["KIOSK_LANGUAGE"]


def select_locale() -> str:
    return kiosk_language() if is_kiosk_request() else console_language()


def current_language() -> str:
    return str(get_locale() or current_app.config["KIOSK_LANGUAGE"])


def remember(response, cookie: str, code: str):
    response.set_cookie(cookie, code, max_age=COOKIE_DAYS * 24 * 3600,
                        secure=current_app.config["SESSION_COOKIE_SECURE"], httponly=True, samesite="Lax")
    return response


@i18n_bp.post("/language")
def choose_console_language():
    """The console's language switch: a form posting ``language`` (and the page to go back to)."""
    code = language_code(request.form.get("language"))
    if code is None:
        raise InvalidInput(f"Choose one of the console's languages: {', '.join(LANGUAGES)}.", code="unknown_language")
    back = request.form.get("next") or "/admin/"
    if not back.startswith("/") or back.startswith("//") or "\\" in back:
        back = "/admin/"  # only a page of this site
    return remember(redirect(back, code=303), CONSOLE_COOKIE, code)


def number(value: float, pattern: str | None = None) -> str:
    """A figure as the page's language writes it (``0,80`` in German); ``pattern`` as Babel's, e.g. ``0.00``."""
    return format_decimal(value, pattern, locale=current_language())


def percent(fraction: float) -> str:
    """A share as the page's language writes it, in whole percent rounded half up (as the pages'
    scripts round): ``85%`` in English, ``85 %`` in German and French."""
    return format_percent(math.floor(fraction * 100 + 0.5) / 100, locale=current_language())


def duration(seconds: float) -> str:
    """A wait in words for people, rounded: seconds under a minute, else minutes (``3 Min.`` in German)."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return format_unit(seconds, "duration-second", length="short", locale=current_language())
    return format_unit(-(-seconds // 60), "duration-minute", length="short", locale=current_language())


def job_stage(job) -> str:
    """A background job's stage line in the page's language (the job wrote it in English with its
    template and values: kiosk/services/job_stages.py); a line without a catalogue entry as written."""
    template = getattr(job, "stage_template", None) or job.stage
    try:
        return _(template, **(getattr(job, "stage_values", None) or {}))
    except (KeyError, ValueError, TypeError):  # a record from an older version: its English line
        return job.stage


def init_app(app: Flask) -> None:
    babel.init_app(app, locale_selector=select_locale, default_translation_directories=str(TRANSLATIONS_DIR),
                   default_locale="en")
    app.register_blueprint(i18n_bp)
    for helper in (number, percent, duration):
        app.add_template_filter(helper)
    app.add_template_global(job_stage)

    @app.context_processor
    def _language():
        return {"current_language": current_language(), "languages": LANGUAGES}
