"""Skip-and-hold between pose frames (kiosk/checkin/pose_hold.py): the rules on real frames, and
gestures through the real pose model and classifier with and without it, frame by frame at a
camera's pace. Recognition is a stand-in callable here (the frames are of one person; these tests
are about the pose, not about who it is)."""

from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest

from kiosk.benchmarks.checkin import live
from kiosk.checkin.machine import CheckInMachine, MachineConfig, State
from kiosk.checkin.pipeline import FRAME_PARTS, FrameParts, analyse_frame
from kiosk.checkin.pose_hold import PoseHold
from kiosk.vision.pose import PoseEstimator, PoseLandmarks

GESTURES = Path(__file__).parent / "data" / "gestures"
FPS = 15.0


def picture(name: str) -> np.ndarray:
    return cv2.imread(str(GESTURES / name))


ARMS_OUT, O_RING, V = "composite_obama_arms_out.jpg", "composite_obama_o.jpg", "composite_obama_v.jpg"
READING = PoseLandmarks(array=np.tile([0.5, 0.5, 0.0, 1.0], (33, 1)), image_size=(640, 480))
STEP = (State.CONFIRMING, 3.0)
BOX = (260, 60, 120, 150)


def kept(frame: np.ndarray) -> PoseHold:
    """A hold whose last two readings saw ``frame`` (a settled reading)."""
    hold = PoseHold()
    hold.keep(frame, READING, STEP, BOX, now=3.0 - 1 / FPS, every_s=0.1)
    hold.keep(frame, READING, STEP, BOX, now=3.0, every_s=0.1)
    return hold


def test_a_still_frame_reuses_the_reading_until_it_is_pose_every_s_old():
    first, drifted = live(picture(ARMS_OUT), 2)  # the second is the same scene, a grey level brighter
    hold = kept(first)
    assert hold.held(drifted, STEP, BOX, now=3.0 + 1 / FPS, every_s=0.1) is READING
    assert hold.held(drifted, STEP, BOX, now=3.1, every_s=0.1) is None  # as old as the cadence
    assert hold.held(drifted, STEP, BOX, now=3.0 + 1 / FPS, every_s=0.0) is None  # 0: the model every frame


def test_no_reading_is_reused_across_steps_after_a_move_or_without_a_person():
    frame = picture(ARMS_OUT)
    soon = 3.0 + 1 / FPS
    hold = kept(frame)
    assert hold.held(frame, (State.SMILING, 3.5), BOX, soon, 0.1) is None  # another step
    assert hold.held(frame, (State.CONFIRMING, 9.0), BOX, soon, 0.1) is None  # another check-in
    assert hold.held(frame, STEP, (300, 60, 120, 150), soon, 0.1) is None  # the face moved 40 px
    assert hold.held(frame, STEP, None, soon, 0.1) is None  # no face
    # The arms moved (out -> joined over the head) while the face stayed: read afresh.
    assert hold.held(picture(O_RING), STEP, BOX, soon, 0.1) is None
    assert hold.held(picture(V), STEP, BOX, soon, 0.1) is None
    nobody = kept(frame)
    nobody.keep(frame, None, STEP, BOX, now=3.0, every_s=0.1)
    assert nobody.held(frame, STEP, BOX, soon, 0.1) is None
    # Right after a movement the reading is not reused: the tracker's landmarks settle on a second look.
    moved = kept(picture(ARMS_OUT))
    moved.keep(picture(O_RING), READING, STEP, BOX, now=3.0, every_s=0.1)
    assert moved.held(picture(O_RING), STEP, BOX, soon, 0.1) is None
    moved.keep(picture(O_RING), READING, STEP, BOX, now=soon, every_s=0.1)
    assert moved.held(picture(O_RING), STEP, BOX, soon + 1 / FPS, 0.1) is READING


