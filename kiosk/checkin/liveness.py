"""Is a live person checking in? One verdict per check-in, from three cues over its frames.

A print or a screen showing an enrolled colleague can pass face recognition; what it cannot do
is what a person at the kiosk does for several seconds in front of a camera that also sees the
body. The judge collects, while the person confirms and smiles:

* ``expression`` (active): the face changes on request. On ``rise_frames`` frames both the happy
  score (the emotion model the smile step already runs) must rise by ``rise`` and the mouth's
  width (corner to corner, in eye distances: ``kiosk.vision.face_mesh``) by ``mouth_rise`` of
  itself, above the person's own neutral face seen earlier in the same check-in. A print keeps
  its expression, but tilted, re-lit and re-compressed its happy score swings (28% of 117 prints
  of faces-dev rose by 0.35 over 40 jittered frames); its mouth's proportions hardly move (1.7%
  rose by 15%), and both together 0.9%, while a smile widens the mouth by 25-45%. A person who
  smiles all along is asked to relax for a moment, then smile. The both-arms-up shortcut takes
  the photo at once, but the check-in still waits for this cue.
* ``body`` (consistency): the face belongs to the body making the gestures, in size and place.
  The face box's width against the shoulders' width, and how far above the shoulders it sits
  (in face heights), must be those of a human head on those shoulders on most pose frames. A
  head-and-shoulders print held over a face puts a small face high above the real shoulders;
  a phone held up beside a body puts it to one side (the pose's head then fails too).
* ``passive`` (texture): the presentation-attack score of a per-frame model (MiniFASNet,
  ``kiosk.vision.liveness``), median over the check-in's frames. Weak on its own (AUC 0.86 on
  public data, not calibrated across cameras), so its cut is low: it refuses what the model is
  sure of, and the other cues carry the rest.

No Flask, no models, no pixels: the pipeline measures, the machine feeds the judge, and the
judge's :class:`LivenessVerdict` travels with the check-in (recorded, shown to the admin, and
deciding whether learning may use the face).
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from typing import Any

POLICIES = ("review", "refuse", "off")
CUES = ("expression", "body", "passive")


@dataclass(frozen=True)
class LivenessSettings:
    """The cues' cuts; the site sets them with ``KIOSK_LIVENESS_*`` (see MachineConfig)."""

    policy: str = "review"
    rise: float = 0.35  # the happy score's rise above the person's own neutral face
    mouth_rise: float = 0.15  # the mouth width's rise, as a share of its neutral width
    rise_frames: int = 2  # frames that must show the rise
    neutral_frames: int = 2  # frames of the neutral face before a rise counts
    body_min_frames: int = 3  # pose frames with the face and both shoulders
    body_share: float = 0.6  # share of them whose geometry is a human head on those shoulders
    # A human head on the shoulders, from 124 real photos with both (tests/data/gestures, faces-dev):
    # 0.36-1.55 (median 0.63), 0.38-1.15 (0.74), 0-0.59 (0.06); the cuts leave room around them.
    face_to_shoulders: tuple[float, float] = (0.3, 1.6)  # face box width / shoulder width
    head_height: tuple[float, float] = (0.3, 1.6)  # shoulder line - face centre, in face heights
    head_offset: float = 0.65  # face centre off the shoulders' middle, in shoulder widths
    # The median passive score below which the face is refused: the model's per-frame equal-error
    # point (kiosk.vision.liveness.DEFAULT_FRAME_THRESHOLD, models/liveness/MODEL_CARD.md).
    passive_floor: float = 0.1
    passive_min_frames: int = 3
    margin: float = 0.15  # how far past each cut a check-in must be for learning to use its face

    def __post_init__(self) -> None:
        if self.policy not in POLICIES:
            raise ValueError(f"KIOSK_LIVENESS_POLICY must be one of {', '.join(POLICIES)}, not {self.policy!r}.")
        for name in ("rise", "mouth_rise", "body_share", "passive_floor", "margin"):
            value = getattr(self, name)
            if not (0.0 <= value <= 1.0):
                raise ValueError(f"liveness {name} must be between 0 and 1, not {value!r}")
        for name in ("rise_frames", "neutral_frames", "body_min_frames", "passive_min_frames"):
            if getattr(self, name) < 1:
                raise ValueError(f"liveness {name} must be at least 1")

    @property
    def enabled(self) -> bool:
        return self.policy != "off"


@dataclass(frozen=True)
class BodyGeometry:
    """Where the face sits on the body of one pose frame (measured by the pipeline)."""

    face_to_shoulders: float  # face box width / distance between the shoulders
    head_height: float  # (shoulder line y - face centre y) / face box height
    head_offset: float  # |face centre x - shoulders' middle x| / shoulder width


@dataclass(frozen=True)
class LivenessVerdict:
    """The check-in's liveness: ``live`` when every cue passed; ``failed`` names the others.
    ``cues``: per cue ``{"passed", "value", "needed", "frames"}`` for the admin and the record."""

    live: bool
    score: float  # 0..1, the weakest cue's share of its cut (1 = every cue met), for sorting and display
    cues: dict[str, dict[str, Any]]
    failed: tuple[str, ...]
    with_margin: bool  # every cue passed by at least the settings' margin: learning may use the face

    def as_dict(self) -> dict[str, Any]:
        return {"live": self.live, "score": round(self.score, 3), "failed": list(self.failed), "cues": self.cues,
                "with_margin": self.with_margin}


