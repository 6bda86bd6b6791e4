"""The gestures a kiosk understands, and what each means: the one list every part uses (the
classifier and its training, the check-in machine, the CLI, the database's check on recorded
samples, the admin's recording page and the kiosk page, which gets it from the server).

A base module, like ``kiosk.names``: the database tables (``kiosk.models``) sit under every layer
and check a sample's label against this list, so it cannot live in ``kiosk.vision``, which
re-exports it (``kiosk.vision.gestures.Gesture``, ``GESTURES``, ``IDLE``).

Image coordinates, y down; the person faces the camera:

* **O**: both hands joined above the head, the arms a ring or an arch ("yes, that's me");
* **X**: forearms crossed in front of the chest, each wrist past the body's midline ("no");
* **capture**: both arms raised up and apart, a V ("take the photo now");
* **idle**: anything else (arms down, one arm up, pointing, dancing, partly visible).
"""

from __future__ import annotations

import enum
from collections.abc import Callable

from .languages import mark


class Gesture(enum.StrEnum):
    """A gesture's name as the classifier, the API and the database write it (its value)."""

    O = "O"  # noqa: E741 - the gesture is called O
    X = "X"
    CAPTURE = "capture"
    IDLE = "idle"

    @property
    def meaning(self) -> str:
        """How to make it, for the person recording samples (the admin's page, the CLI's help)."""
        return _MEANINGS[self]

    @property
    def kiosk_words(self) -> str:
        """What the kiosk screen calls it while someone makes it."""
        return _KIOSK_WORDS[self]


_MEANINGS = {
    Gesture.O: mark("hands joined above the head"),
    Gesture.X: mark("forearms crossed on the chest"),
    Gesture.CAPTURE: mark("both arms up in a V"),
    Gesture.IDLE: mark("anything else"),
}
_KIOSK_WORDS = {
    Gesture.O: mark("O (yes)"),
    Gesture.X: mark("X (no)"),
    Gesture.CAPTURE: mark("arms up (take the photo)"),
    Gesture.IDLE: mark("no gesture"),
}

#: The names in the classifier's column order (a saved model lists its classes in this order).
GESTURES: tuple[str, ...] = tuple(gesture.value for gesture in Gesture)
IDLE: str = Gesture.IDLE.value


def label_check_sql(column: str = "label") -> str:
    """The SQL condition that a column holds one of the gesture names (the check constraint of
    ``gesture_sample.label``)."""
    return f"{column} IN ({', '.join(repr(name) for name in GESTURES)})"


def kiosk_vocabulary(gettext: Callable[[str], str] | None = None) -> dict[str, object]:
    """What the kiosk page needs to name gestures on screen (served in its HTML), in the kiosk's
    language when given its ``gettext``."""
    _ = gettext or (lambda message: message)
    return {"idle": IDLE, "capture": Gesture.CAPTURE.value, "prompt": _(confirm_prompt()),
            "words": {gesture.value: _(gesture.kiosk_words) for gesture in Gesture}}


def confirm_prompt() -> str:
    """What the kiosk asks for while it waits for a yes or a no (English: the catalogue's source)."""
    return CONFIRM_PROMPT


CONFIRM_PROMPT = mark("Make an O (yes) or an X (no)")
