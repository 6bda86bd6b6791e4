"""Learning from confirmed check-ins: when a live face is worth adding to a person's gallery.

A confirmed check-in is a labelled sample: the kiosk named the person, and the person said "yes,
that's me" with a held gesture, the same face throughout (``kiosk.checkin``). Its embedding, taken
under that kiosk's camera and light, can teach the model what enrollment photos did not show. It
can also teach it the wrong thing: a stranger who happens to be accepted once and confirms (by
mistake, or on purpose) would, if learned, widen the person's gallery towards strangers. So a
check-in's face is added only when every rule of :class:`LearningPolicy` holds:

1. **Clear vote**: no frame of the identification named anyone else, and the person won at least
   ``min_vote_share`` of the frames (frames answered "unknown" count against).
2. **Good face**: quality score (``FaceQuality.score``) at least ``min_quality`` and the face box at
   least ``min_face_px`` wide: a blurred or small face would teach noise.
3. **Confident match, anchored on enrollment**: the current model still names this person, and the
   face lies within ``confident_ratio`` x the model's threshold of one of the person's *enrollment*
   photos. Stricter than acceptance (ratio 1): a face that only just got in is exactly the one that
   may be somebody else. Measured from enrollment photos, not from learned samples, so learning
   cannot walk away from them step by step (template drift): every learned sample stays within
   ``confident_ratio`` x threshold of an enrollment photo.
4. **New information**: at least ``novelty_ratio`` x threshold from every sample of the person
   already in the gallery (enrolled or learned): a near-copy adds nothing but weight.
5. **Cap**: at most ``max_learned_per_person`` learned samples per person; the oldest learned ones
   make room. Enrollment photos are never pushed out.

The defaults come from ``training/evaluate_learning.py`` on faces-dev (see its docstring and
docs/learning.md). Everything here is pure (numpy): the learning service
(``kiosk.services.learning``) does the database, the files and the model update
(:meth:`kiosk.vision.face_model.FaceModel.with_learned`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .face_model import FaceModel, default_threshold

# Why a check-in's face was or was not learned (the service logs these codes, never the face).
LEARNED = "learned"
REASONS = {
    LEARNED: "added to the person's learned samples",
    "unclear_vote": "another person or 'unknown' took too many frames of the identification",
    "poor_quality": "the face was too small, blurred or badly lit",
    "not_named": "the current model does not name this person for this face",
    "not_confident": "the face is not close enough to the person's enrollment photos",
    "near_copy": "the face is a near-copy of one the person already has",
    "other_embedder": "the face was embedded by another embedder than the current model's",
}


@dataclass(frozen=True)
class VoteCount:
    """The identification's frames: for the person confirmed, for anyone else, and unknown."""

    for_person: int
    for_others: int = 0
    unknown: int = 0

    @property
    def share(self) -> float:
        total = self.for_person + self.for_others + self.unknown
        return self.for_person / total if total else 0.0


@dataclass
class CheckInEvidence:
    """What a confirmed check-in offers to learn from: its closest-matching frame of the person.

    Carried by the check-in engine from the identification to the record step."""

    embedding: NDArray[Any]  # (dim,), by the model's embedder
    crop: NDArray[Any] | None  # the canonical face crop (BGR) the embedding was made from
    distance: float  # to the person's nearest gallery sample, when it was identified
    quality: float | None  # FaceQuality.score of that frame, 0..1
    face_px: int  # width of the face box in that frame
    votes: VoteCount = field(default_factory=lambda: VoteCount(0))
    # The embedder id (with its FaceNet weights key) that made ``embedding``; None: the model's own.
    # Two FaceNet weights keys make embeddings of the same size that must never be mixed.
    embedder: str | None = None


@dataclass(frozen=True)
class LearningPolicy:
    confident_ratio: float = 0.95
    novelty_ratio: float = 0.25
    min_vote_share: float = 0.8
    min_quality: float = 0.5
    min_face_px: int = 80
    max_learned_per_person: int = 10


@dataclass(frozen=True)
class LearningDecision:
    add: bool
    reason: str  # a key of REASONS
    anchor_distance: float | None = None  # to the nearest enrollment photo of the person
    nearest_distance: float | None = None  # to the nearest sample of the person, enrolled or learned
    evict: tuple[int, ...] = ()  # learned sample ids to remove (oldest first) to stay within the cap

    @property
    def message(self) -> str:
        return REASONS[self.reason]


def _nearest(rows: NDArray[Any], vector: NDArray[Any]) -> float:
    if len(rows) == 0:
        return float("inf")
    return float(np.sqrt(np.min(np.sum((rows - vector) ** 2, axis=1))))


def confident_base(model: FaceModel) -> float:
    """The distance the confident rule takes a fraction of: the model's threshold, but never more than
    the embedder's default. A site whose threshold was learned high (few people enrolled: it reaches
    the range's cap) accepts more loosely; what it learns must not loosen with it."""
    return min(float(model.threshold), default_threshold(model.embedder))


def decide(
    model: FaceModel,
    person_id: int,
    evidence: CheckInEvidence,
    policy: LearningPolicy = LearningPolicy(),
    learned_oldest_first: list[int] | tuple[int, ...] = (),
) -> LearningDecision:
    """Whether ``evidence`` from a confirmed check-in of ``person_id`` is added to the gallery of
    ``model`` (the current one, not the one that identified: another kiosk may have taught it
    since). ``learned_oldest_first``: the person's learned sample ids, oldest first (for the cap)."""
    votes = evidence.votes
    if votes.for_others > 0 or votes.share < policy.min_vote_share:
        return LearningDecision(False, "unclear_vote")
    if evidence.quality is None or evidence.quality < policy.min_quality or evidence.face_px < policy.min_face_px:
        return LearningDecision(False, "poor_quality")
    vector = np.asarray(evidence.embedding, dtype=np.float32)
    if vector.shape != (model.dim,) or (evidence.embedder is not None and evidence.embedder != model.embedder):
        return LearningDecision(False, "other_embedder")
    named, _score, nearest = model.classify(vector[None, :])[0]
    if named != person_id:
        return LearningDecision(False, "not_named", nearest_distance=nearest)
    anchor = _nearest(model.enrolled_rows(person_id), vector)
    if anchor > policy.confident_ratio * confident_base(model):
        return LearningDecision(False, "not_confident", anchor, nearest)
    if nearest < policy.novelty_ratio * model.threshold:
        return LearningDecision(False, "near_copy", anchor, nearest)
    overflow = len(learned_oldest_first) + 1 - policy.max_learned_per_person
    evict = tuple(learned_oldest_first[: max(0, overflow)])
    return LearningDecision(True, LEARNED, anchor, nearest, evict)
