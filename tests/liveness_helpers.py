"""Frames for the liveness tests, built from real photos (kiosk/benchmarks/spoof_frames.py): the
enrolled Barack Obama's own body making the gestures with his neutral face, then his smile; and a
print of George W Bush (enrolled) held over that body's face."""

from __future__ import annotations

from pathlib import Path

import cv2

from kiosk.benchmarks.checkin import live
from kiosk.benchmarks.spoof_frames import held_print, phone_screen, swap_face, wobble

DATA = Path(__file__).parent / "data"
GESTURES = DATA / "gestures"
FACES = DATA / "faces"
POSES = ("arms_out", "o", "v")


def read(path: Path):
    image = cv2.imread(str(path))
    assert image is not None, path
    return image


def bodies() -> dict:
    """Obama's body making the kiosk's gestures (the arm composites: one face position for all three)."""
    return {pose: read(GESTURES / f"composite_obama_{pose}.jpg") for pose in POSES}


def live_frames() -> dict:
    """(pose, "neutral" | "smiling") -> frames: his own face (photos not enrolled) on his own body."""
    neutral, smiling = read(FACES / "fr_obama" / "4.jpg"), read(FACES / "fr_obama" / "5.jpg")
    return {
        (pose, mood): live(swap_face(body, neutral if mood == "neutral" else smiling))
        for pose, body in bodies().items() for mood in ("neutral", "smiling")
    }


def print_frames() -> dict:
    """(kind, pose) -> frames: Bush printed head and shoulders, held over the body's face: still,
    moved a little on each frame, a smiling print, and the photo on a phone screen."""
    plain = read(FACES / "lfw_George_W_Bush" / "4.jpg")
    smiling = read(DATA / "liveness_sequences" / "bush_smiling_lfw_6.jpg")
    frames = {}
    for pose, body in bodies().items():
        frames[("still", pose)] = live(held_print(body, plain))
        frames[("smiling", pose)] = live(held_print(body, smiling))
        frames[("moved", pose)] = [held_print(body, plain, shift=shift, angle=angle) for shift, angle in wobble(12)]
        frames[("phone", pose)] = live(phone_screen(body, plain))
    return frames
