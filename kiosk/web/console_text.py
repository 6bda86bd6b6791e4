"""Every text the console's scripts write on a page, in the console's language.

The layout hands this to the scripts as JSON in ``<meta name="console-text">``
(``templates/admin/layout.html``); ``static/js/admin.js`` looks words up by key with
``Admin.text(key, values)``, so the scripts hold keys, never words, and one catalogue
(``kiosk/translations``) covers the pages and their scripts. Names and numbers go in as
``%(name)s`` placeholders, filled by the script.
"""

from __future__ import annotations

from flask_babel import gettext as _


def console_text() -> dict[str, str]:
    return {
        # The server's answer when it sent no sentence of its own (admin.js).
        "server_answered": _("The server answered %(status)s."),
        # The admin's webcam (admin.js: enrollment shots, gesture samples).
        "camera.off": _("The camera is off."),
        "camera.needs_https": _("This browser cannot open the camera here (it needs HTTPS)."),
        "camera.starting": _("Starting the camera…"),
        "camera.failed": _("The camera could not be opened (%(error)s)."),
        "camera.start": _("Start camera"),
        "camera.stop": _("Stop camera"),
        # Recording gesture samples (admin-gestures.js).
        "gestures.ready": _("Ready. Choose the gesture, strike the pose, then record."),
        "gestures.recorded": _("Samples recorded: %(count)s (%(gesture)s)."),
        # Updating recognition from the Recognition page (admin-training.js).
        "training.progress": _("Retraining progress"),
        "training.done": _("Retrained. Reloading…"),
        "training.failed": _("Retraining failed: %(error)s"),
        "training.unknown_error": _("unknown error"),
    }
