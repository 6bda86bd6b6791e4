"""Every text kiosk.js writes on the screen, in the kiosk's language.

The page hands this to the script as a JSON data block (``templates/kiosk.html``): kiosk.js holds
keys, never words, so one catalogue (``kiosk/translations``) covers the page, the script and the
server's prompts. Names and numbers go in as ``%(name)s`` placeholders, filled by the script.
"""

from __future__ import annotations

from flask_babel import gettext as _


def kiosk_text() -> dict[str, str]:
    return {
        # The state, written out (colour only repeats it).
        "state.STARTING": _("Starting"),
        "state.UNPAIRED": _("Not paired"),
        "state.IDLE": _("Waiting for someone"),
        "state.IDENTIFYING": _("Identifying"),
        "state.CONFIRMING": _("Please confirm"),
        "state.SMILING": _("Smile!"),
        "state.DONE": _("Done"),
        "state.UNKNOWN": _("Not recognised"),
        "state.CANCELLED": _("Cancelled"),
        "state.CAMERA_ERROR": _("Camera problem"),
        # The camera.
        "camera.blocked": _("Camera access is blocked"),
        "camera.blocked.detail": _("Allow this page to use the camera (the camera icon in the address bar), then "
                                   "reload. If it keeps failing, please see an administrator."),
        "camera.missing": _("No camera found"),
        "camera.missing.detail": _("Connect a camera to this kiosk, then reload the page. Please see an "
                                   "administrator."),
        "camera.busy": _("The camera is busy"),
        "camera.busy.detail": _("Another program is using the camera. Close it (or unplug and replug the camera), "
                                "then reload."),
        "camera.failed": _("The camera could not start"),
        "camera.failed.detail": _("Reload the page; if it keeps failing, please see an administrator."),
        "camera.insecure": _("This page must be opened over HTTPS"),
        "camera.insecure.detail": _("Browsers only give the camera to secure pages. Open the kiosk with its "
                                    "https:// address."),
        "camera.unsupported": _("This browser cannot use the camera"),
        "camera.unsupported.detail": _("Use a current Chrome, Edge or Safari."),
        "camera.ended": _("The camera was disconnected"),
        "camera.ended.detail": _("Reconnect the camera, then reload the page."),
        "camera.starting": _("Starting the camera..."),
        "starting": _("Starting..."),
        # The connection to the server.
        "reconnecting": _("Reconnecting..."),
        "not_authorised": _("This kiosk is not authorised. Please see an administrator."),
        "out_of_service": _("Out of service, please call the operator. For the operator: %(message)s"),
        "refused_picture": _("The kiosk service refused the picture; retrying."),
        "answer_lost": _("The answer did not reach the kiosk service."),
        "rate_limited": _("Too many requests: the kiosk waits %(seconds)s s before sending again."),
        # The person's card.
        "card.welcome": _("Welcome,"),
        "card.goodbye": _("Goodbye,"),
        "card.are_you": _("Are you"),
        "card.since": _("Since %(time)s"),
        "card.checked_in": _("Checked in"),
        "card.checked_in_at": _("Checked in at %(time)s"),
        "card.checked_out": _("Checked out"),
        "card.checked_out_at": _("Checked out at %(time)s"),
        "card.checked_out_worked": _("Checked out at %(time)s: %(hours)s h %(minutes)s min today"),
        "card.photo_alt": _("Check-in photo of %(name)s"),
        # Gestures and holds.
        # The gestures' own words come with the vocabulary (kiosk_vocabulary, data-gestures).
        "gesture.seen": _("Seen: %(gesture)s"),
        "gesture.keep": _("Keep holding %(gesture)s"),
        "smile.now": _("Now a big smile!"),
        "smile.keep": _("Keep smiling"),
        "hold.left": _("%(time)s left"),
        "hold.none": _("not holding"),
        # Pairing.
        "pairing.ask": _("This kiosk is not paired: ask an administrator"),
        "pairing.how": _("An administrator opens Devices in the admin console and types this code."),
        "pairing.unreachable": _("Cannot reach the kiosk service; retrying."),
        "pairing.done": _("Paired as %(name)s"),
    }
