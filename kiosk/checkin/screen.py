"""What the kiosk page shows for a machine's state: the prompt in words, the hold filling up, and
the snapshot the frame API answers with. Read-only: nothing here changes the machine.

Every prompt is English source text for the catalogues (``kiosk/translations``); the caller passes
the kiosk's ``gettext`` (``kiosk.languages.gettext_for``), English when it passes none. Names go in
with ``%(name)s`` after translating, so a translation may put the name where its language wants it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..languages import Gettext, mark
from .contract import Snapshot, State

if TYPE_CHECKING:
    from .machine import CheckInMachine

PROMPTS = {
    "no_face": mark("Look at the camera to check in"),
    "multiple_faces": mark("One person at a time, please"),
    "face_too_small": mark("Please step closer"),
    "too_dark": mark("It is too dark here - please face the light"),
    "too_bright": mark("Too much light - please step out of the glare"),
    "too_blurry": mark("Please hold still"),
}
CANCELLED = {
    "second_face": mark("Cancelled: one person at a time, please."),
    "different_person": mark("Cancelled: please check in one person at a time."),
    "not_live": mark("Sorry, we could not see that you are here in person. Step up again, "
                     "look at the camera and smile, or see an administrator."),
}
CANCELLED_BY_THE_PERSON = mark("Cancelled. Step up again when you are ready.")


def _english(message: str) -> str:
    return message


# What the kiosk says once it has recorded a punch, whole sentences so that each language may
# order them its own way; the greeting follows the local hour (before noon, before 18:00, after).
GREETED_IN = ((12, mark("Good morning, %(name)s: in at %(time)s")),
              (18, mark("Good afternoon, %(name)s: in at %(time)s")),
              (24, mark("Good evening, %(name)s: in at %(time)s")))


def worked_words(seconds: float, gettext: Gettext | None = None) -> str:
    """``8 h 12 min``: worked time as the kiosk says it (whole minutes, rounded down)."""
    _ = gettext or _english
    minutes = int(max(0.0, seconds) // 60)
    return _("%(hours)d h %(minutes)d min") % {"hours": minutes // 60, "minutes": minutes % 60}


def recorded_prompt(name: str, kind: str, local_time: str | None, worked_today_s: float | None,
                    gettext: Gettext | None = None) -> str:
    """What the kiosk says it recorded: "Good morning, Ada: in at 08:59" / "Goodbye, Ada: 8 h 12 min today"."""
    _ = gettext or _english
    if kind == "check_out":
        if worked_today_s is None:
            return _("Goodbye, %(name)s!") % {"name": name}
        return _("Goodbye, %(name)s: %(worked)s today") % {"name": name, "worked": worked_words(worked_today_s, _)}
    if local_time is None:
        return _("Welcome, %(name)s!") % {"name": name}
    hour = int(local_time.split(":", 1)[0])
    sentence = next(words for until, words in GREETED_IN if hour < until)
    return _(sentence) % {"name": name, "time": local_time}


def prompt(self: CheckInMachine, gettext: Gettext | None = None) -> str:
    _ = gettext or _english
    name = {"name": self.person_name or ""}
    if self.state == State.IDLE:
        return _(PROMPTS.get(self.hint or "no_face", PROMPTS["no_face"]))
    if self.state == State.IDENTIFYING:
        return _(PROMPTS[self.hint]) if self.hint in PROMPTS else _("Hold still - recognising you...")
    if self.state == State.CONFIRMING:
        return _("Are you %(name)s? Make an O to confirm, an X to cancel.") % name
    if self.state == State.SMILING:
        if self._capture is not None or self.liveness.smiling_from_the_start:
            if self.liveness.smiling_from_the_start:
                return _("%(name)s, relax your face for a moment, then give us a big smile.") % name
            return _("Photo taken, %(name)s. Now a big smile to show it's really you.") % name
        return _("Thanks, %(name)s! Now smile for your check-in photo :)") % name
    if self.state == State.UNKNOWN:
        return _("Sorry, I don't recognise you. Please see an administrator.")
    if self.state == State.CANCELLED:
        return _(CANCELLED.get(self._reason, CANCELLED_BY_THE_PERSON))
    if self.state == State.DONE:
        outcome = self._outcome
        if outcome and outcome.duplicate:
            if outcome.kind == "check_out":
                return _("%(name)s, you have already checked out.") % name
            return _("%(name)s, you have already checked in.") % name
        if outcome and outcome.kind == "needs_review":
            return _("Thanks, %(name)s. An administrator will confirm this check-in.") % name
        if outcome is None:
            return _("Welcome, %(name)s!") % name
        return recorded_prompt(name["name"], outcome.kind, outcome.local_time, outcome.worked_today_s, _)
    return ""

def current_hold(self: CheckInMachine) -> dict[str, Any] | None:
    """The hold the person is in the middle of (a gesture, or a smile while SMILING)."""
    if self.state not in (State.CONFIRMING, State.SMILING):
        return None
    hold = self._gesture
    if hold is not None and hold.current is not None and not hold.complete:
        return {"kind": "gesture", "name": hold.current, "progress": round(hold.progress, 3),
                "remaining_s": round(hold.remaining_s, 2), "hold_s": hold.hold_s}
    if self.state == State.SMILING and self._capture is not None and not self.liveness.expression_passed:
        # The photo is taken; the ring fills as the face rises from its neutral look to a smile.
        progress = self.liveness.expression_progress
        return {"kind": "smile", "name": "liveness", "progress": round(progress, 3), "remaining_s": 0.0,
                "hold_s": 0.0}
    smile = self._smile
    if self.state == State.SMILING and smile is not None and smile.held and not smile.done:
        return {"kind": "smile", "name": "smile", "progress": round(smile.hold_progress, 3),
                "remaining_s": round(max(0.0, smile.hold_s - smile.held_s), 2), "hold_s": smile.hold_s}
    return None

def snapshot(self: CheckInMachine, now: float, gettext: Gettext | None = None) -> Snapshot:
    gesture = None
    if self.state in (State.CONFIRMING, State.SMILING) and self._last_gesture[0] is not None:
        hold = self._gesture
        gesture = {
            "name": self._last_gesture[0],
            "score": round(float(self._last_gesture[1]), 3),
            "held": hold.frames if hold else 0,
            "needed": self.config.gesture_hold_frames,
            "held_s": round(hold.held_s, 2) if hold else 0.0,
            "hold_s": self.config.gesture_hold_s,
            "progress": round(hold.progress, 3) if hold else 0.0,
        }
    outcome = self._outcome if self.state == State.DONE else None
    return Snapshot(
        state=self.state,
        prompt=prompt(self, gettext),
        hint=self.hint if self.state in (State.IDLE, State.IDENTIFYING) else None,
        person_name=self.person_name if self.state in (State.CONFIRMING, State.SMILING, State.DONE) else None,
        gesture=gesture,
        hold=current_hold(self),
        happy=self._happy if self.state in (State.SMILING, State.DONE) else None,
        countdown=self.countdown(now),
        photo_token=outcome.photo_token if outcome else None,
        checked_in_at=outcome.timestamp if outcome else None,
        event_kind=outcome.kind if outcome else None,
        duplicate=bool(outcome and outcome.duplicate),
        worked_today_s=outcome.worked_today_s if outcome else None,
    )
