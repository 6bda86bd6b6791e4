"""The kiosk's check-in service: frames in, the state the page shows out.

The one adapter between the Flask-free check-in engine (``kiosk.checkin``) and the rest of
the kiosk. It wires the engine's services: :func:`identify` (face recognition, with "no
model trained yet" answered as nobody), the passive liveness model, and :class:`DatabaseBackend`
(recording through ``kiosk.services.attendance``, or ``kiosk.services.spoofs`` for a check-in
that failed liveness); the session lends the pose tracker. :func:`process_frame` decodes a
frame, runs the pipeline under the session's lock and builds the JSON answer described in the
frame API contract. A confirmed check-in's face is offered to ``kiosk.services.learning`` after
the answer, in the background: the "Welcome" answer never waits for a model to be saved.

It reads nothing from the request: the web layer passes the kiosk's name and how to link a
welcome photo (``photo_url``).

Errors (``kiosk.errors``): ``InvalidInput`` code ``bad_image`` (400) for undecodable
frames, ``KioskError`` code ``busy`` (409) when the session already has a frame in flight,
``ModelUnavailable`` (503 ``model_unavailable``) when a model file is missing, ``Warming``
(503 ``warming``) while the worker is still loading its models (``kiosk.services.readiness``).
A touch answer (:func:`answer_by_touch`) is ``TouchAnswerOff`` (403 ``touch_answer_off``) where the
site has not turned it on, and ``Conflict`` code ``not_confirming`` (409) when the kiosk is not
asking for a confirmation of a face in view.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from datetime import datetime
from typing import Any, Callable

import cv2
import numpy as np
from flask import current_app

from .. import storage
from ..checkin.liveness import LivenessVerdict
from ..checkin.machine import CheckInMachine, MachineConfig, RecordOutcome, Snapshot
from ..checkin.pipeline import FrameResult, analyse_frame
from ..checkin.sessions import DEVICE_CLIENT_PREFIX, KioskSession, registry
from ..errors import Conflict, InvalidInput, KioskError, NotFound
from ..extensions import db
from ..languages import gettext_for
from ..models import AttendanceEvent
from ..sitetime import to_local
from ..vision.face_learning import CheckInEvidence
from ..vision.faces import Face
from ..vision.image import BadImage, decode_image
from ..vision.liveness import passive_liveness
from . import attendance, database, hours, learning, recognition, spoofs
from .gesture_samples import sync_site_model
from .people import get_person
from .readiness import Warming, readiness

log = logging.getLogger(__name__)

# Frames larger than this are shrunk before analysis: the kiosk streams 640x480, and a
# phone-sized frame would only make every stage slower for no better answer.
MAX_ANALYSIS_WIDTH = 960


class Busy(KioskError):
    status = 409
    code = "busy"


class TouchAnswerOff(KioskError):
    status = 403
    code = "touch_answer_off"


class KioskIdentify:
    """The engine's ``identify(bgr, face)``: recognition's match for the face. With no trained
    model everyone is "not recognised" (the person is told to see an administrator) and the
    operator is told why in the log, once until a model appears."""

    NOBODY = recognition.FaceMatch(None, None, None, None)

    def __init__(self) -> None:
        self._told_operator = threading.Event()

    def __call__(self, bgr: np.ndarray, face: Face) -> recognition.FaceMatch:
        try:
            match = recognition.identify_face(bgr, face)
        except recognition.ModelNotTrained:
            if not self._told_operator.is_set():
                self._told_operator.set()
                log.warning(
                    "No face model is trained yet: the kiosk recognises nobody. "
                    "Enroll people and run `kiosk train faces`."
                )
            return self.NOBODY
        self._told_operator.clear()
        return match


identify = KioskIdentify()


PhotoUrl = Callable[[str], str]


class DatabaseBackend:
    """Records check-ins for one kiosk session; see ``CheckInBackend``. ``kiosk_id`` is set for
    each frame (the device that sent it); ``learn_next`` is the face to learn from once the
    frame's answer is out."""

    def __init__(self, session: KioskSession) -> None:
        # Weak: the session owns the machine that owns this backend; a strong reference back
        # would make a cycle that keeps evicted sessions (and their frames) alive until a full GC.
        self._session = weakref.ref(session)
        self.kiosk_id = ""
        self.learn_next: tuple[int, CheckInEvidence, str] | None = None

    def recent_event(self, person_id: int) -> RecordOutcome | None:
        earlier = attendance.recent_repeat(person_id)
        if earlier is None:
            return None
        return RecordOutcome(kind=earlier.kind.value, timestamp=earlier.timestamp, photo_token=None, duplicate=True)

    def record(
        self, person_id: int, frame: Any, happy: float, identification_score: float,
        evidence: CheckInEvidence | None = None, liveness: LivenessVerdict | None = None,
    ) -> RecordOutcome:
        result = attendance.record_check_in(
            database.retry_on_disconnect(lambda: get_person(person_id), "loading the person checking in"),
            frame,
            happy=happy,
            identification_score=identification_score,
            kiosk_id=self.kiosk_id,
        )
        # Only a face that passed liveness with margin may teach the model (a print that slipped
        # through near the cuts must not become the person's face).
        if not result.duplicate and evidence is not None and liveness is not None and liveness.with_margin:
            self.learn_next = (person_id, evidence, self.kiosk_id)
        event = result.event
        token = None
        session = self._session()
        if not result.duplicate and event is not None and event.photo_path and session is not None:
            token = session.add_photo(event.id)
        kind = event.kind.value if event is not None else "check_in"
        worked = None
        if kind == "check_out" and not result.duplicate:
            worked = database.retry_on_disconnect(
                lambda: hours.worked_on_working_day(person_id, event.timestamp), "adding up today's hours"
            ).total_seconds()
        return RecordOutcome(kind=kind, timestamp=event.timestamp, photo_token=token, duplicate=result.duplicate,
                             local_time=result.checked_in_at, worked_today_s=worked)


    def record_suspect(
        self, person_id: int, frame: Any, happy: float, identification_score: float,
        liveness: LivenessVerdict, neutral_frame: Any, policy: str,
    ) -> RecordOutcome:
        spoof = database.retry_on_disconnect(
            lambda: spoofs.record(person_id, frame, neutral_frame, verdict=liveness, policy=policy, happy=happy,
                                  identification_score=identification_score, kiosk_id=self.kiosk_id),
            "keeping a suspected spoof",
        )
        kind = "refused" if policy == "refuse" else "needs_review"
        return RecordOutcome(kind=kind, timestamp=spoof.timestamp, photo_token=None)


