"""What the kiosk screen says when the server refuses a kiosk request, in the kiosk's language.

The services' messages are written for the administrator reading a log or the API (English, with
file names and limits); a person at a kiosk reads them on the screen, so a request from the kiosk
(``kiosk.web.i18n.is_kiosk_request``) gets, by error code, the sentence below in the kiosk's
language as ``message``, and the service's own words as ``detail`` for whoever looks at the
network answer. A code not listed keeps the service's message (``rate_limited``: the kiosk script says its own).
"""

from __future__ import annotations

from flask_babel import gettext

from ..languages import mark

#: error code -> what the kiosk screen shows (placeholders from the error's own fields).
SCREEN_MESSAGES: dict[str, str] = {
    "kiosk_not_paired": mark("This kiosk is not paired: ask an administrator."),
    "model_unavailable": mark("A recognition model is missing or damaged on the server."),  # the fix: detail
    "database_unavailable": mark("The database cannot be reached right now; the kiosk keeps trying."),
    "frame_too_large": mark("The camera picture is too large (at most %(max_side)s pixels on each side). Reload "
                            "the kiosk page; if this comes back, see an administrator."),
    "bad_image": mark("The camera picture could not be read; the kiosk tries again."),
    "missing_field": mark("The camera picture did not arrive; the kiosk tries again."),
    "unsupported_media_type": mark("The camera picture did not arrive; the kiosk tries again."),
    "bad_answer": mark("The answer did not arrive; please answer again."),
    "too_many_pairings": mark("Too many kiosks are waiting to be paired; the kiosk tries again in a few minutes."),
    "pairing_unavailable": mark("No pairing code could be made; the kiosk tries again."),
    "internal_error": mark("Something went wrong on the server; the kiosk tries again."),
}

PAIRING_EXPIRED = mark("The pairing code expired: the kiosk shows a new one.")


def screen_message(code: str, detail: str, fields: dict) -> str | None:
    """The kiosk screen's sentence for error ``code`` in the request's language, or None (keep ``detail``)."""
    message = SCREEN_MESSAGES.get(code)
    if message is None:
        return None
    try:
        return gettext(message, **{key: value for key, value in fields.items() if isinstance(value, (int, float, str))})
    except (KeyError, ValueError):  # a field the error did not carry: the service's words then
        return None
