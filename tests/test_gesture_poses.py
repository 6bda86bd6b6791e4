"""The poses the kiosk teaches with pictograms are the gestures the shipped classifier reads, and
the pictograms are drawn from them."""

from __future__ import annotations

import re

import numpy as np
import pytest

from kiosk.vision.gesture_poses import TAUGHT, taught_arms
from kiosk.vision.gestures import GESTURES, IDLE, get_classifier, normalize_arms
from kiosk.web.gesture_pictograms import SCALE, WORDS, pictogram_svg, teaching

# Where a person might stand in a 4:3 frame and how large: the poses are placed there, in the
# classifier's isotropic units (image heights).
PLACEMENTS = [((0.66, 0.45), 0.18), ((0.4, 0.6), 0.12), ((0.9, 0.5), 0.25)]


def placed(arms: np.ndarray, centre, shoulder_width: float) -> np.ndarray:
    return np.asarray(centre) + arms * shoulder_width


@pytest.mark.parametrize("name", [*TAUGHT, IDLE])
def test_the_classifier_reads_each_taught_pose_as_its_gesture(name):
    classifier = get_classifier()
    for centre, width in PLACEMENTS:
        prediction = classifier.predict_arms(placed(taught_arms(name), centre, width))[0]
        assert prediction.gesture == name, (name, centre, prediction.probabilities)
        assert prediction.score > 0.8, (name, prediction.probabilities)


def test_every_gesture_but_idle_is_taught_and_named_from_the_one_list():
    assert set(TAUGHT) == set(GESTURES) - {IDLE}
    assert set(WORDS) == set(TAUGHT)
    assert [lesson["name"] for lesson in teaching()] == list(TAUGHT)


def test_taught_poses_are_already_normalised():
    # Shoulder centre at the origin, one shoulder width apart: what normalize_arms gives back.
    for name in TAUGHT:
        arms = taught_arms(name)
        assert np.allclose(normalize_arms(arms), arms)


def points_of(svg: str, css_class: str) -> list[list[tuple[int, int]]]:
    lines = re.findall(rf'<polyline class="pictogram-arm {css_class}" points="([^"]+)"', svg)
    return [[tuple(int(v) for v in pair.split(",")) for pair in line.split()] for line in lines]


@pytest.mark.parametrize("name", TAUGHT)
def test_the_pictogram_draws_the_taught_pose_and_moves_through_arms_down(name):
    svg = str(pictogram_svg(name))
    arms = np.round(taught_arms(name) * SCALE).astype(int)
    drawn = points_of(svg, "arm-still")
    assert drawn == [[tuple(arms[row]) for row in (side, side + 2, side + 4)] for side in (0, 1)]
    # The animation starts and ends in the drawn pose and passes through the arms down.
    rest = np.round(taught_arms(IDLE) * SCALE).astype(int)
    for side, values in enumerate(re.findall(r'values="([^"]+)"', svg)):
        frames = values.split(";")
        down = " ".join(f"{x},{y}" for x, y in (rest[row] for row in (side, side + 2, side + 4)))
        assert frames[0] == frames[-1] != down and down in frames
        assert " ".join(f"{x},{y}" for x, y in drawn[side]) == frames[0]
    # Decorative (the sentence beside it says the same), nothing fetched, no script or style.
    assert 'aria-hidden="true"' in svg and "href" not in svg and "<script" not in svg and "style=" not in svg
