"""Kiosk sessions: the registry's bounds and the pool of pose trackers they borrow.
The pool is given a factory of plain objects: this test is about lending, not about MediaPipe."""

from __future__ import annotations

import pytest

from kiosk.checkin.machine import MachineConfig, State
from kiosk.checkin.sessions import KioskSessionsFull, PoseTrackerPool, SessionRegistry


class NoBackend:
    def recent_event(self, person_id):
        return None

    def record(self, *args, **kwargs):
        raise AssertionError("nothing is recorded here")


def test_pool_reuses_trackers_and_never_makes_more_than_its_size():
    made = []
    pool = PoseTrackerPool(size=2, factory=lambda: made.append(object()) or made[-1])
    first, second = pool.acquire(), pool.acquire()
    assert first is not second and len(made) == 2
    assert pool.acquire() is None, "all lent: the caller falls back to the static estimator"
    pool.release(first)
    assert pool.acquire() is first and len(made) == 2


def test_registry_is_bounded_and_evicts_the_oldest():
    registry = SessionRegistry(max_sessions=2)
    a = registry.get_or_create(None, MachineConfig(), lambda s: NoBackend())
    b = registry.get_or_create(None, MachineConfig(), lambda s: NoBackend())
    assert registry.get_or_create(a.id, MachineConfig(), lambda s: NoBackend()) is a
    c = registry.get_or_create(None, MachineConfig(), lambda s: NoBackend())
    assert len(registry) == 2
    assert registry.get(b.id) is None, "b was the least recently seen"
    assert registry.get(a.id) is a and registry.get(c.id) is c


def test_a_closed_session_gives_its_tracker_back(monkeypatch):
    from kiosk.checkin import sessions

    pool = PoseTrackerPool(size=1, factory=object)
    monkeypatch.setattr(sessions, "pose_trackers", pool)
    registry = SessionRegistry()
    one = registry.get_or_create(None, MachineConfig(), lambda s: NoBackend())
    tracker = one.borrow_pose()
    assert one.pose_pooled and one.borrow_pose() is tracker
    one.close()  # expired or evicted
    assert one.pose is None
    two = registry.get_or_create(None, MachineConfig(), lambda s: NoBackend())
    assert two.borrow_pose() is tracker


def test_an_evicted_session_is_freed_at_once():
    """No reference cycle: an evicted session (with the frames its machine holds) is freed by
    reference counting, not left for a full garbage collection."""
    import gc
    import weakref

    from kiosk.services.checkin import DatabaseBackend

    gc.disable()
    try:
        registry = SessionRegistry(max_sessions=1)
        first = registry.get_or_create(None, MachineConfig(), DatabaseBackend)
        gone = weakref.ref(first)
        del first
        registry.get_or_create(None, MachineConfig(), DatabaseBackend)  # evicts the first
        assert gone() is None
    finally:
        gc.enable()


class RecordingTracker:
    """Stands in for a MediaPipe tracker: this test is about when the session restarts it."""

    def __init__(self):
        self.restarts = 0

    def restart_tracking(self):
        self.restarts += 1


def test_the_session_restarts_its_tracker_when_a_new_person_reaches_confirming(monkeypatch):
    from kiosk.checkin import sessions
    from kiosk.checkin.machine import State

    monkeypatch.setattr(sessions, "pose_trackers", PoseTrackerPool(size=1, factory=RecordingTracker))
    session = SessionRegistry().get_or_create(None, MachineConfig(), lambda s: NoBackend())
    machine = session.machine
    assert machine.state == State.IDLE and session.pose_for_frame() is None, "no pose model while idle"

    machine.state, machine.frames_in_state = State.CONFIRMING, 0
    tracker = session.pose_for_frame()
    assert isinstance(tracker, RecordingTracker) and tracker.restarts == 1
    machine.frames_in_state = 1  # the same person's next frames keep their tracking
    assert session.pose_for_frame() is tracker and tracker.restarts == 1
    machine.state, machine.frames_in_state = State.SMILING, 0
    assert session.pose_for_frame() is tracker and tracker.restarts == 1
    machine.state = State.DONE
    assert session.pose_for_frame() is None


