"""Kiosk sessions: one state machine (and one pose tracker) per kiosk browser.

Sessions live in the worker's memory, keyed by a random id kept in the browser's signed
session cookie. Only a frame opens one, and no client can push out a session that is in the
middle of a check-in (see :class:`SessionRegistry`). A kiosk's frames must reach the worker that
holds its session, which is why gunicorn runs one worker with several threads (see ``gunicorn.conf.py``): the models
are loaded once, and the 2-core box is kept busy by threads (OpenCV, TensorFlow, dlib and
MediaPipe release the GIL while they compute).
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from ..errors import KioskError
from ..vision.pose import PoseEstimator, static_pose_estimator
from .contract import CheckInBackend, MachineConfig, Stage, State
from .machine import CheckInMachine
from .pose_hold import PoseHold

PHOTO_TOKEN_TTL_S = 120.0  # the welcome photo's URL works for two minutes, for this session only
DEVICE_CLIENT_PREFIX = "device:"  # a session's client: "device:<id>" for a paired kiosk, else "address:<ip>"
# A check-in that has run this many times the sum of its steps' time limits without reaching DONE
# makes no progress (a person leaving and coming back restarts the clock after REST_RESTARTS_S at rest).
STALL_FACTOR = 2.0
REST_RESTARTS_S = 3.0


class PoseTrackerPool:
    """Tracking-mode pose graphs, lent to kiosk sessions, never closed.

    A MediaPipe pose graph holds ~110 MB, and creating and closing one per check-in grows a
    worker's memory for good (the reliability suite measured +165 MB over 16 check-ins), so at
    most ``size`` graphs are made and reused. A session keeps the one it borrowed while it lives
    (a kiosk is one camera: tracking carries over from one check-in to the next) and gives it
    back when it expires or is evicted. When every graph is lent, ``acquire`` returns None and
    the caller uses the shared static-mode estimator (slower, never refused).
    """

    def __init__(self, size: int = 4, factory: Callable[[], Any] | None = None) -> None:
        self.size = size
        self._factory = factory
        self._idle: list[Any] = []
        self._created = 0
        self._lock = threading.Lock()

    def acquire(self) -> Any | None:
        with self._lock:
            if self._idle:
                return self._idle.pop()
            if self._created >= self.size:
                return None
            self._created += 1
        if self._factory is not None:
            return self._factory()
        return PoseEstimator(tracking=True)

    def release(self, tracker: Any) -> None:
        with self._lock:
            self._idle.append(tracker)


pose_trackers = PoseTrackerPool()


@dataclass
class KioskSession:
    id: str
    machine: CheckInMachine | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    last_seen: float = field(default_factory=time.monotonic)
    pose: Any = None  # the pose estimator this session uses while it needs poses
    pose_pooled: bool = False  # ``pose`` was borrowed from ``pose_trackers``
    pose_hold: PoseHold = field(default_factory=PoseHold)  # the last pose reading, reused between pose frames
    photos: dict[str, tuple[int, float]] = field(default_factory=dict)  # token -> (event id, expiry)
    client: str = ""  # who opened it: "device:ID" for a paired kiosk, else "address:IP"
    check_in_since: float | None = None  # when the check-in under way began (None: at rest)
    at_rest_since: float | None = None

    @property
    def paired(self) -> bool:
        return self.client.startswith(DEVICE_CLIENT_PREFIX)

    def note_progress(self, now: float) -> None:
        """After each frame: start the check-in clock when the machine leaves rest, stop it on
        DONE (progress) or after REST_RESTARTS_S at rest (nobody there any more). A step timing
        out and starting over, frame after frame, does not stop it."""
        machine = self.machine
        assert machine is not None  # made by the frame that opened the session
        if machine.state == State.DONE:
            self.check_in_since, self.at_rest_since = None, None
        elif machine.in_check_in(now):
            self.at_rest_since = None
            if self.check_in_since is None:
                self.check_in_since = now
        else:
            if self.at_rest_since is None:
                self.at_rest_since = now
            if now - self.at_rest_since >= REST_RESTARTS_S:
                self.check_in_since = None

    def stalled(self, now: float) -> bool:
        """In a check-in that has made no progress for STALL_FACTOR times its steps' limits."""
        if self.check_in_since is None or self.machine is None:
            return False
        c = self.machine.config
        limit = STALL_FACTOR * (c.identify_timeout_s + c.confirm_timeout_s + c.smile_timeout_s + c.message_s)
        return now - self.check_in_since > limit

    def at_rest(self, now: float) -> bool:
        """May be ended to make room: no check-in under way, or one that makes no progress."""
        return self.machine is None or not self.machine.in_check_in(now) or self.stalled(now)

    def add_photo(self, event_id: int) -> str:
        token = secrets.token_urlsafe(24)
        now = time.monotonic()
        self.photos = {t: v for t, v in self.photos.items() if v[1] > now}
        self.photos[token] = (event_id, now + PHOTO_TOKEN_TTL_S)
        return token

    def photo_event(self, token: str) -> int | None:
        entry = self.photos.get(token)
        if entry is None or entry[1] < time.monotonic():
            return None
        return entry[0]

    def borrow_pose(self) -> Any:
        """A pose estimator for this session: a pooled tracker, or the shared static one."""
        if self.pose is None:
            tracker = pose_trackers.acquire()
            if tracker is not None:
                self.pose, self.pose_pooled = tracker, True
            else:
                self.pose, self.pose_pooled = static_pose_estimator(), False
        return self.pose

    def pose_for_frame(self) -> Any | None:
        """The pose estimator for the next frame, or None while the machine's state needs no pose.

        A pooled tracker is restarted when a person has just reached CONFIRMING: it is a new
        check-in, and tracking must not carry over the previous person's body."""
        machine = self.machine
        assert machine is not None  # made by the frame that opened the session
        if Stage.POSE not in machine.stages_needed():
            return None
        pose = self.borrow_pose()
        if self.pose_pooled and machine.state == State.CONFIRMING and machine.frames_in_state == 0:
            pose.restart_tracking()
        return pose

    def close(self) -> None:
        """The session ends: its pose tracker goes back to the pool and its frames are dropped
        now (not whenever the garbage collector gets to them)."""
        if self.pose is not None and self.pose_pooled:
            pose_trackers.release(self.pose)
        self.pose, self.pose_pooled = None, False
        if self.machine is not None:
            self.machine.reset(time.monotonic())