def machine_config() -> MachineConfig:
    return MachineConfig.from_mapping(current_app.config)


def device_states() -> dict[int, str]:
    """The state of each paired kiosk's session in this process (device id -> state)."""
    return {int(client[len(DEVICE_CLIENT_PREFIX):]): state for client, state in registry.states_by_client().items()
            if client.startswith(DEVICE_CLIENT_PREFIX)}


def _session(session_id: str | None, client: str) -> KioskSession:
    return registry.get_or_create(
        session_id, machine_config(), DatabaseBackend, client=client,
        max_per_client=int(current_app.config["KIOSK_SESSIONS_PER_CLIENT"]),
    )


def _at_rest_payload(language: str | None = None) -> dict[str, Any]:
    """What a kiosk without a session shows: IDLE, from a machine that is never kept. Reading
    the state or resetting must not open a session (a read would otherwise take a place in the
    registry, and enough of them pushed out a kiosk in the middle of a check-in)."""
    machine = CheckInMachine(config=machine_config(), backend=None)  # type: ignore[arg-type] - records nothing
    now = time.monotonic()
    machine.reset(now)
    return _payload(None, machine.snapshot(now, gettext_for(language)), None, machine)


def _local_time(moment: datetime | None) -> str | None:
    return None if moment is None else to_local(moment).strftime("%H:%M")


def _payload(session: KioskSession | None, snapshot: Snapshot, frame: FrameResult | None,
             machine: CheckInMachine | None = None, photo_url: PhotoUrl | None = None) -> dict[str, Any]:
    width, min_interval_s = (machine or session.machine).frame_wanted()
    return {
        "state": snapshot.state.value,
        "prompt": snapshot.prompt,
        "hint": snapshot.hint,
        "person": {"name": snapshot.person_name} if snapshot.person_name else None,
        "frame_size": list(frame.frame_size) if frame else None,
        "faces": frame.faces if frame else [],
        "face": {"box": list(frame.face_box)} if frame and frame.face_box else None,
        "pose": frame.pose if frame else None,
        "gesture": snapshot.gesture,
        "hold": snapshot.hold,
        "happy": None if snapshot.happy is None else round(float(snapshot.happy), 3),
        "countdown": snapshot.countdown,
        "photo_url": photo_url(snapshot.photo_token) if snapshot.photo_token and photo_url else None,
        "checked_in_at": _local_time(snapshot.checked_in_at),
        "event_kind": snapshot.event_kind,
        "duplicate": snapshot.duplicate,
        # Whole seconds: the card says "8 h 12 min today" in the kiosk's language (static/js/kiosk.js).
        "worked_today_s": None if snapshot.worked_today_s is None else int(snapshot.worked_today_s),
        "server_ms": frame.server_ms if frame else None,
        "next_frame": {"width": width, "min_interval_ms": round(min_interval_s * 1000)},
    }


