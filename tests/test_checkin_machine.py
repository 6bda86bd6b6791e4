"""The check-in state machine on recorded observation sequences, in time.

These tests are about transitions, so the backend is an in-memory recorder (a fake, on
purpose: storage is tested in test_attendance*.py, and the real pipeline end to end in
test_checkin_pipeline.py and test_kiosk_api.py). Observations are what the pipeline reports per
frame, each stamped with its time: holds, the vote and timeouts are in seconds (with minimum frame
counts), so the sequences are played at several frame rates (a slow machine at 4 frames/s, the
kiosk's camera at 15, a fast one at 30) and must take the same time on all of them.
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
FPS = 15.0
RATES = [4.0, 15.0, 30.0]
# These sequences are about transitions, holds and timeouts; liveness (which a synthetic sequence
# of observations cannot pass without a face that changes) is tested in test_liveness.py.
CONFIG = MachineConfig(liveness_policy="off")


@dataclass
class MemoryBackend:
    recent: dict[int, datetime] = field(default_factory=dict)
    recorded: list[tuple[int, float, float]] = field(default_factory=list)
    frames: list[object] = field(default_factory=list)
    evidence: list[object] = field(default_factory=list)

    def recent_event(self, person_id):
        earlier = self.recent.get(person_id)
        return None if earlier is None else RecordOutcome("check_in", earlier, None, duplicate=True)

    suspects: list[tuple[int, object, str]] = field(default_factory=list)

    def record(self, person_id, frame, happy, identification_score, evidence=None, liveness=None):
        self.recorded.append((person_id, happy, identification_score))
        self.frames.append(frame)
        self.evidence.append(evidence)
        return RecordOutcome("check_in", datetime(2026, 11, 21, 9, 2, tzinfo=timezone.utc), "tok")

    def record_suspect(self, person_id, frame, happy, identification_score, liveness, neutral_frame, policy):
        self.suspects.append((person_id, liveness, policy))
        kind = "refused" if policy == "refuse" else "needs_review"
        return RecordOutcome(kind, datetime(2026, 11, 21, 9, 2, tzinfo=timezone.utc), None)


class Clock:
    """Frame times at ``fps`` frames a second."""

    def __init__(self, fps: float = FPS) -> None:
        self.fps = fps
        self.t = 1000.0

    def next(self) -> float:
        self.t += 1 / self.fps
        return self.t


@pytest.fixture
def backend():
    return MemoryBackend()


@pytest.fixture(params=[FPS], ids=lambda fps: f"{fps:g}fps")
def clock(request):
    return Clock(request.param)


@pytest.fixture
def machine(backend, clock):
    m = CheckInMachine(config=CONFIG, backend=backend)
    m.reset(clock.t)
    return m


at_every_rate = pytest.mark.parametrize("clock", RATES, indirect=True, ids=lambda fps: f"{fps:g}fps")


def face(clock, person=OBAMA, name="Barack Obama", box=BOX, score=0.9, **extra) -> Observation:
    """A frame whose face was embedded and voted ``person``."""
    return Observation(
        now=clock.next(), face_status="ok", face_box=box, face_count=1,
        identity=person, identity_name=name if person != UNKNOWN_VOTE else None, identity_score=score, **extra,
    )


def tracked(clock, box=BOX) -> Observation:
    """A frame whose face was detected (tracked) but not embedded."""
    return Observation(now=clock.next(), face_status="ok", face_box=box, face_count=1)


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


def run_until(machine, make, states, max_s=20.0):
    """Feed ``make()`` observations until the machine is in one of ``states``; returns
    (seconds from the first observation to the one that got there, number of observations)."""
    first = last = None
    for count in range(1, 10_000):
        obs = make()
        first = obs.now if first is None else first
        last = obs.now
        machine.step(obs)
        if machine.state in states:
            return last - first, count
        assert last - first < max_s, f"still {machine.state} after {max_s} s"
    raise AssertionError("unreachable")


def voting(machine, clock, person=OBAMA, name="Barack Obama", box=BOX):
    """Frames as the pipeline makes them: embedded (voted) only when the machine asks for identity."""

    def make():
        if Stage.IDENTITY in machine.stages_needed(clock.t + 1 / clock.fps):
            return face(clock, person, name, box=box)
        return tracked(clock, box)

    return make


def identify(machine, clock, person=OBAMA, name="Barack Obama"):
    run_until(machine, voting(machine, clock, person, name), {State.CONFIRMING})
    assert machine.person_name == name


def confirm(machine, clock):
    run_until(machine, lambda: gesture(clock, "O"), {State.SMILING})


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
@at_every_rate
def test_votes_decide_identity_not_one_frame_and_take_the_same_time_at_any_rate(machine, clock):
    """Three agreeing embeddings at least vote_gap_s apart and spanning vote_min_span_s; the
    frames in between are tracked, not embedded."""
    embedded = []

    def make():
        obs = voting(machine, clock)()
        embedded.append(obs.identity is not None)
        return obs

    seconds, frames = run_until(machine, make, {State.CONFIRMING})
    assert sum(embedded) == CONFIG.votes_to_identify, embedded
    assert CONFIG.vote_min_span_s <= seconds < CONFIG.vote_min_span_s + CONFIG.vote_gap_s + 1 / clock.fps + 1e-9
    assert "Are you Barack Obama?" in machine.prompt()


def test_one_frame_or_a_burst_of_frames_is_not_a_vote(machine, clock):
    """Embeddings closer together than vote_gap_s are one moment, however many there are."""
    start = clock.t
    for _ in range(10):  # ten embedded frames within 0.02 s: a burst of near copies
        clock.t += 0.002
        machine.step(Observation(now=clock.t, face_status="ok", face_box=BOX, face_count=1, identity=OBAMA,
                                 identity_name="Barack Obama", identity_score=0.9))
    assert machine.state == State.IDENTIFYING and clock.t - start < CONFIG.vote_gap_s
    clock.t += CONFIG.vote_gap_s
    machine.step(face(clock))  # the second moment
    assert machine.state == State.IDENTIFYING, "two moments are not a clear win"


def test_identity_is_only_asked_for_when_a_vote_is_due(machine, clock):
    assert Stage.IDENTITY in machine.stages_needed(clock.t)
    machine.step(face(clock))
    assert machine.state == State.IDENTIFYING
    assert Stage.IDENTITY not in machine.stages_needed(clock.t + CONFIG.vote_gap_s / 2)
    assert Stage.IDENTITY in machine.stages_needed(clock.t + CONFIG.vote_gap_s)
    assert Stage.IDENTITY in machine.stages_needed(), "without a time, the timed stages are included"


def test_a_split_vote_does_not_identify(machine, clock):
    votes = 0

    def alternating():
        nonlocal votes
        if Stage.IDENTITY in machine.stages_needed(clock.t + 1 / clock.fps):
            votes += 1
            return face(clock, OBAMA, "Barack Obama") if votes % 2 else face(clock, BIDEN, "Joe Biden")
        return tracked(clock)

    for _ in range(int(3 * FPS)):
        machine.step(alternating())
    assert votes >= 12 and machine.state == State.IDENTIFYING


def test_one_dissenting_vote_among_four_still_identifies(machine, clock):
    run(machine, [face(clock), tracked(clock), face(clock, BIDEN, "Joe Biden"), tracked(clock),
                  face(clock), tracked(clock)])
    assert machine.state == State.IDENTIFYING
    machine.step(face(clock))
    assert machine.state == State.CONFIRMING and machine.person_name == "Barack Obama"


@at_every_rate
def test_consistently_unknown_goes_to_unknown_then_idle(machine, clock):
    seconds, _ = run_until(machine, voting(machine, clock, UNKNOWN_VOTE, None), {State.UNKNOWN})
    assert seconds >= CONFIG.vote_min_span_s
    assert len([v for v in machine._votes if v[1] == UNKNOWN_VOTE]) == CONFIG.votes_to_reject
    assert "see an administrator" in machine.prompt()
    seconds, _ = run_until(machine, lambda: nobody(clock), {State.IDLE})
    assert CONFIG.message_s - 1 / clock.fps <= seconds <= CONFIG.message_s + 1 / clock.fps


@at_every_rate
def test_face_leaving_returns_to_idle_after_the_same_time(machine, clock):
    run(machine, [face(clock), tracked(clock)])
    seconds, frames = run_until(machine, lambda: nobody(clock), {State.IDLE})
    assert frames >= CONFIG.face_lost_frames
    assert seconds >= CONFIG.face_lost_s or frames == CONFIG.face_lost_frames
    assert seconds < max(CONFIG.face_lost_s, (CONFIG.face_lost_frames - 1) / clock.fps) + 1 / clock.fps + 1e-9


def test_one_missed_detection_does_not_lose_the_votes(machine, clock):
    run(machine, [face(clock), tracked(clock), tracked(clock)])
    machine.step(nobody(clock))
    run(machine, [face(clock), tracked(clock), tracked(clock)])
    machine.step(face(clock))
    assert machine.state == State.CONFIRMING


def test_identifying_times_out(machine, clock):
    machine.step(face(clock))
    clock.t += CONFIG.identify_timeout_s
    machine.step(face(clock, BIDEN, "Joe Biden"))
    assert machine.state == State.IDLE


def test_a_new_face_restarts_the_vote(machine, clock):
    run(machine, [face(clock), tracked(clock), tracked(clock), face(clock), tracked(clock)])
    moved = (20, 20, 120, 150)  # a different face somewhere else in the frame
    run(machine, [face(clock, BIDEN, "Joe Biden", box=moved), tracked(clock, moved), tracked(clock, moved),
                  face(clock, BIDEN, "Joe Biden", box=moved), tracked(clock, moved), tracked(clock, moved)])
    assert machine.state == State.IDENTIFYING, "Obama's votes must not count for the newcomer"
    machine.step(face(clock, BIDEN, "Joe Biden", box=moved))
    assert machine.state == State.CONFIRMING and machine.person_name == "Joe Biden"


def test_a_face_jumping_between_embeddings_restarts_the_vote(machine, clock):
    """Detection tracks the face on the frames that are not embedded: a jump there counts."""
    moved = (20, 20, 120, 150)
    run(machine, [face(clock), tracked(clock), tracked(clock), face(clock), tracked(clock, moved)])
    run(machine, [tracked(clock, moved), face(clock, box=moved)])
    assert machine.state == State.IDENTIFYING and len(machine._votes) == 1


# -- CONFIRMING -----------------------------------------------------------------------------
@at_every_rate
def test_confirming_needs_pose_and_an_embedding_only_every_same_person_period(machine, clock):
    identify(machine, clock)
    embeddings, start = 0, clock.t
    while clock.t - start < 2.0:
        needed = machine.stages_needed(clock.t + 1 / clock.fps)
        assert Stage.POSE in needed and Stage.IDENTITY not in needed
        obs = gesture(clock, "idle")
        if Stage.SAME_PERSON in needed:
            embeddings += 1
            obs.same_person = True
        machine.step(obs)
    expected = 2.0 / CONFIG.same_person_every_s
    assert expected - 1 <= embeddings <= expected, embeddings


def test_the_same_person_check_waits_for_a_gesture_hold_but_not_for_ever(machine, clock):
    identify(machine, clock)
    every = CONFIG.same_person_every_s
    clock.t += every - 0.2
    run(machine, [gesture(clock, "O", score=0.95) for _ in range(2)])  # a hold has started
    assert Stage.SAME_PERSON not in machine.stages_needed(clock.t + 0.1)  # due, but the hold goes first
    assert Stage.SAME_PERSON in machine.stages_needed(clock.t + 0.1 + every)  # twice the period: not later
    machine.step(gesture(clock, "idle"))  # no hold any more
    assert Stage.SAME_PERSON in machine.stages_needed(clock.t + 0.1)


def test_x_cancels(machine, clock, backend):
    identify(machine, clock)
    run_until(machine, lambda: gesture(clock, "X"), {State.CANCELLED})
    assert backend.recorded == []


@at_every_rate
def test_o_held_for_the_hold_time_confirms_at_any_rate(machine, clock):
    identify(machine, clock)
    seconds, frames = run_until(machine, lambda: gesture(clock, "O"), {State.SMILING})
    assert frames >= CONFIG.gesture_hold_frames
    slowest = max(CONFIG.gesture_hold_s, (CONFIG.gesture_hold_frames - 1) / clock.fps)
    assert slowest - 1e-9 <= seconds < slowest + 1 / clock.fps
    assert "smile" in machine.prompt().lower()


def test_the_hold_shows_how_far_it_is_and_what_is_left(machine, clock):
    identify(machine, clock)
    run(machine, [gesture(clock, "O") for _ in range(3)])  # 2 frame intervals at 15 fps: 0.133 s held
    hold = machine.snapshot(clock.t).hold
    assert hold["kind"] == "gesture" and hold["name"] == "O"
    assert hold["progress"] == pytest.approx((2 / FPS) / CONFIG.gesture_hold_s, abs=0.01)
    assert hold["remaining_s"] == pytest.approx(CONFIG.gesture_hold_s - 2 / FPS, abs=0.01)
    machine.step(gesture(clock, "idle"))
    assert machine.snapshot(clock.t).hold is None  # the run broke: nothing filling up


def test_a_wave_through_o_does_not_confirm(machine, clock):
    identify(machine, clock)
    longest = int(CONFIG.gesture_hold_s * clock.fps)  # frames of O that still fall short of the hold time
    wave = (["idle"] + ["O"] * longest + ["idle", "capture", "idle"]) * 3
    run(machine, [gesture(clock, g) for g in wave])
    assert machine.state == State.CONFIRMING


def test_gesture_by_another_body_does_not_confirm(machine, clock):
    """A photo held up by someone else: the arms making the O belong to a different head."""
    identify(machine, clock)
    run(machine, [gesture(clock, "O", owns=False) for _ in range(int(3 * FPS))])
    assert machine.state == State.CONFIRMING


def test_low_score_gesture_does_not_count(machine, clock):
    identify(machine, clock)
    run(machine, [gesture(clock, "O", score=0.3) for _ in range(int(3 * FPS))])
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
    clock.t += CONFIG.confirm_timeout_s
    machine.step(gesture(clock, "idle"))
    assert machine.state == State.IDLE


@at_every_rate
def test_confirming_person_walking_away_returns_to_idle(machine, clock):
    identify(machine, clock)
    seconds, _ = run_until(machine, lambda: nobody(clock), {State.IDLE})
    assert seconds < max(CONFIG.face_lost_s, (CONFIG.face_lost_frames - 1) / clock.fps) + 1 / clock.fps + 1e-9


# -- SMILING and DONE -----------------------------------------------------------------------
def test_o_then_smile_records_exactly_one_event_with_the_best_frame(machine, clock, backend):
    identify(machine, clock)
    confirm(machine, clock)
    frames = [np.full((4, 4, 3), i, np.uint8) for i in range(10)]
    happies = [0.1, 0.3, 0.2, 0.7, 0.9, 0.8, 0.7, 0.75, 0.8, 0.7]  # a smile held from the 4th frame on
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
    run(machine, [nobody(clock) for _ in range(int(CONFIG.message_s * FPS) + 2)])
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


@at_every_rate
def test_capture_gesture_takes_the_photo_after_the_hold_time(machine, clock, backend):
    identify(machine, clock)
    confirm(machine, clock)
    seconds, _ = run_until(machine, lambda: gesture(clock, "capture", happy=0.1, frame=object()), {State.DONE})
    assert seconds >= CONFIG.gesture_hold_s
    assert len(backend.recorded) == 1


def test_capture_gesture_while_confirming_confirms_and_captures(machine, clock, backend):
    identify(machine, clock)
    run_until(machine, lambda: gesture(clock, "capture", happy=0.2, frame=object()), {State.DONE})
    assert len(backend.recorded) == 1


@at_every_rate
def test_a_smile_is_taken_once_held_for_the_smile_hold_time(machine, clock, backend):
    identify(machine, clock)
    confirm(machine, clock)
    run(machine, [gesture(clock, "idle", happy=0.1, frame=object()) for _ in range(2)])
    seconds, frames = run_until(machine, lambda: gesture(clock, "idle", happy=0.9, frame=object()), {State.DONE})
    assert frames >= CONFIG.smile_hold_frames
    slowest = max(CONFIG.smile_hold_s, (CONFIG.smile_hold_frames - 1) / clock.fps)
    assert slowest - 1e-9 <= seconds < slowest + 1 / clock.fps
    assert backend.recorded[0][1] == pytest.approx(0.9)


def test_second_face_while_smiling_aborts_without_recording(machine, clock, backend):
    identify(machine, clock)
    confirm(machine, clock)
    machine.step(Observation(now=clock.next(), face_status="multiple_faces", face_box=BOX, face_count=2))
    assert machine.state == State.CANCELLED
    assert backend.recorded == []


def test_duplicate_check_in_inside_the_window_records_nothing(machine, clock, backend):
    backend.recent[OBAMA] = datetime(2026, 11, 21, 8, 55, tzinfo=timezone.utc)
    run_until(machine, voting(machine, clock), {State.DONE})
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
    run_until(machine, voting(machine, clock), {State.DONE})
    assert "already checked out" in machine.prompt()
    snapshot = machine.snapshot(clock.t)
    assert snapshot.duplicate and snapshot.event_kind == "check_out"
    assert checked_out.recorded == []


def test_cancelled_returns_to_idle(machine, clock):
    identify(machine, clock)
    run_until(machine, lambda: gesture(clock, "X"), {State.CANCELLED})
    machine.tick(clock.t + CONFIG.message_s)
    assert machine.state == State.IDLE


def test_countdown_runs_down(machine, clock):
    identify(machine, clock)
    start = machine.countdown(clock.t)
    assert start == pytest.approx(CONFIG.confirm_timeout_s, abs=0.2)
    assert machine.countdown(clock.t + 5) == pytest.approx(start - 5, abs=0.2)


def test_config_from_mapping():
    config = MachineConfig.from_mapping({
        "KIOSK_CHECKIN_GESTURE_HOLD_FRAMES": "8",
        "KIOSK_CHECKIN_GESTURE_HOLD_S": "0.8",
        "KIOSK_CHECKIN_SMILE_THRESHOLD": "0.7",
    })
    assert config.gesture_hold_frames == 8 and config.smile_threshold == 0.7 and config.gesture_hold_s == 0.8
