"""What the kiosk page shows for a machine's state: the prompt in words, the hold filling up, and
the snapshot the frame API answers with. Read-only: nothing here changes the machine."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .contract import Snapshot, State

if TYPE_CHECKING:
    from .machine import CheckInMachine

PROMPTS = {
    "no_face": "Look at the camera to check in",
    "multiple_faces": "One person at a time, please",
    "face_too_small": "Please step closer",
    "too_dark": "It is too dark here - please face the light",
    "too_bright": "Too much light - please step out of the glare",
    "too_blurry": "Please hold still",
}


# What the kiosk says once it has recorded a punch: plain English, kept together so that they are
# translated in one place. ``{greeting}`` is one of GREETINGS by the local hour.
RECORDED_PROMPTS = {
    "in": "{greeting}, {name}: in at {time}",
    "out": "Goodbye, {name}: {worked} today",
    "worked": "{hours} h {minutes} min",
    "in_untimed": "Welcome, {name}!",
    "out_untimed": "Goodbye, {name}!",
}
GREETINGS = ((12, "Good morning"), (18, "Good afternoon"), (24, "Good evening"))


def worked_words(seconds: float) -> str:
    """``8 h 12 min``: worked time as the kiosk says it (whole minutes, rounded down)."""
    minutes = int(max(0.0, seconds) // 60)
    return RECORDED_PROMPTS["worked"].format(hours=minutes // 60, minutes=minutes % 60)


def recorded_prompt(name: str, kind: str, local_time: str | None, worked_today_s: float | None) -> str:
    """What the kiosk says it recorded: "Good morning, Ada: in at 08:59" / "Goodbye, Ada: 8 h 12 min today"."""
    if kind == "check_out":
        if worked_today_s is None:
            return RECORDED_PROMPTS["out_untimed"].format(name=name)
        return RECORDED_PROMPTS["out"].format(name=name, worked=worked_words(worked_today_s))
    if local_time is None:
        return RECORDED_PROMPTS["in_untimed"].format(name=name)
    hour = int(local_time.split(":", 1)[0])
    greeting = next(words for until, words in GREETINGS if hour < until)
    return RECORDED_PROMPTS["in"].format(greeting=greeting, name=name, time=local_time)


def prompt(self: CheckInMachine) -> str:
    name = self.person_name or ""
    if self.state == State.IDLE:
        return PROMPTS.get(self.hint or "no_face", PROMPTS["no_face"])
    if self.state == State.IDENTIFYING:
        return PROMPTS.get(self.hint, "Hold still - recognising you...") if self.hint else "Hold still - recognising you..."
    if self.state == State.CONFIRMING:
        return f"Are you {name}? Make an O to confirm, an X to cancel."
    if self.state == State.SMILING:
        if self._capture is not None or self.liveness.smiling_from_the_start:
            if self.liveness.smiling_from_the_start:
                return f"{name}, relax your face for a moment, then give us a big smile."
            return f"Photo taken, {name}. Now a big smile to show it's really you."
        return f"Thanks, {name}! Now smile for your check-in photo :)"
    if self.state == State.UNKNOWN:
        return "Sorry, I don't recognise you. Please see an administrator."
    if self.state == State.CANCELLED:
        return {
            "second_face": "Cancelled: one person at a time, please.",
            "different_person": "Cancelled: please check in one person at a time.",
            "not_live": "Sorry, we could not see that you are here in person. Step up again, "
                        "look at the camera and smile, or see an administrator.",
        }.get(self._reason, "Cancelled. Step up again when you are ready.")
    if self.state == State.DONE:
        outcome = self._outcome
        if outcome and outcome.duplicate:
            done = "checked out" if outcome.kind == "check_out" else "checked in"
            return f"{name}, you have already {done}."
        if outcome and outcome.kind == "needs_review":
            return f"Thanks, {name}. An administrator will confirm this check-in."
        if outcome is None:
            return RECORDED_PROMPTS["in_untimed"].format(name=name)
        return recorded_prompt(name, outcome.kind, outcome.local_time, outcome.worked_today_s)
    return ""

def current_hold(self: CheckInMachine) -> dict | None:
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

def snapshot(self: CheckInMachine, now: float) -> Snapshot:
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
        prompt=prompt(self),
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
    )