class KioskSessionsFull(KioskError):
    """Every kiosk session is busy with a check-in: a new one would have to end someone's."""

    status = 503
    code = "kiosk_sessions_full"


class SessionRegistry:
    """Bounded, and no client can end another's check-in to make room.

    Only a frame opens a session (reading the state or resetting opens none). Each session
    remembers its client: a paired kiosk's device, else its address.

    * A **paired kiosk** has one session: a new one replaces its own previous one, and no other
      traffic can end it (paired sessions do not count against the limits below).
    * **Unpaired traffic** (a site that turned pairing off) is bounded: an address holds at most
      ``max_per_client`` sessions, all addresses together ``max_sessions``. To make room the least
      recently seen session *at rest* (no check-in under way, or one that makes no progress:
      :meth:`KioskSession.at_rest`) is ended: the address's own for the first limit, any
      unpaired one for the second. When none is at rest the new session is refused
      (:class:`KioskSessionsFull`, 503) and the sessions under way go on.

    Sessions idle for ``idle_timeout_s`` expire, and so do unpaired sessions whose check-in makes
    no progress (a paired kiosk's is started over at IDLE).
    """

    def __init__(self, max_sessions: int = 16, idle_timeout_s: float = 600.0, max_per_client: int = 8) -> None:
        self.max_sessions = max_sessions
        self.idle_timeout_s = idle_timeout_s
        self.max_per_client = max_per_client
        self._sessions: dict[str, KioskSession] = {}
        self._lock = threading.Lock()

    def get_or_create(
        self,
        session_id: str | None,
        config: MachineConfig,
        backend_factory: Callable[[KioskSession], CheckInBackend],
        client: str = "",
        max_per_client: int | None = None,
    ) -> KioskSession:
        """The session with this id (if it is ``client``'s), or a new one for ``client`` whose
        machine records through ``backend_factory(session)`` (the backend may need the session,
        e.g. for photo links). ``max_per_client`` overrides the registry's own limit."""
        now = time.monotonic()
        with self._lock:
            self._expire(now)
            session = self._sessions.get(session_id or "")
            if session is not None and session.client != client:
                session = None  # a session cookie carried to another kiosk or address opens nothing of theirs
            if session is None:
                if client.startswith(DEVICE_CLIENT_PREFIX):
                    for own in [s for s in self._sessions.values() if s.client == client]:
                        self._end(own)  # one session per paired kiosk: its newest
                else:
                    self._make_room(client, self.max_per_client if max_per_client is None else max_per_client, now)
                session = KioskSession(id=secrets.token_urlsafe(18), client=client)
                session.machine = CheckInMachine(config=config, backend=backend_factory(session))
                session.machine.reset(now)
                self._sessions[session.id] = session
            session.last_seen = now
            return session

    def _make_room(self, client: str, max_per_client: int, now: float) -> None:
        unpaired = [s for s in self._sessions.values() if not s.paired]
        own = [s for s in unpaired if s.client == client]
        if len(own) >= max_per_client:
            self._evict_one_at_rest(own, "This address already has as many kiosk sessions as it may", now)
            unpaired = [s for s in self._sessions.values() if not s.paired]
        if len(unpaired) >= self.max_sessions:
            self._evict_one_at_rest(unpaired, "Every kiosk session is in use", now)

    def _evict_one_at_rest(self, candidates: list[KioskSession], why: str, now: float) -> None:
        at_rest = [s for s in candidates if s.at_rest(now)]
        if not at_rest:
            raise KioskSessionsFull(f"{why}, each in the middle of a check-in; try again in a moment.")
        self._end(min(at_rest, key=lambda s: s.last_seen))

    def _end(self, session: KioskSession) -> None:
        self._sessions.pop(session.id, None)
        # A frame in flight keeps its objects until it is done; closing them under it would not.
        if session.lock.acquire(blocking=False):
            try:
                session.close()
            finally:
                session.lock.release()

    def get(self, session_id: str | None, client: str | None = None) -> KioskSession | None:
        """The session with this id; with ``client``, only if it is that client's."""
        with self._lock:
            session = self._sessions.get(session_id or "")
            return None if session is None or (client is not None and session.client != client) else session

    def states_by_client(self) -> dict[str, str]:
        """Each client's latest session state in this process (for the admin's Devices page)."""
        with self._lock:
            latest: dict[str, KioskSession] = {}
            for s in self._sessions.values():
                if s.client not in latest or s.last_seen > latest[s.client].last_seen:
                    latest[s.client] = s
            return {client: s.machine.state.value for client, s in latest.items() if s.machine is not None}

    def _expire(self, now: float) -> None:
        for session in list(self._sessions.values()):
            if now - session.last_seen > self.idle_timeout_s or (not session.paired and session.stalled(now)):
                self._end(session)
            elif session.stalled(now) and session.lock.acquire(blocking=False):
                try:  # a paired kiosk keeps its session; its stuck check-in starts over
                    assert session.machine is not None  # stalled() says so
                    session.machine.reset(now)
                    session.check_in_since = None
                finally:
                    session.lock.release()

    def close_all(self) -> None:
        """End every session (their pose trackers go back to the pool): a worker shutting down, or a
        test that must not leave its kiosks holding the pool's trackers for the next one."""
        with self._lock:
            sessions, self._sessions = list(self._sessions.values()), {}
        for session in sessions:
            session.close()

    def __len__(self) -> int:
        return len(self._sessions)


registry = SessionRegistry()