def body_geometry_plausible(geometry: BodyGeometry, settings: LivenessSettings) -> bool:
    low, high = settings.face_to_shoulders
    top, bottom = settings.head_height
    return (
        low <= geometry.face_to_shoulders <= high
        and top <= geometry.head_height <= bottom
        and geometry.head_offset <= settings.head_offset
    )


@dataclass
class LivenessJudge:
    """Collects one check-in's cues. :meth:`reset` when a new check-in starts."""

    settings: LivenessSettings = field(default_factory=LivenessSettings)
    _happy: list[float] = field(default_factory=list)  # scored frames, in order
    _mouth: list[float] = field(default_factory=list)  # their mouth widths
    _risen: int = 0  # frames whose happy score rose enough above the earlier neutral face
    _best_rise: float = 0.0
    _body: list[bool] = field(default_factory=list)
    _passive: list[float] = field(default_factory=list)
    passive_unavailable: bool = False  # the passive model could not run (missing file): the cue fails

    def reset(self) -> None:
        self._happy.clear()
        self._mouth.clear()
        self._body.clear()
        self._passive.clear()
        self._risen = 0
        self._best_rise = 0.0
        self.passive_unavailable = False

    # -- what the machine feeds in ------------------------------------------------------
    def observe_expression(self, happy: float | None, mouth_width: float | None) -> None:
        """One frame's happy score and mouth width (both needed: a frame without either is skipped)."""
        if happy is None or mouth_width is None or not (math.isfinite(happy) and math.isfinite(mouth_width)):
            return
        if len(self._happy) >= self.settings.neutral_frames:
            rise = happy - min(self._happy)
            widening = mouth_width / min(self._mouth) - 1.0 if min(self._mouth) > 0 else 0.0
            # The weaker of the two, in shares of their cuts: the progress the kiosk's ring shows.
            share = min(rise / self.settings.rise if self.settings.rise else 1.0,
                        widening / self.settings.mouth_rise if self.settings.mouth_rise else 1.0)
            self._best_rise = max(self._best_rise, share)
            if rise >= self.settings.rise and widening >= self.settings.mouth_rise:
                self._risen += 1
        self._happy.append(float(happy))
        self._mouth.append(float(mouth_width))

    def observe_body(self, geometry: BodyGeometry | None) -> None:
        if geometry is not None:
            self._body.append(body_geometry_plausible(geometry, self.settings))

    def observe_passive(self, score: float | None) -> None:
        if score is not None and math.isfinite(score):
            self._passive.append(float(score))

    # -- what the machine asks ---------------------------------------------------------
    @property
    def expression_passed(self) -> bool:
        return self._risen >= self.settings.rise_frames

    @property
    def expression_progress(self) -> float:
        """0..1 of the rise done, for the ring on the kiosk screen."""
        if self.expression_passed:
            return 1.0
        return max(0.0, min(0.99, self._best_rise))

    @property
    def smiling_from_the_start(self) -> bool:
        """Smiling already when first seen (no neutral face to rise from): ask to relax, then smile."""
        return (len(self._happy) >= self.settings.neutral_frames + 2 and not self.expression_passed
                and min(self._happy) >= 0.5)

    def verdict(self) -> LivenessVerdict:
        s = self.settings
        body_share = sum(self._body) / len(self._body) if self._body else 0.0
        passive = statistics.median(self._passive) if self._passive else None
        cues: dict[str, dict[str, Any]] = {
            "expression": {  # value: the best frame's rise, in shares of the cuts (1 = both met)
                "passed": self.expression_passed, "value": round(self._best_rise, 3), "needed": 1.0,
                "frames": len(self._happy),
            },
            "body": {
                "passed": len(self._body) >= s.body_min_frames and body_share >= s.body_share,
                "value": round(body_share, 3), "needed": s.body_share, "frames": len(self._body),
            },
            "passive": {
                "passed": (not self.passive_unavailable and passive is not None
                           and len(self._passive) >= s.passive_min_frames and passive >= s.passive_floor),
                "value": None if passive is None else round(passive, 3), "needed": s.passive_floor,
                "frames": len(self._passive), "unavailable": self.passive_unavailable,
            },
        }
        failed = tuple(name for name in CUES if not cues[name]["passed"])
        shares = [
            min(1.0, self._best_rise),
            min(1.0, body_share / s.body_share) if s.body_share > 0 else 1.0,
            1.0 if s.passive_floor <= 0 else (0.0 if passive is None else min(1.0, passive / s.passive_floor)),
        ]
        with_margin = (
            not failed
            and self._best_rise >= 1.0 + s.margin
            and body_share >= min(1.0, s.body_share + s.margin)
            and passive is not None and passive >= s.passive_floor + s.margin
        )
        return LivenessVerdict(live=not failed, score=min(shares), cues=cues, failed=failed, with_margin=with_margin)
