"""Helpers for the gesture and pose tests (a plain module: ``from gesture_helpers import ...``)."""

from __future__ import annotations

import csv
import importlib.util
from functools import lru_cache
from pathlib import Path

import numpy as np

from kiosk.vision.gestures import YMCA_ASPECT
from kiosk.vision.pose import ARM_LANDMARKS, PoseLandmarks

TESTS_DIR = Path(__file__).resolve().parent
GESTURE_DATA = TESTS_DIR / "data" / "gestures"
REPO = TESTS_DIR.parent


@lru_cache(maxsize=1)
def heldout_rows() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The held-out YMCA rows (never used in training): (labels, isotropic arm points (N, 6, 2), steady)."""
    labels, arms, steady = [], [], []
    with open(GESTURE_DATA / "ymca_heldout.csv", newline="") as handle:
        for row in csv.DictReader(handle):
            labels.append(row["label"])
            steady.append(row["steady"] == "1")
            values = [float(row[f"{joint}_{axis}"]) for joint in ("ls", "rs", "le", "re", "lw", "rw") for axis in "xy"]
            arms.append(values)
    points = np.asarray(arms).reshape(-1, 6, 2)
    points[:, :, 0] *= YMCA_ASPECT
    points.setflags(write=False)
    return np.asarray(labels), points, np.asarray(steady)


def landmarks_from_arms(arms: np.ndarray, image_size: tuple[int, int], visibility: float = 0.99) -> PoseLandmarks:
    """33 MediaPipe rows with the arms at ``arms`` (isotropic units: image heights) and a head
    above the shoulders. For tests about geometry; real landmarks come from the pose tests."""
    width, height = image_size
    arms = np.asarray(arms, dtype=np.float64)
    rows = np.zeros((33, 4))
    centre = (arms[0] + arms[1]) / 2
    shoulder_width = np.linalg.norm(arms[0] - arms[1])
    rows[:, :2] = centre - [0, 0.6 * shoulder_width]  # head points (and the unused rest) above the shoulders
    rows[:, 3] = visibility
    for index, point in zip(ARM_LANDMARKS, arms):
        rows[index, :2] = point
    rows[:, 0] *= height / width
    return PoseLandmarks(array=rows, image_size=(width, height))


@lru_cache(maxsize=1)
def synthesizer():
    """training/synthesize_gestures.py, loaded by path (training/ is not a package)."""
    spec = importlib.util.spec_from_file_location("synthesize_gestures", REPO / "training" / "synthesize_gestures.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def skeleton(label: str, visible: float = 0.99) -> list[list[float]]:
    """33 landmark rows [x, y, z, visibility] of a person facing the camera (image coordinates)."""
    rows = [[0.5, 0.3, 0.0, 0.99] for _ in range(33)]
    l_sh, r_sh = [0.6, 0.45], [0.4, 0.45]  # the person's left shoulder is on the image's right
    arms = {
        "O": ([0.62, 0.3], [0.38, 0.3], [0.52, 0.18], [0.48, 0.18]),
        "X": ([0.58, 0.6], [0.42, 0.6], [0.42, 0.5], [0.58, 0.5]),
        "capture": ([0.7, 0.3], [0.3, 0.3], [0.78, 0.15], [0.22, 0.15]),
        "idle": ([0.62, 0.6], [0.38, 0.6], [0.62, 0.75], [0.38, 0.75]),
    }[label]
    for index, point in zip((11, 12, 13, 14, 15, 16), (l_sh, r_sh, *arms)):
        rows[index] = [point[0], point[1], 0.0, visible]
    return rows