# -- who may push out whom (issue 13, item 2). A session's state is set directly: these tests
# -- are about the registry's choice, not about how a machine gets there.


def _registry_with(states: list[State], clients: list[str], **limits) -> tuple[SessionRegistry, list]:
    registry = SessionRegistry(**limits)
    made = []
    for state, client in zip(states, clients):
        session = registry.get_or_create(None, MachineConfig(), lambda s: NoBackend(), client=client)
        session.machine.state = state
        made.append(session)
    return registry, made


def test_a_full_registry_makes_room_from_sessions_at_rest_only():
    registry, (checking_in, idle, unknown) = _registry_with(
        [State.IDENTIFYING, State.IDLE, State.UNKNOWN], ["address:a", "address:b", "address:c"], max_sessions=3)
    newcomer = registry.get_or_create(None, MachineConfig(), lambda s: NoBackend(), client="address:d")
    assert registry.get(checking_in.id) is checking_in, "a check-in under way is never pushed out"
    assert registry.get(idle.id) is None, "the least recently seen session at rest made room"
    assert registry.get(unknown.id) is unknown and registry.get(newcomer.id) is newcomer


def test_when_every_session_is_in_a_check_in_a_new_one_is_refused():
    registry, sessions = _registry_with([State.IDENTIFYING, State.CONFIRMING, State.SMILING],
                                        ["address:a", "address:b", "address:c"], max_sessions=3)
    with pytest.raises(KioskSessionsFull) as refused:
        registry.get_or_create(None, MachineConfig(), lambda s: NoBackend(), client="address:d")
    assert refused.value.status == 503 and "try again in a moment" in str(refused.value)
    assert all(registry.get(s.id) is s for s in sessions)


def test_one_client_only_pushes_out_its_own_sessions():
    registry, (kiosk, *own) = _registry_with([State.IDLE, State.IDLE, State.IDLE],
                                             ["address:kiosk", "address:x", "address:x"], max_per_client=2)
    newest = registry.get_or_create(None, MachineConfig(), lambda s: NoBackend(), client="address:x")
    assert registry.get(kiosk.id) is kiosk, "another client's session is not touched, even at rest"
    assert registry.get(own[0].id) is None and registry.get(own[1].id) is own[1] and registry.get(newest.id) is newest
    assert len(registry) == 3
    # A client whose every session is in a check-in gets no more (its sessions go on).
    for session in (own[1], newest):
        session.machine.state = State.CONFIRMING
    with pytest.raises(KioskSessionsFull):
        registry.get_or_create(None, MachineConfig(), lambda s: NoBackend(), client="address:x")
    assert registry.get(kiosk.id) is kiosk


def test_a_kiosk_that_stopped_mid_check_in_is_at_rest_once_its_step_timed_out():
    """A browser closed while CONFIRMING sends no frame that would move it to IDLE; once the
    confirmation's time limit has passed it is at rest all the same, and may make room."""
    registry, (abandoned, live) = _registry_with([State.CONFIRMING, State.CONFIRMING],
                                                 ["address:a", "address:b"], max_sessions=2)
    abandoned.machine.entered_at -= abandoned.machine.config.confirm_timeout_s + 1
    registry.get_or_create(None, MachineConfig(), lambda s: NoBackend(), client="address:c")
    assert registry.get(abandoned.id) is None and registry.get(live.id) is live


# -- paired kiosks and check-ins that make no progress (issue 21, part 3) ---------------------


def _crowd(registry: SessionRegistry, states=(State.IDENTIFYING, State.CONFIRMING)) -> list:
    """The crowding attack: two addresses, 8 sessions each, every one kept in a check-in."""
    crowd = []
    for address in ("address:198.51.100.1", "address:198.51.100.2"):
        for i in range(8):
            session = registry.get_or_create(None, MachineConfig(), lambda s: NoBackend(), client=address)
            session.machine.state = states[i % len(states)]
            crowd.append(session)
    return crowd


