"""The per-frame pipeline on its own, without Flask or the services: real photos through the real
face detector, with recognition passed in as an ``identify(bgr, face)`` callable. The callable is a
stand-in on purpose: these tests are about what the engine asks for and does with the answer;
the kiosk's real recognition is tested through the frame API (test_kiosk_api.py)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from kiosk.benchmarks.checkin import kiosk_frame
from kiosk.checkin.machine import CheckInMachine, MachineConfig, State
from kiosk.checkin.pipeline import analyse_frame
from kiosk.vision.faces import Face


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
    frame = kiosk_frame()
    for i in range(MachineConfig().votes_to_identify):
        result = analyse_frame(machine, frame, identify, None, now=0.1 * (i + 1))
    assert machine.state == State.CONFIRMING
    assert (machine.person_id, machine.person_name) == (7, "Ada Lovelace")
    assert result.face_box is not None and result.frame_size == (640, 480)
    assert len(identify.calls) == MachineConfig().votes_to_identify
    assert all(shape == frame.shape and isinstance(face, Face) for shape, face in identify.calls)


def test_nobody_to_identify_means_no_call_and_an_unknown_face_is_unknown():
    machine = CheckInMachine(config=MachineConfig(), backend=NoRecording())
    machine.reset(0.0)
    identify = CountingIdentify(person_id=None, name=None, score=0.1)
    analyse_frame(machine, np.full((480, 640, 3), 128, np.uint8), identify, None, now=0.1)
    assert identify.calls == [] and machine.state == State.IDLE  # no face: recognition is not asked
    now = 0.1
    while machine.state in (State.IDLE, State.IDENTIFYING) and now < 30:
        now += 0.1
        analyse_frame(machine, kiosk_frame(), identify, None, now=now)
    assert machine.state == State.UNKNOWN
