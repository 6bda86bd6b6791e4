"""The per-frame pipeline on its own, without Flask or the services: real photos through the real
face detector, with recognition passed in as an ``identify(bgr, face)`` callable. The callable is a
stand-in on purpose: these tests are about what the engine asks for and does with the answer;
the kiosk's real recognition is tested through the frame API (test_kiosk_api.py)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from kiosk.benchmarks.checkin import kiosk_frame, live
from kiosk.checkin.machine import CheckInMachine, MachineConfig, State
from kiosk.checkin.pipeline import analyse_frame
from kiosk.vision.faces import Face

pytestmark = pytest.mark.models  # real models: make test-fast skips these


class NoRecording:
    def recent_event(self, person_id):
        return None

    def record(self, *args, **kwargs):
        raise AssertionError("nothing is recorded here")


class CountingIdentify:
    def __init__(self, person_id, name="Ada Lovelace", score=0.9):
        self.answer = SimpleNamespace(person_id=person_id, person=name, score=score)
        self.calls = []

    def __call__(self, bgr, face):
        self.calls.append((bgr.shape, face))
        return self.answer


def test_the_engine_identifies_through_the_callable_it_is_given():
    machine = CheckInMachine(config=MachineConfig(), backend=NoRecording())
    machine.reset(0.0)
    identify = CountingIdentify(person_id=7)
    results = []
    frames = live(kiosk_frame())  # a steady person: the exposure drifts as a live camera's does
    for i in range(30):  # 15 frames a second
        frame = frames[i % len(frames)]
        results.append(analyse_frame(machine, frame, identify, None, now=(i + 1) / 15))
        if machine.state != State.IDENTIFYING and i:
            break
    assert machine.state == State.CONFIRMING
    assert (machine.person_id, machine.person_name) == (7, "Ada Lovelace")
    assert results[-1].face_box is not None and results[-1].frame_size == (640, 480)
    # Only the frames that were new evidence were embedded: one every vote_gap_s, three in all.
    config = MachineConfig()
    assert len(identify.calls) == sum(r.embeddings for r in results) == config.votes_to_identify
    assert len(results) > len(identify.calls)
    assert all(shape == (480, 640, 3) and isinstance(face, Face) for shape, face in identify.calls)


def test_the_same_picture_again_is_embedded_only_after_a_pause():
    """The same picture again and again (a frozen camera, a very still person in front of a
    quiet one) adds little evidence: it is embedded again only SAME_PICTURE_PATIENCE_S after
    the last vote, so identification is slower than for a live picture but never starved."""
    from kiosk.checkin.vote_frames import SAME_PICTURE_PATIENCE_S

    machine = CheckInMachine(config=MachineConfig(), backend=NoRecording())
    machine.reset(0.0)
    identify = CountingIdentify(person_id=7)
    frame, now, calls_at = kiosk_frame(), 0.0, []
    while machine.state in (State.IDLE, State.IDENTIFYING) and now < 5:
        now += 1 / 15
        before = len(identify.calls)
        analyse_frame(machine, frame, identify, None, now=now)
        if len(identify.calls) > before:
            calls_at.append(now)
    assert machine.state == State.CONFIRMING
    assert len(calls_at) == MachineConfig().votes_to_identify
    gaps = np.diff(calls_at)
    assert np.all(gaps >= SAME_PICTURE_PATIENCE_S - 1e-9) and np.all(gaps < SAME_PICTURE_PATIENCE_S + 1 / 15 + 1e-9)


def test_nobody_to_identify_means_no_call_and_an_unknown_face_is_unknown():
    machine = CheckInMachine(config=MachineConfig(), backend=NoRecording())
    machine.reset(0.0)
    identify = CountingIdentify(person_id=None, name=None, score=0.1)
    analyse_frame(machine, np.full((480, 640, 3), 128, np.uint8), identify, None, now=0.1)
    assert identify.calls == [] and machine.state == State.IDLE  # no face: recognition is not asked
    now = 0.1
    frames = live(kiosk_frame())
    while machine.state in (State.IDLE, State.IDENTIFYING) and now < 30:
        now += 0.1
        analyse_frame(machine, frames[round(now * 10) % len(frames)], identify, None, now=now)
    assert machine.state == State.UNKNOWN
