"""Where a frame's time goes (pipeline.FrameParts, kiosk bench's per-state profile) and the
yardstick it is compared with, the face_recognition recipe's frame (kiosk/benchmarks/recipe.py),
on real photos with the real models."""

from __future__ import annotations

from types import SimpleNamespace

import cv2
import pytest

from kiosk.benchmarks.checkin import PHOTO, kiosk_frame, live
from kiosk.benchmarks.recipe import FaceRecognitionRecipe
from kiosk.checkin.machine import CheckInMachine, MachineConfig, State
from kiosk.checkin.pipeline import FRAME_PARTS, FrameParts, analyse_frame
from kiosk.checkin.pose_hold import PoseHold
from kiosk.vision.pose import PoseEstimator

pytestmark = pytest.mark.models

FACES = PHOTO.parents[1]


class NoRecording:
    def recent_event(self, person_id):
        return None

    def record(self, *args, **kwargs):
        raise AssertionError("nothing is recorded here")


def test_the_parts_of_each_frame_add_up_to_its_server_time():
    identify = lambda bgr, face: SimpleNamespace(person_id=7, person="Ada Lovelace", score=0.9)  # noqa: E731
    machine = CheckInMachine(config=MachineConfig(), backend=NoRecording())
    machine.reset(0.0)
    pose, hold = PoseEstimator(tracking=True), PoseHold()
    per_state: dict[State, FrameParts] = {}
    total_ms = 0.0
    try:
        for i, frame in enumerate(live(kiosk_frame()) * 4):  # identifying, then confirming
            parts = per_state.setdefault(machine.state, FrameParts())
            before = parts.server_ms()
            result = analyse_frame(machine, frame, identify, pose, now=i / 15, pose_hold=hold, parts=parts)
            assert parts.server_ms() - before == pytest.approx(result.server_ms, abs=0.1)
            total_ms += result.server_ms
    finally:
        pose.close()
    assert set(per_state) == {State.IDLE, State.IDENTIFYING, State.CONFIRMING}
    for parts in per_state.values():
        assert set(parts.ms) <= set(FRAME_PARTS) and parts.ms["detection"] > 0
    assert per_state[State.IDENTIFYING].ms["embedding"] > 0 and "pose" not in per_state[State.IDENTIFYING].ms
    assert per_state[State.CONFIRMING].ms["pose"] > 0 and per_state[State.CONFIRMING].ms["emotion"] > 0
    assert sum(p.server_ms() for p in per_state.values()) == pytest.approx(total_ms, abs=0.1 * 24)


def test_the_recipe_finds_the_face_and_matches_only_its_person():
    known = [cv2.imread(str(FACES / folder / "2.jpg")) for folder in ("fr_obama", "lfw_Colin_Powell")]
    recipe = FaceRecognitionRecipe(known)
    assert recipe.known.shape == (2, 128)
    assert recipe.frame(kiosk_frame()) == [True, False]  # Obama's frame: Obama, not Powell
    assert recipe.frame(kiosk_frame(FACES / "lfw_Colin_Powell" / "1.jpg")) == [False, True]
