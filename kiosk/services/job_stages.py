"""What a background job says it is doing (its stage line), as one vocabulary.

A job writes its stage once, in English, into its record; the console shows it in each reader's
language. So a stage is a catalogue template (``mark()``) with its values: ``stage(EMBEDDING_PHOTO,
done=3, total=40)`` is the English line "Embedding enrollment photo 3 of 40" that also remembers
its template and values; the job's record keeps both (``stage_template``, ``stage_values``) and the
console translates the template and fills the values in (``kiosk/web/i18n.py`` for pages,
``kiosk/web/console_text.py`` hands every template to the scripts).
"""

from __future__ import annotations

from typing import Any

from ..languages import mark

WAITING = mark("Waiting to start")
STARTING = mark("Starting")
DONE = mark("Done")
FAILED = mark("Failed")
SAVED = mark("Saved")
TRAINING_FACES = mark("Embedding the enrollment photos and fitting the classifier")
EMBEDDING_PHOTO = mark("Embedding enrollment photo %(done)s of %(total)s")
UPDATING_CLASSIFIER = mark("Updating the classifier with the new people")
FITTING_CLASSIFIER = mark("Fitting the classifier")
TRAINING_GESTURES = mark("Training the gesture classifier on the recorded samples")
LOADING_GESTURE_BASE = mark("Loading the base training set")
TRAINING_GESTURE_ROWS = mark("Training on %(base)s base skeletons and %(site)s site samples")
CHECKING_GESTURE_ROWS = mark("Checking the held-out YMCA rows")

ALL = (WAITING, STARTING, DONE, FAILED, SAVED, TRAINING_FACES, EMBEDDING_PHOTO, UPDATING_CLASSIFIER,
       FITTING_CLASSIFIER, TRAINING_GESTURES, LOADING_GESTURE_BASE, TRAINING_GESTURE_ROWS, CHECKING_GESTURE_ROWS)


class Stage(str):
    """The English stage line; ``template`` and ``values`` let a page say it in another language."""

    template: str
    values: dict[str, Any]

    def __new__(cls, template: str, **values: Any) -> Stage:
        line = super().__new__(cls, template % values if values else template)
        line.template, line.values = template, values
        return line


def stage(template: str, **values: Any) -> Stage:
    return Stage(template, **values)


def record_fields(line: str) -> dict[str, Any]:
    """What a job's record keeps of a stage line: the English, and its template and values when
    it has them (a line from elsewhere is its own template: shown as it is)."""
    if isinstance(line, Stage):
        return {"stage": str(line), "stage_template": line.template, "stage_values": dict(line.values)}
    return {"stage": str(line), "stage_template": str(line), "stage_values": {}}
