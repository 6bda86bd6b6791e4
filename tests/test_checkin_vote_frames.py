"""Which identifying frames are embedded (kiosk.checkin.vote_frames), on a real photo framed like the
kiosk's camera, with the real face detector's box and sharpness."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from kiosk.benchmarks.checkin import kiosk_frame, live
from kiosk.checkin.vote_frames import MAX_FACE_SPEED, SAME_PICTURE_PATIENCE_S, VoteEvidence
from kiosk.vision.faces import analyze_frame

pytestmark = pytest.mark.models  # real models: make test-fast skips these

FPS = 15.0


@pytest.fixture(scope="module")
def steady():
    """Frames of a person standing still: the exposure drifts by a grey level or two."""
    return [(frame, analyze_frame(frame)) for frame in live(kiosk_frame())]


def feed(evidence: VoteEvidence, frames, start: float = 10.0) -> list[str | None]:
    reasons = []
    for i, (frame, analysis) in enumerate(frames):
        reasons.append(evidence.skip_reason(frame, analysis.face.box, analysis.quality.sharpness, start + i / FPS))
    return reasons


def test_a_steady_live_face_is_always_worth_a_vote(steady):
    evidence = VoteEvidence()
    reasons = []
    for i, (frame, analysis) in enumerate(steady):
        now = 10.0 + i / FPS
        reasons.append(evidence.skip_reason(frame, analysis.face.box, analysis.quality.sharpness, now))
        evidence.voted(frame, analysis.face.box, now)
    assert reasons == [None] * len(steady)


def test_the_same_picture_is_skipped_until_the_patience_runs_out(steady):
    frame, analysis = steady[0]
    box, sharpness = analysis.face.box, analysis.quality.sharpness
    evidence = VoteEvidence()
    assert evidence.skip_reason(frame, box, sharpness, 10.0) is None
    evidence.voted(frame, box, 10.0)
    assert evidence.skip_reason(frame.copy(), box, sharpness, 10.1) == "same_picture"
    assert evidence.skip_reason(frame.copy(), box, sharpness, 10.0 + SAME_PICTURE_PATIENCE_S) is None


def test_a_face_moving_fast_is_skipped(steady):
    frame, analysis = steady[0]
    x, y, w, h = analysis.face.box
    evidence = VoteEvidence()
    evidence.skip_reason(frame, (x, y, w, h), analysis.quality.sharpness, 10.0)
    # Moved by half its width in one frame interval: 7.5 widths a second.
    moved = np.roll(frame, w // 2, axis=1)
    shifted = analyze_frame(moved)
    assert (shifted.face.box[0] - x) / w / (1 / FPS) > MAX_FACE_SPEED
    assert evidence.skip_reason(moved, shifted.face.box, shifted.quality.sharpness, 10.0 + 1 / FPS) == "moving"


def test_a_suddenly_blurred_face_is_skipped_but_a_soft_camera_is_not(steady):
    evidence = VoteEvidence()
    assert feed(evidence, steady[:4]) == [None] * 4
    blurred = cv2.GaussianBlur(steady[4][0], (0, 0), 1.2)  # sharpness ~520 -> ~34
    analysis = analyze_frame(blurred)
    assert analysis.face is not None and analysis.quality.problem is None  # not blurred enough to tell the person
    assert evidence.skip_reason(blurred, analysis.face.box, analysis.quality.sharpness, 20.0) == "blurred"

    soft = VoteEvidence()  # the same soft picture from the start: that is this camera
    frames = [(blurred, analysis)] * 5
    reasons = []
    for i, (frame, a) in enumerate(frames):
        reasons.append(soft.skip_reason(frame, a.face.box, a.quality.sharpness, 30.0 + i))
    assert "blurred" not in reasons
