"""The body each gesture is taught with: one pose per gesture, in the classifier's own terms.

The kiosk shows a person what an O, an X and both-arms-up look like with pictograms drawn from
these poses (``kiosk/web/gesture_pictograms.py``), and ``tests/test_gesture_poses.py`` checks
that the shipped classifier reads each pose as the gesture it teaches: a picture that drifted
away from what the classifier accepts would teach a gesture the kiosk refuses.

Units and axes are those of :func:`kiosk.vision.gestures.normalize_arms`: shoulder widths, the
shoulder centre at (0, 0), x to the image's right, y down. Rows: shoulder, shoulder, elbow,
elbow, wrist, wrist, the arm on the image's right first. The arm lengths are the synthesized
body's (``training/synthesize_gestures.py``: upper arm and forearm 0.65-0.95 shoulder widths).
Gesture names come from :data:`kiosk.vision.gestures.GESTURES`, the one list of them.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from .gestures import GESTURES, IDLE

#: The gestures a person is taught, in the order the kiosk shows them.
TAUGHT: tuple[str, ...] = tuple(name for name in GESTURES if name != IDLE)

_O, _X, _CAPTURE = TAUGHT

_POSES: dict[str, tuple[tuple[float, float], ...]] = {
    # Both hands joined above the head, elbows out: a ring (BRIEF section 3).
    _O: ((0.5, 0.0), (-0.5, 0.0), (0.75, -0.85), (-0.75, -0.85), (0.07, -1.45), (-0.07, -1.45)),
    # Forearms crossed in front of the chest: each wrist past the midline, above its own elbow.
    # The elbows come forward, so the upper arms look short, as the camera sees them.
    _X: ((0.5, 0.0), (-0.5, 0.0), (0.45, 0.6), (-0.45, 0.6), (-0.3, 0.05), (0.3, 0.05)),
    # Both arms up and apart, nearly straight, 55 degrees above the horizontal: a V.
    _CAPTURE: ((0.5, 0.0), (-0.5, 0.0), (0.99, -0.7), (-0.99, -0.7), (1.47, -1.39), (-1.47, -1.39)),
    # Arms hanging down: where every gesture starts from (the pictograms' animation).
    IDLE: ((0.5, 0.0), (-0.5, 0.0), (0.6, 0.85), (-0.6, 0.85), (0.65, 1.7), (-0.65, 1.7)),
}
assert set(_POSES) == set(GESTURES), "one taught pose per gesture"

#: The rest of the figure, in the same units: the head (centre, radius) and the hips.
HEAD_CENTRE = (0.0, -0.95)
HEAD_RADIUS = 0.32
HIPS = ((0.38, 1.65), (-0.38, 1.65))


def taught_arms(name: str) -> NDArray[Any]:
    """(6, 2) arm points of the pose that teaches ``name`` (a name of ``GESTURES``)."""
    return np.array(_POSES[name], dtype=np.float64)
