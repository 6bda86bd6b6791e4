"""Liveness on recorded observation sequences: the judge's cues, and what the state machine does
with its verdict under each policy. The figures are those the pipeline measures on real frames
(tests/test_liveness_api.py streams the real frames through the real models)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from test_checkin_machine import BOX, OBAMA, Clock, MemoryBackend, identify

from kiosk.checkin.liveness import BodyGeometry, LivenessJudge, LivenessSettings
from kiosk.checkin.machine import CheckInMachine, MachineConfig, Observation, State

HEAD_ON_SHOULDERS = BodyGeometry(0.52, 0.85, 0.02)  # measured on the live composites
SMALL_FACE_HIGH_UP = BodyGeometry(0.2, 2.4, 0.1)  # a small printed face far above the real shoulders


def frame_obs(clock, *, gesture="idle", happy=0.02, mouth=0.58, passive=0.8, geometry=HEAD_ON_SHOULDERS, frame=None,
              unavailable=False) -> Observation:
    return Observation(
        now=clock.next(), face_status="ok", face_box=BOX, face_count=1, gesture=gesture, gesture_score=0.95,
        body_owns_face=True, happy=happy, mouth_width=mouth, body_geometry=geometry, passive_liveness=passive,
        passive_unavailable=unavailable, frame=np.zeros((4, 4, 3), np.uint8) if frame is None else frame,
    )


def machine_with(policy: str, backend: MemoryBackend, clock: Clock) -> CheckInMachine:
    machine = CheckInMachine(config=MachineConfig(liveness_policy=policy), backend=backend)
    machine.reset(clock.t)
    return machine


def o_then(machine, clock, **face):
    """Identify, then hold an O with the given face."""
    identify(machine, clock)
    for _ in range(12):
        machine.step(frame_obs(clock, gesture="O", **face))
        if machine.state != State.CONFIRMING:
            break
    assert machine.state == State.SMILING


def stream(machine, clock, seconds, **face):
    for _ in range(int(seconds * clock.fps)):
        machine.step(frame_obs(clock, **face))
        if machine.state not in (State.CONFIRMING, State.SMILING):
            return


@pytest.fixture
def clock():
    return Clock(15.0)


@pytest.fixture
def backend():
    return MemoryBackend()


# -- the judge --------------------------------------------------------------------------------
def test_a_smile_rising_from_the_persons_neutral_face_passes():
    judge = LivenessJudge()
    for happy, mouth in [(0.02, 0.58), (0.03, 0.59), (0.05, 0.58), (0.9, 0.8), (0.97, 0.82)]:
        judge.observe_expression(happy, mouth)
    assert judge.expression_passed


@pytest.mark.parametrize("happies, mouths", [
    ([0.05, 0.4, 0.9, 0.95, 0.9], [0.60, 0.61, 0.60, 0.62, 0.61]),  # the happy score swings, the mouth does not
    ([0.95, 0.97, 0.99, 0.98, 0.99], [0.68, 0.69, 0.70, 0.70, 0.69]),  # a smiling print: smiling all along
    ([0.02, 0.02, 0.03, 0.02, 0.03], [0.56, 0.66, 0.67, 0.66, 0.67]),  # the mouth widens, no smile
])
def test_a_face_that_does_not_smile_from_neutral_fails(happies, mouths):
    judge = LivenessJudge()
    for happy, mouth in zip(happies, mouths):
        judge.observe_expression(happy, mouth)
    assert not judge.expression_passed
    assert "expression" in judge.verdict().failed


def test_one_rising_frame_is_not_enough():
    judge = LivenessJudge()
    for happy, mouth in [(0.02, 0.58), (0.03, 0.58), (0.95, 0.82), (0.03, 0.58)]:
        judge.observe_expression(happy, mouth)
    assert not judge.expression_passed


def test_body_geometry_and_passive_cues():
    judge = LivenessJudge()
    for _ in range(5):
        judge.observe_body(SMALL_FACE_HIGH_UP)
        judge.observe_passive(0.05)
    verdict = judge.verdict()
    assert set(verdict.failed) >= {"body", "passive"}
    assert verdict.cues["passive"]["value"] == pytest.approx(0.05)
    assert not verdict.live and not verdict.with_margin


def test_a_clear_live_verdict_has_margin_and_a_near_one_does_not():
    settings = LivenessSettings()
    clear, near = LivenessJudge(settings), LivenessJudge(settings)
    for judge, (smile, mouth, passive) in ((clear, (0.97, 0.85, 0.9)), (near, (0.40, 0.68, 0.25))):
        for _ in range(3):
            judge.observe_expression(0.02, 0.58)
            judge.observe_body(HEAD_ON_SHOULDERS)
            judge.observe_passive(passive)
        for _ in range(3):
            judge.observe_expression(smile, mouth)
    assert clear.verdict().live and clear.verdict().with_margin
    assert near.verdict().live and not near.verdict().with_margin


def test_settings_refuse_an_unknown_policy_and_out_of_range_cuts():
    with pytest.raises(ValueError, match="KIOSK_LIVENESS_POLICY"):
        LivenessSettings(policy="maybe")
    with pytest.raises(ValueError, match="rise"):
        LivenessSettings(rise=1.5)
    with pytest.raises(ValueError, match="KIOSK_LIVENESS_POLICY"):
        MachineConfig.from_mapping({"KIOSK_LIVENESS_POLICY": "sometimes"})


def test_machine_settings_are_checked_once_by_name():
    with pytest.raises(ValueError, match="KIOSK_CHECKIN_GESTURE_HOLD_SECONDS"):
        MachineConfig.from_mapping({"KIOSK_CHECKIN_GESTURE_HOLD_SECONDS": "0.5"})
    with pytest.raises(ValueError, match="KIOSK_CHECKIN_SMILE_TIMEOUT_S must be a float"):
        MachineConfig.from_mapping({"KIOSK_CHECKIN_SMILE_TIMEOUT_S": "soon"})
    assert MachineConfig.from_mapping({"KIOSK_LIVENESS_POLICY": " Refuse "}).liveness_policy == "refuse"


# -- the machine ------------------------------------------------------------------------------
def test_a_live_person_checks_in_and_the_verdict_goes_with_the_record(clock, backend):
    machine = machine_with("review", backend, clock)
    o_then(machine, clock)
    stream(machine, clock, 3, happy=0.97, mouth=0.83)
    assert machine.state == State.DONE
    assert len(backend.recorded) == 1 and backend.suspects == []
    assert machine.snapshot(clock.t).prompt == "Welcome, Barack Obama!"


@pytest.mark.parametrize("policy, state, kind", [("review", State.DONE, "needs_review"),
                                                  ("refuse", State.CANCELLED, None)])
def test_a_print_is_kept_for_review_or_refused_never_recorded(clock, backend, policy, state, kind):
    machine = machine_with(policy, backend, clock)
    o_then(machine, clock, happy=0.4, mouth=0.61)
    stream(machine, clock, 8, happy=0.45, mouth=0.61)  # the smile step's whole time, no change
    assert machine.state == state
    assert backend.recorded == []
    assert len(backend.suspects) == 1
    person, verdict, kept_policy = backend.suspects[0]
    assert person == OBAMA and kept_policy == policy and "expression" in verdict.failed
    prompt = machine.snapshot(clock.t).prompt
    if policy == "review":
        assert "administrator will confirm" in prompt
        assert machine.snapshot(clock.t).event_kind == kind
    else:
        assert "in person" in prompt


def test_the_capture_gesture_takes_the_photo_but_waits_for_the_smile(clock, backend):
    machine = machine_with("review", backend, clock)
    identify(machine, clock)
    shot = np.full((4, 4, 3), 7, np.uint8)
    for _ in range(12):
        machine.step(frame_obs(clock, gesture="capture", frame=shot))
        if machine.state != State.CONFIRMING:
            break
    assert machine.state == State.SMILING
    assert "smile" in machine.snapshot(clock.t).prompt.lower()
    stream(machine, clock, 1, happy=0.03)
    assert machine.state == State.SMILING and backend.recorded == []
    stream(machine, clock, 2, happy=0.96, mouth=0.84)
    assert machine.state == State.DONE
    assert backend.frames[0] is not None and int(backend.frames[0][0, 0, 0]) == 7  # the gesture's frame


def test_the_capture_gesture_with_a_print_is_not_a_check_in(clock, backend):
    machine = machine_with("review", backend, clock)
    identify(machine, clock)
    for _ in range(12):
        machine.step(frame_obs(clock, gesture="capture", happy=0.0, mouth=0.6))
        if machine.state != State.CONFIRMING:
            break
    stream(machine, clock, 8, gesture="capture", happy=0.0, mouth=0.6)
    assert backend.recorded == [] and len(backend.suspects) == 1


def test_a_missing_passive_model_sends_check_ins_to_review(clock, backend):
    machine = machine_with("review", backend, clock)
    o_then(machine, clock, passive=None, unavailable=True)
    stream(machine, clock, 3, happy=0.97, mouth=0.83, passive=None, unavailable=True)
    assert backend.recorded == []
    assert backend.suspects[0][1].failed == ("passive",)


def test_a_face_too_small_for_the_body_fails_the_body_cue(clock, backend):
    machine = machine_with("review", backend, clock)
    o_then(machine, clock, geometry=SMALL_FACE_HIGH_UP)
    stream(machine, clock, 3, happy=0.97, mouth=0.83, geometry=SMALL_FACE_HIGH_UP)
    assert backend.suspects and "body" in backend.suspects[0][1].failed


def test_someone_smiling_all_along_is_asked_to_relax_then_smile(clock, backend):
    machine = machine_with("review", backend, clock)
    o_then(machine, clock, happy=0.95, mouth=0.8)
    stream(machine, clock, 1, happy=0.96, mouth=0.8)
    assert "relax" in machine.snapshot(clock.t).prompt
    stream(machine, clock, 1, happy=0.05, mouth=0.58)  # relaxes ...
    stream(machine, clock, 2, happy=0.97, mouth=0.83)  # ... and smiles
    assert machine.state == State.DONE and len(backend.recorded) == 1


def test_policy_off_records_as_before(clock, backend):
    machine = machine_with("off", backend, clock)
    o_then(machine, clock, happy=0.4, mouth=0.61)
    stream(machine, clock, 8, happy=0.45, mouth=0.61)
    assert len(backend.recorded) == 1 and backend.suspects == []


def test_the_kiosk_ring_shows_the_rise_while_the_photo_waits(clock, backend):
    machine = machine_with("review", replace(backend), clock)
    identify(machine, clock)
    for _ in range(12):
        machine.step(frame_obs(clock, gesture="capture"))
        if machine.state != State.CONFIRMING:
            break
    machine.step(frame_obs(clock, happy=0.3, mouth=0.64))
    hold = machine.snapshot(clock.t).hold
    assert hold is not None and hold["name"] == "liveness" and 0 < hold["progress"] < 1


def test_a_quick_decisive_person_has_the_identifying_votes_passive_scores(clock, backend):
    """Arms up at once and a smile straight after: only a few frames after identification. The
    passive scores of the identifying votes (the same tracked face) count too, so the check-in is
    not refused for want of passive frames."""
    from test_checkin_machine import face, run_until, tracked

    from kiosk.checkin.machine import Stage

    machine = machine_with("review", backend, clock)

    def voting():
        if Stage.IDENTITY in machine.stages_needed(clock.t + 1 / clock.fps):
            return face(clock, OBAMA, "Barack Obama", passive_liveness=0.95)
        return tracked(clock)

    run_until(machine, voting, {State.CONFIRMING})
    assert machine.liveness.verdict().cues["passive"]["frames"] >= 3
    for _ in range(6):  # the arms-up hold (its frames carry no passive score here)
        machine.step(frame_obs(clock, gesture="capture", passive=None))
        if machine.state != State.CONFIRMING:
            break
    stream(machine, clock, 1, happy=0.97, mouth=0.84, passive=None)
    assert machine.state == State.DONE and len(backend.recorded) == 1, backend.suspects