def decode_frame(data: bytes) -> Any:
    try:
        bgr = decode_image(data, max_pixels=current_app.config["KIOSK_MAX_IMAGE_PIXELS"])
    except BadImage as err:
        raise InvalidInput(str(err), code="bad_image") from err
    height, width = bgr.shape[:2]
    if width > MAX_ANALYSIS_WIDTH:
        scale = MAX_ANALYSIS_WIDTH / width
        bgr = cv2.resize(bgr, (MAX_ANALYSIS_WIDTH, round(height * scale)), interpolation=cv2.INTER_AREA)
    return bgr


def process_frame(session_id: str | None, data: bytes, client: str = "", *, kiosk_id: str | None = None,
                  photo_url: PhotoUrl | None = None, language: str | None = None) -> tuple[str, dict[str, Any]]:
    """Analyse one frame for this kiosk session (opened for ``client`` if it has none: see
    ``SessionRegistry``); returns the session id and the answer. ``kiosk_id``: the device that
    sent it (default: the site's KIOSK_ID); ``photo_url(token)``: the welcome photo's link;
    ``language``: the kiosk's (kiosk.languages), for the prompt."""

    if not readiness(current_app).serving:
        raise Warming(
            "The kiosk is starting: its models are loading. It will answer in a few seconds.", retry_after_s=0.5
        )
    bgr = decode_frame(data)
    session = _session(session_id, client)
    if not session.lock.acquire(blocking=False):
        raise Busy("The previous frame is still being processed; send the next one after its answer.")
    backend = session.machine.backend
    try:
        backend.kiosk_id = kiosk_id or current_app.config["KIOSK_ID"]
        pose = session.pose_for_frame()
        if pose is not None:
            sync_site_model()  # the gesture model a site retrained on another app host
        result = analyse_frame(session.machine, bgr, identify, pose, passive_liveness=passive_liveness(),
                               pose_hold=session.pose_hold)
        now = time.monotonic()
        session.note_progress(now)
        snapshot = session.machine.snapshot(now, gettext_for(language))
        answer = _payload(session, snapshot, result, photo_url=photo_url)
        learn, backend.learn_next = backend.learn_next, None
    finally:
        session.lock.release()
    if learn is not None:
        learning.learn_in_background(current_app._get_current_object(), *learn)
    return session.id, answer


def current_state(session_id: str | None, photo_url: PhotoUrl | None = None,
                  client: str | None = None, language: str | None = None) -> tuple[str | None, dict[str, Any]]:
    """The session's state (``client``'s only, when given), or IDLE (and no session id) when it
    has none: nothing is opened."""
    session = registry.get(session_id, client)
    if session is None:
        return None, _at_rest_payload(language)
    with session.lock:
        now = time.monotonic()
        session.machine.tick(now)
        return session.id, _payload(session, session.machine.snapshot(now, gettext_for(language)), None,
                                    photo_url=photo_url)


def reset(session_id: str | None, client: str | None = None,
          language: str | None = None) -> tuple[str | None, dict[str, Any]]:
    """Back to IDLE; a kiosk without a session gets IDLE and still none (its first frame opens one)."""
    session = registry.get(session_id, client)
    if session is None:
        return None, _at_rest_payload(language)
    with session.lock:
        now = time.monotonic()
        session.machine.reset(now)
        return session.id, _payload(session, session.machine.snapshot(now, gettext_for(language)), None)


def answer_by_touch(session_id: str | None, yes: bool, client: str | None = None,
                    photo_url: PhotoUrl | None = None, language: str | None = None) -> tuple[str, dict[str, Any]]:
    """Yes or No by touch while the kiosk asks for a confirmation (KIOSK_TOUCH_CONFIRM): the step
    an O or an X takes. Liveness is still judged on the check-in's frames."""
    if not current_app.config["KIOSK_TOUCH_CONFIRM"]:
        raise TouchAnswerOff("This kiosk answers with the O and X gestures only: the touch answer is off "
                             "(KIOSK_TOUCH_CONFIRM).")
    session = registry.get(session_id, client)
    if session is None:
        raise Conflict("There is nothing to confirm: step in front of the camera first.", code="not_confirming")
    with session.lock:
        now = time.monotonic()
        if not session.machine.answer_by_touch(yes, now):
            raise Conflict("There is nothing to confirm right now: the kiosk asks for a confirmation once it "
                           "has recognised the face in front of it.", code="not_confirming")
        session.note_progress(now)
        return session.id, _payload(session, session.machine.snapshot(now, gettext_for(language)), None,
                                    photo_url=photo_url)


def photo_path(session_id: str | None, token: str, client: str | None = None):
    """The welcome photo behind ``token``, only for the session it was issued to."""
    session = registry.get(session_id, client)
    event_id = session.photo_event(token) if session else None
    event = db.session.get(AttendanceEvent, event_id) if event_id else None
    if event is None or not event.photo_path:
        raise NotFound("This photo link has expired.")
    return storage.resolve(event.photo_path)
