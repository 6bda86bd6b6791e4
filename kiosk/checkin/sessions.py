"""Kiosk sessions: one state machine (and one pose tracker) per kiosk browser.

Sessions live in the worker's memory, keyed by a random id kept in the browser's signed
session cookie. A kiosk's frames must reach the worker that holds its session, which is
why gunicorn runs one worker with several threads (see ``gunicorn.conf.py``): the models
are loaded once, and the 2-core box is kept busy by threads (OpenCV, TensorFlow, dlib and
MediaPipe release the GIL while they compute).
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from .machine import CheckInBackend, CheckInMachine, MachineConfig

PHOTO_TOKEN_TTL_S = 120.0  # the welcome photo's URL works for two minutes, for this session only


@dataclass
class KioskSession:
    id: str
    machine: CheckInMachine | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    last_seen: float = field(default_factory=time.monotonic)
    pose: Any = None  # a tracking-mode pose estimator owned by this session (not thread-safe)
    photos: dict[str, tuple[int, float]] = field(default_factory=dict)  # token -> (event id, expiry)

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

    def close(self) -> None:
        """Release the pose tracker (the machine and photo links stay)."""
        close = getattr(self.pose, "close", None)
        if close is not None:
            close()
        self.pose = None


class SessionRegistry:
    """Bounded: idle sessions expire, and the oldest is evicted when the registry is full."""

    def __init__(self, max_sessions: int = 16, idle_timeout_s: float = 600.0) -> None:
        self.max_sessions = max_sessions
        self.idle_timeout_s = idle_timeout_s
        self._sessions: dict[str, KioskSession] = {}
        self._lock = threading.Lock()

    def get_or_create(
        self,
        session_id: str | None,
        config: MachineConfig,
        backend_factory: Callable[[KioskSession], CheckInBackend],
    ) -> KioskSession:
        """The session with this id, or a new one whose machine records through
        ``backend_factory(session)`` (the backend may need the session, e.g. for photo links)."""
        now = time.monotonic()
        with self._lock:
            self._expire(now)
            session = self._sessions.get(session_id or "")
            if session is None:
                session = KioskSession(id=secrets.token_urlsafe(18))
                session.machine = CheckInMachine(config=config, backend=backend_factory(session))
                session.machine.reset(now)
                if len(self._sessions) >= self.max_sessions:
                    oldest = min(self._sessions.values(), key=lambda s: s.last_seen)
                    self._sessions.pop(oldest.id).close()
                self._sessions[session.id] = session
            session.last_seen = now
            return session

    def get(self, session_id: str | None) -> KioskSession | None:
        with self._lock:
            return self._sessions.get(session_id or "")

    def _expire(self, now: float) -> None:
        for sid in [s.id for s in self._sessions.values() if now - s.last_seen > self.idle_timeout_s]:
            self._sessions.pop(sid).close()

    def __len__(self) -> int:
        return len(self._sessions)


registry = SessionRegistry()
