"""The check-in engine's vocabulary: its states and stages, its settings, what the pipeline
observes in a frame, what the page is shown, and the backend it records through. No Flask,
no models: the machine (``kiosk.checkin.machine``), the pipeline and the adapter above share it."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from ..vision.emotion import SMILE_THRESHOLD
from ..vision.face_learning import CheckInEvidence
from .liveness import BodyGeometry, LivenessSettings, LivenessVerdict


class State(str, enum.Enum):
    IDLE = "IDLE"
    IDENTIFYING = "IDENTIFYING"
    CONFIRMING = "CONFIRMING"
    SMILING = "SMILING"
    DONE = "DONE"
    UNKNOWN = "UNKNOWN"
    CANCELLED = "CANCELLED"


class Stage(str, enum.Enum):
    """Work the pipeline may do on a frame; the machine asks only for what its state needs.
    Face detection and quality are not among them: they run on every frame (BlazeFace, ~2 ms)."""

    IDENTITY = "identity"  # embedding + classifier (IDLE/IDENTIFYING, at most every vote_gap_s)
    SAME_PERSON = "same_person"  # embedding compared with the identified person (every same_person_every_s)
    POSE = "pose"  # pose landmarks + gesture (CONFIRMING, SMILING)
    EMOTION = "emotion"  # happy score (CONFIRMING: the neutral face liveness rises from; SMILING)
    LIVENESS = "liveness"  # the passive presentation-attack score (CONFIRMING, SMILING; every liveness_every_s)


UNKNOWN_VOTE = -1  # the vote of a face the recogniser rejects


@dataclass
class MachineConfig:
    """Thresholds and timeouts; every one can be set per site (``KIOSK_CHECKIN_*``)."""

    vote_window: int = 4  # the latest embeddings (votes) that count
    votes_to_identify: int = 3  # agreeing votes one person needs inside the window
    votes_to_reject: int = 4  # unknown votes that end in UNKNOWN
    vote_gap_s: float = 0.1  # an embedding is new evidence only this long after the previous one
    vote_min_span_s: float = 0.25  # the deciding votes must span at least this long
    face_lost_s: float = 0.5  # the face missing this long (and face_lost_frames frames) -> give up
    face_lost_frames: int = 3
    gesture_hold_s: float = 0.3  # how long a gesture must be held ...
    gesture_hold_frames: int = 3  # ... on at least this many consecutive frames
    gesture_min_score: float = 0.6
    same_person_every_s: float = 1.0  # full embedding re-check while confirming/smiling
    # The pose model at most this often while confirming/smiling; frames in between reuse its
    # reading while the face stays put (kiosk.checkin.pose_hold). 0: the model on every frame.
    pose_every_s: float = 0.2
    min_box_iou: float = 0.2  # face box continuity between consecutive frames
    identify_timeout_s: float = 8.0
    confirm_timeout_s: float = 12.0
    smile_timeout_s: float = 6.0
    smile_threshold: float = SMILE_THRESHOLD
    smile_hold_s: float = 0.3
    smile_hold_frames: int = 2
    message_s: float = 4.0  # how long DONE / UNKNOWN / CANCELLED stay on screen
    # Liveness (kiosk.checkin.liveness): what a check-in that fails it becomes, and the cues' cuts.
    liveness_policy: str = "review"  # review | refuse | off
    liveness_rise: float = LivenessSettings.rise
    liveness_passive_floor: float = LivenessSettings.passive_floor
    liveness_every_s: float = 0.2  # the passive score's cadence while confirming and smiling

    def liveness_settings(self) -> LivenessSettings:
        return LivenessSettings(policy=self.liveness_policy, rise=self.liveness_rise,
                                passive_floor=self.liveness_passive_floor)

    @classmethod
    def from_mapping(cls, values: Any, prefix: str = "KIOSK_CHECKIN_") -> MachineConfig:
        """The site's settings: ``KIOSK_CHECKIN_<FIELD>`` for each field, and ``KIOSK_LIVENESS_POLICY``.
        Raises ValueError naming a setting that is unknown or whose value does not convert."""
        config = cls()
        fields = vars(cls())
        for key in values:
            if isinstance(key, str) and key.startswith(prefix) and key[len(prefix):].lower() not in fields:
                raise ValueError(f"{key} is not a setting of the check-in (known: "
                                 f"{', '.join(prefix + name.upper() for name in fields)}).")
        for name, default in fields.items():
            key = prefix + name.upper()
            if key in values and values[key] not in (None, ""):
                try:
                    setattr(config, name, type(default)(values[key]))
                except (TypeError, ValueError):
                    raise ValueError(f"{key} must be a {type(default).__name__}, not {values[key]!r}.") from None
        policy = values.get("KIOSK_LIVENESS_POLICY") if hasattr(values, "get") else None
        if policy not in (None, ""):
            config.liveness_policy = str(policy).strip().lower()
        if not 0 <= config.pose_every_s <= 1:
            raise ValueError(f"{prefix}POSE_EVERY_S must be between 0 and 1 second, not {config.pose_every_s!r}.")
        config.liveness_settings()  # refuses an unknown policy or a cut out of range
        return config


@dataclass
class Observation:
    """What the pipeline saw in one frame. Fields a state did not ask for stay None."""

    now: float  # monotonic seconds
    face_status: str  # ok | no_face | multiple_faces | face_too_small
    face_box: tuple[int, int, int, int] | None = None
    face_count: int = 0
    quality_problem: str | None = None  # too_dark | too_bright | too_blurry
    identity: int | None = None  # person id, UNKNOWN_VOTE, or None (not computed)
    vote_skipped: str | None = None  # why a wanted embedding was not taken (kiosk.checkin.vote_frames)
    identity_name: str | None = None
    identity_score: float | None = None
    identity_distance: float | None = None  # to the named person's nearest sample
    identity_embedding: Any = None  # the face's embedding, for the check-in's evidence
    identity_crop: Any = None  # the canonical face crop it was made from
    identity_embedder: str | None = None  # the embedder id (with its weights key) that made the embedding
    face_quality: float | None = None  # FaceQuality.score, 0..1
    same_person: bool | None = None  # None: not checked on this frame
    gesture: str | None = None  # O | X | capture | idle
    gesture_score: float = 0.0
    body_owns_face: bool | None = None  # pose head landmarks inside the face box
    happy: float | None = None
    mouth_width: float | None = None  # mouth corners / eye corners (kiosk.vision.face_mesh), with happy
    body_geometry: BodyGeometry | None = None  # where the face sits on the gesturing body (liveness)
    passive_liveness: float | None = None  # 0..1, higher = live (None: not computed on this frame)
    passive_unavailable: bool = False  # the passive liveness model is missing or broken
    frame: Any = None  # the BGR frame, kept only by the smile step


@dataclass
class RecordOutcome:
    kind: str  # check_in | check_out | needs_review | refused
    timestamp: datetime
    photo_token: str | None
    duplicate: bool = False
    local_time: str | None = None  # "08:59" on the site's clock, for the screen
    worked_today_s: float | None = None  # a recorded "out": the person's worked time this working day


class CheckInBackend(Protocol):
    def recent_event(self, person_id: int) -> RecordOutcome | None:
        """This person's earlier event (``duplicate=True``, its kind and time) when a check-in
        now would only repeat it and nothing would be recorded; None when a new event may be."""

    def record(
        self, person_id: int, frame: Any, happy: float, identification_score: float,
        evidence: CheckInEvidence | None = None, liveness: LivenessVerdict | None = None,
    ) -> RecordOutcome:
        """Store the attendance event and its photo atomically. ``evidence``: the identification's
        closest frame of the person and its vote, from a check-in the person confirmed (the kiosk's
        backend offers it to the learning service only when ``liveness`` passed with margin)."""

    def record_suspect(
        self, person_id: int, frame: Any, happy: float, identification_score: float,
        liveness: LivenessVerdict, neutral_frame: Any, policy: str,
    ) -> RecordOutcome:
        """Keep a check-in that failed liveness for an administrator's review (no attendance event):
        the photo, the neutral frame the expression cue rose from, the scores. ``policy`` is
        ``review`` (the kiosk says it awaits confirmation) or ``refuse`` (the kiosk refused it)."""


@dataclass
class Snapshot:
    """What the kiosk page shows; built by :meth:`CheckInMachine.snapshot`."""

    state: State
    prompt: str
    hint: str | None = None
    person_name: str | None = None
    gesture: dict[str, Any] | None = None
    hold: dict[str, Any] | None = None  # a hold in progress: {"kind", "name", "progress", "remaining_s", "hold_s"}
    happy: float | None = None
    countdown: float | None = None
    photo_token: str | None = None
    checked_in_at: datetime | None = None
    event_kind: str | None = None
    duplicate: bool = False
    worked_today_s: float | None = None  # a recorded "out": the person's worked time this working day
