"""One kiosk frame through the models the current state needs, into the state machine.

The expensive stages run only where they matter, so that a kiosk gets answers at the camera's pace:

* every state: face detection + quality (BlazeFace, ~2 ms), which also keeps the face tracked;
* IDLE/IDENTIFYING: the embedding and classifier, only on frames that are new evidence for the
  vote: at least ``vote_gap_s`` after the previous embedding (the machine's rule) and not
  moving, blurred or the same picture as the last vote (``kiosk.checkin.vote_frames``);
* CONFIRMING/SMILING: pose + gesture (tracking mode) at most every ``pose_every_s``, the frames
  in between reusing the last reading while the face stays put (``kiosk.checkin.pose_hold``),
  and a cheap same-person check: the face box must move continuously, and every
  ``same_person_every_s`` the embedding is computed again and must still name the same person;
* CONFIRMING/SMILING: the emotion model on the face crop (~0.4 ms), where the face sits on the
  body (from the pose's shoulders) and, every ``liveness_every_s``, the passive presentation-attack
  score (~4 ms): the liveness cues (``kiosk.checkin.liveness``).
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

from numpy.typing import NDArray

from ..vision import emotion, face_mesh, faces, gestures
from ..vision.faces import Face
from ..vision.lazy import ModelUnavailable
from ..vision.pose import PoseLandmarks
from .contract import UNKNOWN_VOTE, Observation, Stage, State
from .liveness import BodyGeometry
from .machine import CheckInMachine
from .pose_hold import PoseHold


class Identity(Protocol):
    """Who a face is: ``person_id`` None when the recogniser rejects it (unknown).

    It may also carry ``distance`` (to the named person's nearest sample), ``embedding``, ``crop``
    (the canonical crop embedded) and ``embedder`` (the embedder id that made it): the machine keeps
    the closest frame of the person as the check-in's evidence (``kiosk.checkin.evidence``)."""

    person_id: int | None
    person: str | None  # the person's name
    score: float | None


class Identify(Protocol):
    """``identify(bgr, face)``: the identity of ``face`` found in the frame ``bgr``.

    The kiosk's is ``kiosk.services.checkin.identify``; it answers "nobody" when no face model
    is trained yet and raises ``ModelUnavailable`` when a model file is missing."""

    def __call__(self, bgr: NDArray[Any], face: Face) -> Identity: ...


class PoseEstimator(Protocol):
    def estimate(self, bgr: NDArray[Any]) -> PoseLandmarks | None: ...


class PassiveLiveness(Protocol):
    """``predict(bgr, box)``: 0..1, higher = a live face (the kiosk's is ``kiosk.vision.liveness``);
    raises ``ModelUnavailable`` when its model files are missing or broken."""

    def predict(self, bgr: NDArray[Any], box: tuple[int, int, int, int]) -> float: ...


#: The parts of a frame's server time, one vocabulary for the profile (``kiosk bench``): ``decode``
#: is the JPEG's (the frame API's, before this module), ``tracking`` the per-frame bookkeeping that
#: lets the costly parts be skipped (vote frames, the held pose), ``other`` the rest (the machine).
FRAME_PARTS = ("decode", "detection", "tracking", "embedding", "pose", "emotion", "liveness", "other")


@dataclass
class FrameParts:
    """Milliseconds spent in each part of the frames it is given to (summed over frames)."""

    ms: dict[str, float] = field(default_factory=lambda: defaultdict(float))

    @contextmanager
    def part(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.ms[name] += (time.perf_counter() - started) * 1000

    def server_ms(self) -> float:
        """The parts measured in ``analyse_frame`` (all but the decode), summed."""
        return sum(ms for name, ms in self.ms.items() if name != "decode")


@contextmanager
def _untimed(name: str) -> Iterator[None]:
    yield


@dataclass
class FrameResult:
    """The drawing data of one frame, next to the machine's snapshot."""

    frame_size: tuple[int, int]
    faces: list[dict[str, Any]]
    face_box: tuple[int, int, int, int] | None
    pose: list[list[float]] | None
    server_ms: float
    embeddings: int = 0  # face embeddings computed for this frame (0 or 1)


def analyse_frame(
    machine: CheckInMachine,
    bgr: NDArray[Any],
    identify: Identify,
    pose_estimator: PoseEstimator | None,
    now: float | None = None,
    passive_liveness: PassiveLiveness | None = None,
    pose_hold: PoseHold | None = None,
    parts: FrameParts | None = None,
) -> FrameResult:
    """Run the stages the machine needs on ``bgr`` and step the machine. ``pose_estimator`` may
    be None when the machine's state needs no pose (see ``KioskSession.pose_for_frame``); without
    ``passive_liveness`` the passive cue counts as unavailable; without ``pose_hold`` (the kiosk
    session's) the pose model runs on every frame that needs a pose. ``parts`` collects where the
    frame's time went (FRAME_PARTS; the bench's profile)."""
    started = time.perf_counter()
    timed = parts.part if parts is not None else _untimed
    spent_before = parts.server_ms() if parts is not None else 0.0
    now = time.monotonic() if now is None else now
    needed = machine.stages_needed(now)
    height, width = bgr.shape[:2]
    embeddings = 0

    with timed("detection"):
        analysis = faces.analyze_frame(bgr)
    face = analysis.face
    quality_problem = analysis.quality.problem if analysis.quality is not None else None
    obs = Observation(
        now=now,
        face_status=analysis.status,
        face_box=face.box if face is not None else None,
        face_count=len(analysis.faces),
        quality_problem=quality_problem,
    )
    usable = analysis.status == "ok" and face is not None

    identifying = machine.state in (State.IDLE, State.IDENTIFYING)
    if identifying and usable and face is not None and quality_problem is None:
        # Every frame's face is tracked; only frames that can add to the vote are embedded.
        assert analysis.quality is not None  # measured for every usable face
        with timed("tracking"):
            skip = machine.evidence.skip_reason(bgr, face.box, analysis.quality.sharpness, now)
        if Stage.IDENTITY in needed and skip is None:
            with timed("embedding"):
                match = identify(bgr, face)
            embeddings += 1
            with timed("tracking"):
                machine.evidence.voted(bgr, face.box, now)
            obs.identity = match.person_id if match.person_id is not None else UNKNOWN_VOTE
            obs.identity_name = match.person
            obs.identity_score = match.score
            obs.identity_distance = getattr(match, "distance", None)
            obs.identity_embedding = getattr(match, "embedding", None)
            obs.identity_crop = getattr(match, "crop", None)
            obs.identity_embedder = getattr(match, "embedder", None)
            obs.face_quality = analysis.quality.score if analysis.quality is not None else None
        elif Stage.IDENTITY in needed:
            obs.vote_skipped = skip

    if Stage.SAME_PERSON in needed and usable and face is not None:
        with timed("embedding"):
            obs.same_person = identify(bgr, face).person_id == machine.person_id
        embeddings += 1

    pose_points = None
    if Stage.POSE in needed and pose_estimator is not None:
        step = (machine.state, machine.entered_at)
        with timed("tracking"):
            every_s = machine.config.pose_every_s
            landmarks = pose_hold.held(bgr, step, obs.face_box, now, every_s) if pose_hold is not None else None
        if landmarks is None:
            with timed("pose"):
                landmarks = pose_estimator.estimate(bgr)
            if pose_hold is not None:
                with timed("tracking"):
                    pose_hold.keep(bgr, landmarks, step, obs.face_box, now, every_s)
        if landmarks is not None:
            prediction = gestures.classify(landmarks)
            obs.gesture = prediction.gesture
            obs.gesture_score = prediction.score
            # The body making the gesture must own the face being served: its head landmarks
            # lie in the face box. A photo held up by someone else fails this.
            obs.body_owns_face = obs.face_box is not None and landmarks.head_inside_box(obs.face_box)
            if obs.body_owns_face and obs.face_box is not None:
                placed = landmarks.face_on_shoulders(obs.face_box)
                obs.body_geometry = BodyGeometry(*placed) if placed is not None else None
            pose_points = [
                [round(float(p[0]), 4), round(float(p[1]), 4), round(float(p[3]), 3)] for p in landmarks.array
            ]

    if Stage.EMOTION in needed and usable and face is not None:
        with timed("emotion"):
            obs.happy = emotion.analyze_emotion(bgr, face).happy
            # The mouth's shape (face landmarks, the dearest step of the two) on every smiling frame,
            # and while confirming at the passive score's cadence: enough for the neutral face to rise from.
            if machine.state == State.SMILING or Stage.LIVENESS in needed:
                mouth = face_mesh.get_face_mesh().predict(bgr, face)
                obs.mouth_width = mouth.width if mouth is not None else None
    # While identifying, only frames that were embedded (votes) get the passive score too.
    scored_vote = not identifying or embeddings > 0
    if Stage.LIVENESS in needed and usable and face is not None and scored_vote:
        if passive_liveness is None:
            obs.passive_unavailable = True
        else:
            try:
                with timed("liveness"):
                    obs.passive_liveness = float(passive_liveness.predict(bgr, face.box))
            except ModelUnavailable:
                # Reported at start (/healthz); here the cue fails and the site's policy decides.
                obs.passive_unavailable = True
    if Stage.POSE in needed:
        obs.frame = bgr  # CONFIRMING (capture gesture) and SMILING may keep this frame as the photo

    machine.step(obs)
    server_ms = (time.perf_counter() - started) * 1000
    if parts is not None:
        parts.ms["other"] += server_ms - (parts.server_ms() - spent_before)
    return FrameResult(
        frame_size=(width, height),
        faces=[{"box": [int(v) for v in f.box], "score": round(float(f.score), 3)} for f in analysis.faces],
        face_box=obs.face_box,
        pose=pose_points,
        server_ms=round(server_ms, 1),
        embeddings=embeddings,
    )
