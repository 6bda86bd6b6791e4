"""``kiosk gesture IMAGE...`` on real photos (pixels through MediaPipe and the classifier), images
with nobody in them and broken files; ``kiosk train gesture`` and ``kiosk gesture-samples``.

No real photo shows anyone making O, X or capture (see tests/data/gestures/SOURCES.csv). The
real photos are people with folded arms, waving one arm, arms down, seated, hands clasped, and
a face crop: all must read idle (the dangerous error is a yes nobody gave). The two
``composite_*`` images are *mirror composites* of a real photo (one raised arm mirrored, so
both arms are raised apart): real pixels, not a real pose; they read capture.
"""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from gesture_helpers import GESTURE_DATA

REAL_PHOTOS = {
    # file: (gesture, whether the classifier decides: False = the arms are not all in view)
    "obama_folded_arms.jpg": ("idle", True),
    "obama_folded_arms_2.jpg": ("idle", True),
    "biden_folded_arms.jpg": ("idle", True),
    "leslie_hands_clasped.jpg": ("idle", True),
    "bbt_sitting.jpg": ("idle", True),
    "biden_one_arm_up.jpg": ("idle", False),
    "obama_one_arm_up.jpg": ("idle", False),
    "harington_arms_down.jpg": ("idle", False),
    "blair_face_crop.jpg": ("idle", False),
    "composite_obama_both_arms_up.jpg": ("capture", True),
    "composite_biden_both_arms_up.jpg": ("capture", True),
    # training/make_arm_composites.py: one photo's arm put back at other angles (the browser benchmark's camera)
    "composite_obama_arms_out.jpg": ("idle", True),
    "composite_obama_o.jpg": ("O", True),
    "composite_obama_v.jpg": ("capture", True),
}


def run_gesture(runner, *paths, details: bool = False) -> list[dict]:
    result = runner.invoke(args=["gesture", *(["--details"] if details else []), *map(str, paths)])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert [line["image"] for line in lines] == [str(p) for p in paths]
    return lines


@pytest.mark.models
def test_real_photos(runner):
    paths = [GESTURE_DATA / name for name in REAL_PHOTOS]
    for line in run_gesture(runner, *paths, details=True):
        name = line["image"].rsplit("/", 1)[-1]
        gesture, classified = REAL_PHOTOS[name]
        assert line["status"] == "ok", name
        assert line["gesture"] == gesture, (name, line)
        assert set(line) == {"image", "status", "gesture", "score", "probabilities", "reason"}
        assert (line["reason"] is None) == classified, (name, line["reason"])
        assert 0.5 <= line["score"] <= 1.0


@pytest.mark.models
def test_the_plain_line_has_exactly_the_documented_keys(runner):
    (line,) = run_gesture(runner, GESTURE_DATA / "obama_folded_arms_2.jpg")
    assert set(line) == {"image", "status", "gesture", "score"}


@pytest.mark.models
def test_nobody_and_broken_files_never_stop_the_command(runner, tmp_path):
    rng = np.random.default_rng(1)
    images = {
        "blank.png": np.full((480, 640, 3), 255, np.uint8),
        "noise.png": rng.integers(0, 256, (480, 640, 3), dtype=np.uint8),
        "wall.jpg": (np.full((480, 640, 3), (170, 180, 190), np.float32) + rng.normal(0, 4, (480, 640, 3)))
        .clip(0, 255)
        .astype(np.uint8),
    }
    for name, image in images.items():
        cv2.imwrite(str(tmp_path / name), image)
    photo = (GESTURE_DATA / "biden_folded_arms.jpg").read_bytes()
    (tmp_path / "truncated.jpg").write_bytes(photo[: len(photo) // 3])
    (tmp_path / "text.jpg").write_text("this is not an image")
    paths = [
        tmp_path / "blank.png",
        tmp_path / "truncated.jpg",
        tmp_path / "noise.png",
        tmp_path / "text.jpg",
        tmp_path / "missing.jpg",
        tmp_path / "wall.jpg",
        GESTURE_DATA / "biden_folded_arms.jpg",
    ]
    lines = run_gesture(runner, *paths)
    assert [line["status"] for line in lines] == [
        "no_person",
        "bad_image",
        "no_person",
        "bad_image",
        "bad_image",
        "no_person",
        "ok",
    ]
    for line in lines[:-1]:
        assert line["gesture"] is None and line["score"] is None
    assert lines[-1]["gesture"] == "idle"


def test_train_gesture_without_samples_says_why(runner):
    result = runner.invoke(args=["train", "gesture"])
    assert result.exit_code != 0
    assert "No gesture samples" in result.output


@pytest.mark.models
def test_gesture_samples_from_photos(runner, tmp_path):
    cv2.imwrite(str(tmp_path / "blank.png"), np.zeros((480, 640, 3), np.uint8))
    photos = [GESTURE_DATA / "obama_folded_arms_2.jpg", tmp_path / "blank.png", GESTURE_DATA / "blair_face_crop.jpg"]
    result = runner.invoke(args=["gesture-samples", "add", "idle", *map(str, photos)])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["status"] for line in lines] == ["ok", "no_person", "arms_not_visible"]
    listed = json.loads(runner.invoke(args=["gesture-samples", "list"]).stdout)
    assert listed["site_samples"] == {"O": 0, "X": 0, "capture": 0, "idle": 1}
    assert listed["source"] == "default"
    cleared = runner.invoke(args=["gesture-samples", "clear", "--yes"])
    assert "Deleted 1 sample" in cleared.output


@pytest.mark.parametrize("args", [["gesture"], ["gesture-samples", "add", "yes", "x.jpg"]])
def test_usage_errors_exit_non_zero(runner, args):
    assert runner.invoke(args=args).exit_code != 0
