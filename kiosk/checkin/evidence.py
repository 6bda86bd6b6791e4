"""What a check-in saw of the person, carried from the identification to the record step.

While the machine identifies someone it keeps, for each person the frames named, the frame that
matched that person most closely (its embedding and the embedder id that made it, face crop,
distance, quality and face size). When one person wins the vote, their frame and the vote's count
become the check-in's
:class:`~kiosk.vision.face_learning.CheckInEvidence`; the backend's record step hands it on (the
kiosk's: to ``kiosk.services.learning``, which decides whether the face is learned). Only one frame
per candidate is kept, and nothing survives the identification but the winner's.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from typing import Any

from ..vision.face_learning import CheckInEvidence, VoteCount


class EvidenceKeeper:
    def __init__(self) -> None:
        self._best: dict[int, CheckInEvidence] = {}

    def clear(self) -> None:
        self._best.clear()

    def offer(self, person_id: int, distance: float | None, embedding: Any, crop: Any, quality: float | None,
              face_px: int, embedder: str | None = None) -> None:
        """A frame that named ``person_id``; kept if it is that person's closest match so far."""
        if embedding is None or distance is None:
            return
        best = self._best.get(person_id)
        if best is None or distance < best.distance:
            self._best[person_id] = CheckInEvidence(
                embedding, crop, float(distance), quality, int(face_px), embedder=embedder
            )

    def take(self, person_id: int, votes: Counter[int], unknown_vote: int) -> CheckInEvidence | None:
        """The winner's evidence with the vote's count; forgets every other candidate."""
        best = self._best.get(person_id)
        self._best.clear()
        if best is None:
            return None
        others = sum(n for vote, n in votes.items() if vote not in (person_id, unknown_vote))
        return replace(best, votes=VoteCount(votes[person_id], others, votes[unknown_vote]))