def test_the_cadence_is_a_checked_setting():
    assert MachineConfig().pose_every_s == 0.2
    assert MachineConfig.from_mapping({"KIOSK_CHECKIN_POSE_EVERY_S": "0"}).pose_every_s == 0.0
    for bad in ("-0.1", "2", "nan"):
        with pytest.raises(ValueError, match="KIOSK_CHECKIN_POSE_EVERY_S must be between 0 and 1"):
            MachineConfig.from_mapping({"KIOSK_CHECKIN_POSE_EVERY_S": bad})


# -- gestures through the real models -------------------------------------------------------


class NoRecording:
    def recent_event(self, person_id):
        return None

    def record(self, *args, **kwargs):
        raise AssertionError("nothing is recorded here")


def same_person(bgr, face):
    return SimpleNamespace(person_id=7, person="Ada Lovelace", score=0.9)


def confirm(frames: list[np.ndarray], pose_every_s: float, pose: PoseEstimator):
    """Stream ``frames`` at 15 frames/s to a machine in CONFIRMING; the states after each frame,
    how many frames ran the pose model, and the profile."""
    machine = CheckInMachine(config=MachineConfig(pose_every_s=pose_every_s), backend=NoRecording())
    machine.reset(0.0)
    machine.person_id, machine.person_name = 7, "Ada Lovelace"
    machine._enter(State.CONFIRMING, 0.0)
    pose.restart_tracking()
    hold, parts, states = PoseHold(), FrameParts(), []
    for i, frame in enumerate(frames):
        analyse_frame(machine, frame, same_person, pose, now=i / FPS, pose_hold=hold, parts=parts)
        states.append(machine.state)
    return states, hold, parts


@pytest.fixture(scope="module")
def tracker():
    pose = PoseEstimator(tracking=True)
    yield pose
    pose.close()


@pytest.mark.models
@pytest.mark.parametrize("gesture, ends_in", [(O_RING, State.SMILING), (V, State.SMILING)])
def test_a_held_gesture_is_read_no_later_than_with_the_model_on_every_frame(tracker, gesture, ends_in):
    frames = live(picture(ARMS_OUT)) + live(picture(gesture)) * 4  # 6 idle frames, then held
    every_frame, _, _ = confirm(frames, 0.0, tracker)
    skipping, hold, parts = confirm(frames, MachineConfig().pose_every_s, tracker)
    assert ends_in in every_frame and ends_in in skipping
    # Never later than with the model on every frame, and never before the gesture was shown
    # for the hold's time (from frame 6: 0.3 s is 4.5 frames). With fewer frames of the idle
    # pose the tracker's smoothing lets go of it sooner: the O may be read a frame earlier.
    earliest = 6 + math.ceil(MachineConfig().gesture_hold_s * FPS)
    assert earliest <= skipping.index(ends_in) <= every_frame.index(ends_in)
    assert hold.held_frames >= 1 and hold.fresh_frames + hold.held_frames == len(frames)
    assert set(parts.ms) <= set(FRAME_PARTS) and parts.ms["pose"] > 0 and parts.ms["detection"] > 0


@pytest.mark.models
@pytest.mark.parametrize("every_s, one_in", [(0.1, 2), (0.2, 3)])
def test_a_still_pose_runs_the_model_on_one_frame_in_n_and_is_never_read_as_a_gesture(tracker, every_s, one_in):
    frames = live(picture(ARMS_OUT)) * 4  # 24 frames, 1.6 s of someone standing still, arms out
    states, hold, _ = confirm(frames, every_s, tracker)
    assert set(states) == {State.CONFIRMING}
    assert hold.fresh_frames + hold.held_frames == len(frames)
    # The first two frames settle the tracker, then one frame in ``one_in``.
    assert hold.fresh_frames == 2 + (len(frames) - 2) // one_in


@pytest.mark.models
def test_a_gesture_let_go_counts_no_longer_than_one_frame(tracker):
    """O for two frames (shorter than the hold), then arms out: with or without skipping, never read."""
    frames = live(picture(ARMS_OUT)) + live(picture(O_RING), 2) + live(picture(ARMS_OUT)) * 2
    for every_s in (0.0, 0.1, 0.2):
        states, _, _ = confirm(frames, every_s, tracker)
        assert set(states) == {State.CONFIRMING}, every_s
