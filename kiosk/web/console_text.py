"""Every text the console's scripts write on a page (static/js/admin*.js), in the console's language.

The console's layout hands this to the scripts in a ``console-text`` meta tag
(``templates/admin/layout.html``); ``Admin.t(key, values)`` in ``static/js/admin.js`` looks a key
up and fills its ``%(name)s`` placeholders, so the scripts hold keys, never words, and one
catalogue (``kiosk/translations``) covers the pages and their scripts.
"""

from __future__ import annotations

from datetime import date

from flask_babel import gettext as _

from ..services import job_stages, reports
from ..services.enrollment import PHOTO_OUTCOME_CODES
from .console_errors import CONSOLE_MESSAGES


def console_text() -> dict[str, str]:
    return {
        # The admin's webcam (admin.js), on the person page and the gestures page.
        "camera.off": _("The camera is off."),
        "camera.starting": _("Starting the camera…"),
        "camera.insecure": _("This browser cannot open the camera here (it needs HTTPS)."),
        "camera.failed": _("The camera could not be opened (%(error)s)."),
        "camera.start": _("Start camera"),
        "camera.stop": _("Stop camera"),
        # An answer of the server without a sentence of its own (admin.js).
        "server.status": _("The server answered %(status)s."),
        # Enrolling from the webcam (admin-webcam.js).
        "webcam.what_instead": _("Allow camera access, or upload photos instead."),
        "webcam.looking": _("Looking for a face…"),
        "webcam.shot": _("Shot %(number)s"),
        "webcam.discard": _("Discard shot %(number)s"),
        "webcam.taken": _("Shot %(number)s taken. Turn your head a little and take another."),
        "webcam.enrolling": _("Enrolling %(count)s photo(s)…"),
        "webcam.accepted": _("%(file)s: accepted"),
        "webcam.refused": _("%(file)s: refused — %(reason)s"),
        "webcam.summary": _("%(accepted)s of %(total)s accepted. Retrain the face model to apply them."),
        "webcam.summary_background": _("%(accepted)s of %(total)s accepted. Recognition is being updated in the "
                                       "background: the kiosk recognises the new photos in a minute or two."),
        "webcam.new_crop": _("New face crop from %(photo)s"),
        "webcam.new_quality": _("new · quality %(quality)s"),
        "webcam.new_quality_unknown": _("new · quality n/a"),
        # Following a bulk import (admin-import.js); the stage lines as the import page writes them.
        "import.done": _("Done"),
        "import.stopped": _("Stopped"),
        "import.importing": _("Step 1 of 2: importing photo %(done)s of %(total)s"),
        "import.rate": _("(%(rate)s photos/s, about %(left)s left)"),
        "import.training": _("Step 2 of 2: retraining the face model"),
        "import.counts": _("%(done)s of %(total)s photos: %(accepted)s accepted, %(refused)s refused, "
                           "%(duplicates)s duplicates."),
        "import.lost": _("Cannot follow the import: %(error)s"),
        # Recording gesture samples (admin-gestures.js).
        "gestures.ready": _("Ready. Choose the gesture, strike the pose, then record."),
        "gestures.recorded": _("Samples recorded: %(count)s (%(gesture)s)."),
        # Retraining a model (admin-training.js).
        "training.progress": _("Retraining progress"),
        "training.done": _("Retrained. Reloading…"),
        "training.failed": _("Retraining failed: %(error)s"),
        "training.unknown_error": _("unknown error"),
        "training.stage": _("%(stage)s (%(percent)s)"),
        # The stage lines a job writes (kiosk/services/job_stages.py), its values filled in by the script.
        **{"stage." + template: _(template) for template in job_stages.ALL},
        # A photo's refusal or warning the webcam enrollment gets from the API: by its code, the
        # console's sentence; Admin.refusal keeps the English where it is English.
        **{"refusal." + code: _(CONSOLE_MESSAGES[code]) for code in PHOTO_OUTCOME_CODES if code in CONSOLE_MESSAGES},
    }


def daily_chart_svg(counts: list[tuple[date, int]], title: str) -> str:
    """The days' bar chart with what a screen reader says of it in the console's language."""
    return reports.daily_chart_svg(
        counts, title=title, summary=_("%(title)s: %(start)s to %(end)s, %(total)s person-days, peak %(peak)s"),
        empty=_("%(title)s: no data"))
