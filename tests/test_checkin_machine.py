"""The check-in state machine on recorded observation sequences.

These tests are about transitions, so the backend is an in-memory recorder (a fake, on
purpose: storage is tested in test_attendance*.py, and the real pipeline end to end in
test_checkin_pipeline.py and test_kiosk_api.py). Observations are what the pipeline reports per frame.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone

import numpy as np
import pytest

from kiosk.checkin.machine import (
    UNKNOWN_VOTE,
    CheckInMachine,
    MachineConfig,
    Observation,
    RecordOutcome,
    Stage,
    State,
)

OBAMA, BIDEN = 1, 2
BOX = (260, 140, 120, 150)
FPS = 10.0


@dataclass
class MemoryBackend:
    recent: dict[int, datetime] = field(default_factory=dict)
    recorded: list[tuple[int, float, float]] = field(default_factory=list)
    frames: list[object] = field(default_factory=list)
    evidence: list[object] = field(default_factory=list)

    def recent_event(self, person_id):
        earlier = self.recent.get(person_id)
        return None if earlier is None else RecordOutcome("check_in", earlier, None, duplicate=True)

    def record(self, person_id, frame, happy, identification_score, evidence=None):
        self.recorded.append((person_id, happy, identification_score))
        self.frames.append(frame)
        self.evidence.append(evidence)
        return RecordOutcome("check_in", datetime(2026, 11, 21, 9, 2, tzinfo=timezone.utc), "tok")


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def next(self) -> float:
        self.t += 1 / FPS
        return self.t


@pytest.fixture
def backend():
    return MemoryBackend()


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def machine(backend, clock):
    m = CheckInMachine(config=MachineConfig(), backend=backend)
    m.reset(clock.t)
    return m


def face(clock, person=OBAMA, name="Barack Obama", box=BOX, score=0.9, **extra) -> Observation:
    return Observation(
        now=clock.next(), face_status="ok", face_box=box, face_count=1,
        identity=person, identity_name=name if person != UNKNOWN_VOTE else None, identity_score=score, **extra,
    )


def gesture(clock, name, owns=True, score=0.95, happy=None, box=BOX, frame=None) -> Observation:
    return Observation(
        now=clock.next(), face_status="ok", face_box=box, face_count=1,
        gesture=name, gesture_score=score, body_owns_face=owns, happy=happy, frame=frame,
    )


def nobody(clock) -> Observation:
    return Observation(now=clock.next(), face_status="no_face")


def run(machine, observations):
    for obs in observations:
        machine.step(obs)
    return machine.state


def identify(machine, clock, person=OBAMA, name="Barack Obama"):
    run(machine, [face(clock, person, name) for _ in range(MachineConfig().votes_to_identify)])
    assert machine.state == State.CONFIRMING
    assert machine.person_name == name


def confirm(machine, clock):
    run(machine, [gesture(clock, "O") for _ in range(MachineConfig().gesture_hold_frames)])
    assert machine.state == State.SMILING


# -- IDLE -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "status, prompt",
    [
        ("no_face", "Look at the camera"),
        ("multiple_faces", "One person at a time"),
        ("face_too_small", "step closer"),
    ],
)
def test_idle_prompts_for_the_frame_problem(machine, clock, status, prompt):
    machine.step(Observation(now=clock.next(), face_status=status, face_count=2 if status == "multiple_faces" else 0))
    assert machine.state == State.IDLE
    assert prompt in machine.prompt()


@pytest.mark.parametrize("problem, prompt", [("too_dark", "too dark"), ("too_blurry", "hold still")])
def test_idle_prompts_for_poor_quality(machine, clock, problem, prompt):
    obs = face(clock)
    obs.quality_problem = problem
    machine.step(obs)
    assert machine.state == State.IDLE
    assert prompt in machine.prompt().lower()


def test_idle_runs_no_pose_model(machine):
    assert Stage.POSE not in machine.stages_needed()
    assert Stage.EMOTION not in machine.stages_needed()


# -- IDENTIFYING ----------------------------------------------------------------------------
def test_votes_decide_identity_not_one_frame(machine, clock):
    machine.step(face(clock))
    assert machine.state == State.IDENTIFYING
    run(machine, [face(clock) for _ in range(3)])
    assert machine.state == State.IDENTIFYING, "four frames are not yet a clear win"
    machine.step(face(clock))
    assert machine.state == State.CONFIRMING
    assert "Are you Barack Obama?" in machine.prompt()


def test_a_split_vote_does_not_identify(machine, clock):
    frames = []
    for i in range(12):
        frames.append(face(clock, OBAMA if i % 2 else BIDEN, "Barack Obama" if i % 2 else "Joe Biden"))
    run(machine, frames)
    assert machine.state == State.IDENTIFYING


def test_consistently_unknown_goes_to_unknown_then_idle(machine, clock):
    run(machine, [face(clock, UNKNOWN_VOTE) for _ in range(MachineConfig().votes_to_reject)])
    assert machine.state == State.UNKNOWN
    assert "see an administrator" in machine.prompt()
    for _ in range(int(MachineConfig().message_s * FPS) + 1):
        machine.step(nobody(clock))
    assert machine.state == State.IDLE


def test_face_leaving_returns_to_idle(machine, clock):
    run(machine, [face(clock), face(clock)])
    run(machine, [nobody(clock) for _ in range(MachineConfig().face_lost_frames)])
    assert machine.state == State.IDLE


def test_identifying_times_out(machine, clock):
    machine.step(face(clock))
    clock.t += MachineConfig().identify_timeout_s
    machine.step(face(clock, BIDEN, "Joe Biden"))
    assert machine.state == State.IDLE


def test_a_new_face_restarts_the_vote(machine, clock):
    run(machine, [face(clock) for _ in range(4)])
    moved = (20, 20, 120, 150)  # a different face somewhere else in the frame
    run(machine, [face(clock, BIDEN, "Joe Biden", box=moved) for _ in range(4)])
    assert machine.state == State.IDENTIFYING, "Obama's votes must not count for the newcomer"
    machine.step(face(clock, BIDEN, "Joe Biden", box=moved))
    assert machine.state == State.CONFIRMING and machine.person_name == "Joe Biden"


# -- CONFIRMING -----------------------------------------------------------------------------
def test_confirming_needs_pose_but_no_embedding_every_frame(machine, clock):
    identify(machine, clock)
    embeddings = 0
    for _ in range(16):
        needed = machine.stages_needed()
        assert Stage.POSE in needed and Stage.IDENTITY not in needed
        embeddings += Stage.SAME_PERSON in needed
        machine.step(gesture(clock, "idle"))
    assert embeddings == 16 // MachineConfig().same_person_every


def test_x_cancels(machine, clock, backend):
    identify(machine, clock)
    run(machine, [gesture(clock, "X") for _ in range(MachineConfig().gesture_hold_frames)])
    assert machine.state == State.CANCELLED
    assert backend.recorded == []


def test_a_wave_through_o_does_not_confirm(machine, clock):
    identify(machine, clock)
    hold = MachineConfig().gesture_hold_frames
    wave = ["idle", "O", "O", "idle", "O", "O", "O", "idle", "capture", "idle"] * 2
    assert all(run_len < hold for run_len in _runs(wave))
    run(machine, [gesture(clock, g) for g in wave])
    assert machine.state == State.CONFIRMING


def _runs(labels):
    runs, current, n = [], None, 0
    for label in labels:
        n = n + 1 if label == current else 1
        current = label
        runs.append(n)
    return runs


def test_o_held_confirms(machine, clock):
    identify(machine, clock)
    confirm(machine, clock)
    assert "smile" in machine.prompt().lower()


def test_gesture_by_another_body_does_not_confirm(machine, clock):
    """A photo held up by someone else: the arms making the O belong to a different head."""
    identify(machine, clock)
    run(machine, [gesture(clock, "O", owns=False) for _ in range(20)])
    assert machine.state == State.CONFIRMING


def test_low_score_gesture_does_not_count(machine, clock):
    identify(machine, clock)
    run(machine, [gesture(clock, "O", score=0.3) for _ in range(20)])
    assert machine.state == State.CONFIRMING


def test_second_face_during_confirming_aborts(machine, clock):
    identify(machine, clock)
    machine.step(Observation(now=clock.next(), face_status="multiple_faces", face_box=BOX, face_count=2))
    assert machine.state == State.CANCELLED
    assert "one person at a time" in machine.prompt().lower()


def test_different_person_during_confirming_aborts(machine, clock):
    identify(machine, clock)
    obs = gesture(clock, "O")
    obs.same_person = False
    machine.step(obs)
    assert machine.state == State.CANCELLED


def test_face_jump_during_confirming_aborts(machine, clock):
    identify(machine, clock)
    machine.step(gesture(clock, "O", box=(0, 0, 100, 120)))
    assert machine.state == State.CANCELLED


def test_confirming_times_out(machine, clock):
    identify(machine, clock)
    clock.t += MachineConfig().confirm_timeout_s
    machine.step(gesture(clock, "idle"))
    assert machine.state == State.IDLE


def test_confirming_person_walking_away_returns_to_idle(machine, clock):
    identify(machine, clock)
    run(machine, [nobody(clock) for _ in range(MachineConfig().face_lost_frames)])
    assert machine.state == State.IDLE


# -- SMILING and DONE -----------------------------------------------------------------------
def test_o_then_smile_records_exactly_one_event_with_the_best_frame(machine, clock, backend):
    identify(machine, clock)
    confirm(machine, clock)
    frames = [np.full((4, 4, 3), i, np.uint8) for i in range(10)]
    happies = [0.1, 0.3, 0.2, 0.7, 0.9, 0.8]
    for frame, happy in zip(frames, happies):
        machine.step(gesture(clock, "idle", happy=happy, frame=frame))
        if machine.state == State.DONE:
            break
    assert machine.state == State.DONE
    assert len(backend.recorded) == 1
    person, happy, id_score = backend.recorded[0]
    assert person == OBAMA and happy == pytest.approx(0.9) and id_score == pytest.approx(0.9)
    assert backend.frames[0] is frames[4], "the happiest frame is the photo"
    assert machine.prompt() == "Welcome, Barack Obama!"
    snapshot = machine.snapshot(clock.t)
    assert snapshot.photo_token == "tok" and snapshot.checked_in_at is not None
    # DONE shows its message, then the kiosk is ready for the next person; nothing more recorded.
    run(machine, [nobody(clock) for _ in range(int(MachineConfig().message_s * FPS) + 2)])
    assert machine.state == State.IDLE
    assert len(backend.recorded) == 1


def test_no_smile_times_out_with_best_frame(machine, clock, backend):
    identify(machine, clock)
    confirm(machine, clock)
    frames = []
    while machine.state == State.SMILING:
        frame = np.zeros((2, 2, 3), np.uint8)
        frames.append(frame)
        machine.step(gesture(clock, "idle", happy=0.2 if len(frames) != 3 else 0.4, frame=frame))
        assert len(frames) < 200
    assert machine.state == State.DONE
    assert backend.frames[0] is frames[2]
    assert backend.recorded[0][1] == pytest.approx(0.4)


def test_capture_gesture_takes_the_photo_now(machine, clock, backend):
    identify(machine, clock)
    confirm(machine, clock)
    run(machine, [gesture(clock, "capture", happy=0.1, frame=object()) for _ in range(MachineConfig().gesture_hold_frames)])
    assert machine.state == State.DONE
    assert len(backend.recorded) == 1


def test_capture_gesture_while_confirming_confirms_and_captures(machine, clock, backend):
    identify(machine, clock)
    run(machine, [gesture(clock, "capture", happy=0.2, frame=object()) for _ in range(MachineConfig().gesture_hold_frames)])
    assert machine.state == State.DONE
    assert len(backend.recorded) == 1


def test_second_face_while_smiling_aborts_without_recording(machine, clock, backend):
    identify(machine, clock)
    confirm(machine, clock)
    machine.step(Observation(now=clock.next(), face_status="multiple_faces", face_box=BOX, face_count=2))
    assert machine.state == State.CANCELLED
    assert backend.recorded == []


def test_duplicate_check_in_inside_the_window_records_nothing(machine, clock, backend):
    backend.recent[OBAMA] = datetime(2026, 11, 21, 8, 55, tzinfo=timezone.utc)
    run(machine, [face(clock) for _ in range(MachineConfig().votes_to_identify)])
    assert machine.state == State.DONE
    assert "already checked in" in machine.prompt()
    snapshot = machine.snapshot(clock.t)
    assert snapshot.duplicate and snapshot.checked_in_at == backend.recent[OBAMA]
    assert backend.recorded == []


def test_a_repeat_of_a_check_out_says_checked_out(machine, clock, backend):
    class CheckedOut(MemoryBackend):
        def recent_event(self, person_id):
            return RecordOutcome("check_out", datetime(2026, 11, 21, 17, 5, tzinfo=timezone.utc), None, duplicate=True)

    checked_out = CheckedOut()
    machine.backend = checked_out
    run(machine, [face(clock) for _ in range(MachineConfig().votes_to_identify)])
    assert machine.state == State.DONE
    assert "already checked out" in machine.prompt()
    snapshot = machine.snapshot(clock.t)
    assert snapshot.duplicate and snapshot.event_kind == "check_out"
    assert checked_out.recorded == []


def test_cancelled_returns_to_idle(machine, clock):
    identify(machine, clock)
    run(machine, [gesture(clock, "X") for _ in range(MachineConfig().gesture_hold_frames)])
    machine.tick(clock.t + MachineConfig().message_s)
    assert machine.state == State.IDLE


def test_countdown_runs_down(machine, clock):
    identify(machine, clock)
    start = machine.countdown(clock.t)
    assert start == pytest.approx(MachineConfig().confirm_timeout_s, abs=0.2)
    assert machine.countdown(clock.t + 5) == pytest.approx(start - 5, abs=0.2)


def test_config_from_mapping():
    config = MachineConfig.from_mapping({"KIOSK_CHECKIN_GESTURE_HOLD_FRAMES": "8", "KIOSK_CHECKIN_SMILE_THRESHOLD": "0.7"})
    assert config.gesture_hold_frames == 8 and config.smile_threshold == 0.7
