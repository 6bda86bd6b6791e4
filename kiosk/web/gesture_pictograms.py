"""Pictograms of the gestures the kiosk asks for, drawn as inline SVG from the taught poses.

The figure is drawn from ``kiosk.vision.gesture_poses`` (the poses the classifier is checked to
accept), so the picture and the classifier cannot disagree. Each arm holds the gesture, drops
down for a moment and rises into it again (SMIL, no script: the page runs under ``script-src 'self'``); a
still drawing of the gesture sits beside it for screens that ask for reduced motion, the CSS
shows one of the two. Served with the page: no file to fetch, nothing from outside.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _
from markupsafe import Markup

from ..vision.gesture_poses import HEAD_CENTRE, HEAD_RADIUS, HIPS, TAUGHT, taught_arms
from ..vision.gestures import IDLE

SCALE = 100  # SVG units per shoulder width
VIEW_BOX = "-165 -165 330 335"  # the widest pose (both arms up) and the hips
CYCLE_S = 4.0  # the gesture held, down, up into it again


def _xy(point) -> str:
    return f"{round(float(point[0]) * SCALE)},{round(float(point[1]) * SCALE)}"


def _arm_points(arms, side: int) -> str:
    """Shoulder, elbow, wrist of one arm (0: the arm on the image's right, 1: the other)."""
    return " ".join(_xy(arms[row]) for row in (side, side + 2, side + 4))


def pictogram_svg(name: str) -> Markup:
    """The inline SVG of the gesture ``name`` (one of ``TAUGHT``); decorative: the sentence
    beside it says the same in words."""
    pose, rest = taught_arms(name), taught_arms(IDLE)
    shoulder_a, shoulder_b = pose[0], pose[1]
    torso = f"M{_xy(shoulder_a)} L{_xy(HIPS[0])} L{_xy(HIPS[1])} L{_xy(shoulder_b)} Z"
    parts = [
        f'<svg class="pictogram" viewBox="{VIEW_BOX}" aria-hidden="true" focusable="false" data-gesture="{name}">',
        f'<path class="pictogram-body" d="{torso}"/>',
        f'<circle class="pictogram-head" cx="{round(HEAD_CENTRE[0] * SCALE)}" cy="{round(HEAD_CENTRE[1] * SCALE)}"'
        f' r="{round(HEAD_RADIUS * SCALE)}"/>',
    ]
    for side in (0, 1):
        still, down = _arm_points(pose, side), _arm_points(rest, side)
        parts.append(f'<polyline class="pictogram-arm arm-still" points="{still}"/>')
        parts.append(
            f'<polyline class="pictogram-arm arm-moving" points="{still}">'
            f'<animate attributeName="points" dur="{CYCLE_S}s" repeatCount="indefinite" '
            f'keyTimes="0;0.55;0.7;0.8;1" values="{still};{still};{down};{down};{still}"/></polyline>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))


_O, _X, _CAPTURE = TAUGHT
#: What each gesture answers, and one sentence on how to make it (shown under its pictogram).
WORDS = {
    _O: (_("Yes"), _("Join your hands above your head.")),
    _X: (_("No"), _("Cross your forearms on your chest.")),
    _CAPTURE: (_("Photo now"), _("Both arms up and apart, like a V.")),
}


def teaching() -> list[dict]:
    """The kiosk's gesture lessons, in the order shown: name, pictogram, answer, sentence."""
    return [{"name": name, "svg": pictogram_svg(name), "answer": WORDS[name][0], "sentence": WORDS[name][1]}
            for name in TAUGHT]