def test_the_crowding_attack_neither_refuses_nor_evicts_a_paired_kiosk():
    registry = SessionRegistry()  # 16 unpaired sessions, 8 per address: the defaults
    kiosk = registry.get_or_create(None, MachineConfig(), lambda s: NoBackend(), client="device:1")
    kiosk.machine.state = State.IDLE  # at rest: before, the first to make room
    crowd = _crowd(registry)
    assert len(registry) == 17
    with pytest.raises(KioskSessionsFull):  # unpaired traffic is still capped
        registry.get_or_create(None, MachineConfig(), lambda s: NoBackend(), client="address:203.0.113.9")
    newcomer = registry.get_or_create(None, MachineConfig(), lambda s: NoBackend(), client="device:2")
    assert registry.get(kiosk.id) is kiosk and registry.get(newcomer.id) is newcomer
    assert all(registry.get(s.id) is s for s in crowd)


def test_a_paired_kiosk_has_one_session_and_its_cookie_opens_nobody_elses():
    registry = SessionRegistry()
    first = registry.get_or_create(None, MachineConfig(), lambda s: NoBackend(), client="device:1")
    again = registry.get_or_create(first.id, MachineConfig(), lambda s: NoBackend(), client="device:1")
    assert again is first
    replaced = registry.get_or_create(None, MachineConfig(), lambda s: NoBackend(), client="device:1")
    assert registry.get(first.id) is None and len(registry) == 1
    stolen = registry.get_or_create(replaced.id, MachineConfig(), lambda s: NoBackend(), client="address:x")
    assert stolen is not replaced and registry.get(replaced.id) is replaced


def test_a_check_in_that_makes_no_progress_expires():
    from kiosk.checkin.sessions import STALL_FACTOR

    registry = SessionRegistry()
    crowd = _crowd(registry)
    now = crowd[0].machine.entered_at
    for session in crowd:
        session.machine.entered_at = now  # each step keeps being fresh, frame after frame
        session.note_progress(now)
    c = MachineConfig()
    limit = STALL_FACTOR * (c.identify_timeout_s + c.confirm_timeout_s + c.smile_timeout_s + c.message_s)
    assert not any(s.stalled(now + limit - 1) for s in crowd)
    for session in crowd:  # the clock runs on while the steps start over
        session.check_in_since -= limit + 1
    assert all(s.stalled(now) for s in crowd)
    newcomer = registry.get_or_create(None, MachineConfig(), lambda s: NoBackend(), client="address:203.0.113.9")
    assert registry.get(newcomer.id) is newcomer
    assert all(registry.get(s.id) is None for s in crowd), "stalled unpaired sessions expired"


def test_progress_is_a_finished_check_in_or_a_pause_at_rest():
    from kiosk.checkin.sessions import REST_RESTARTS_S

    registry = SessionRegistry()
    session = registry.get_or_create(None, MachineConfig(), lambda s: NoBackend(), client="address:a")
    t = session.machine.entered_at
    session.machine.state = State.IDENTIFYING
    session.note_progress(t)
    assert session.check_in_since == t
    session.machine.state = State.IDLE  # one frame at rest between two attempts: the clock runs on
    session.note_progress(t + 1)
    session.machine.state, session.machine.entered_at = State.IDENTIFYING, t + 1.5
    session.note_progress(t + 1.5)
    assert session.check_in_since == t
    session.machine.state = State.IDLE  # nobody there for a while: a new check-in starts afresh
    session.note_progress(t + 2)
    session.note_progress(t + 2 + REST_RESTARTS_S)
    assert session.check_in_since is None
    session.machine.state, session.machine.entered_at = State.DONE, t + 9
    session.note_progress(t + 9)
    assert session.check_in_since is None
