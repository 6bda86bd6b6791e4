"""The check-in state machine, one per kiosk session. No Flask, no models.

    IDLE -> IDENTIFYING -> CONFIRMING -> SMILING -> DONE -> IDLE
                      \\-> UNKNOWN -> IDLE      CONFIRMING/SMILING -> CANCELLED -> IDLE

The machine never looks at pixels. For each frame the pipeline (``kiosk.checkin.pipeline``)
runs only the stages that :meth:`CheckInMachine.stages_needed` asks for in the current
state, packs the results into an :class:`Observation` and calls :meth:`CheckInMachine.step`.
Recording the attendance is delegated to a :class:`CheckInBackend`, so the machine is
tested on recorded observation sequences with a backend of the test's choosing.

Decisions that protect people from being checked in as someone else:

* identity is decided by a vote over several embeddings taken at different moments, never
  by one frame: at least ``votes_to_identify`` (3) agreeing votes among the latest
  ``vote_window`` (4), each embedding at least ``vote_gap_s`` (0.1 s) after the previous one
  and the agreeing ones spanning at least ``vote_min_span_s`` (0.25 s). Frames in between are
  not embedded (``Stage.IDENTITY`` is not asked for; the pipeline also skips frames that
  would add nothing, see ``kiosk.checkin.vote_frames``), but every frame's face detection keeps
  the face tracked: a face that jumps elsewhere starts the vote again;
* a gesture counts only when held for ``gesture_hold_s`` seconds on at least
  ``gesture_hold_frames`` consecutive frames, and only when the body making it owns the face
  (the pose's head landmarks lie in the face box), so a photo held up by somebody else
  cannot confirm;
* while confirming and smiling the face must stay the same person (a cheap continuity
  check every frame, a full embedding check every ``same_person_every_s``, postponed up to
  twice that while a gesture is being held); a second face aborts.

Holds and timeouts are in seconds (with minimum frame counts), so a check-in takes as long on a
machine that analyses 15 frames a second as on one that manages 5.
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

from ..languages import Gettext
from ..vision.face_learning import CheckInEvidence
from ..vision.faces import box_iou
from ..vision.gestures import Gesture, GesturePrediction
from . import screen
from .contract import (  # noqa: F401 - the engine's vocabulary, also named from here by its users
    UNKNOWN_VOTE,
    CheckInBackend,
    MachineConfig,
    Observation,
    RecordOutcome,
    Snapshot,
    Stage,
    State,
)
from .evidence import EvidenceKeeper
from .gesture_hold import GestureHold
from .liveness import LivenessJudge
from .smile import Capture, SmileCapture
from .vote_frames import VoteEvidence


@dataclass
class CheckInMachine:
    config: MachineConfig
    backend: CheckInBackend
    state: State = State.IDLE
    entered_at: float = 0.0
    person_id: int | None = None
    person_name: str | None = None
    identity_score: float | None = None
    hint: str | None = None
    frames_in_state: int = 0
    # (time, person id or UNKNOWN_VOTE, name, score)
    _votes: deque[tuple[float, int, str | None, float | None]] = field(default_factory=deque)
    _last_vote_at: float | None = None
    _same_person_at: float | None = None
    _lost_frames: int = 0
    _lost_since: float | None = None
    _last_box: tuple[int, int, int, int] | None = None
    evidence: VoteEvidence = field(default_factory=VoteEvidence)  # kept for the pipeline's pixel rules
    _gesture: GestureHold | None = None
    _last_gesture: tuple[str | None, float] = (None, 0.0)
    _smile: SmileCapture | None = None
    _happy: float | None = None
    _reason: str = ""
    _outcome: RecordOutcome | None = None
    _candidates: EvidenceKeeper = field(default_factory=EvidenceKeeper)
    _evidence: CheckInEvidence | None = None
    liveness: LivenessJudge = field(init=False)
    _passive_at: float | None = None
    _capture: Capture | None = None  # the photo taken, waiting for the liveness cues to finish
    _neutral: tuple[float, Any] | None = None  # (happy, frame) of the least happy frame of this check-in
    # (passive score, unavailable) of the identifying votes
    _vote_passive: list[tuple[float | None, bool]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.liveness = LivenessJudge(self.config.liveness_settings())

    # -- what the pipeline must compute -------------------------------------------------
    def stages_needed(self, now: float | None = None) -> set[Stage]:
        """The stages for a frame at ``now``. No pose model while IDLE; an embedding while
        identifying only ``vote_gap_s`` after the last vote; once a person is identified only a
        re-check every ``same_person_every_s``. Without ``now`` the timed stages are included."""
        def due(since: float | None, every: float) -> bool:
            return now is None or since is None or now - since >= every

        if self.state == State.IDENTIFYING or self.state == State.IDLE:
            # IDLE asks for identity too: the frame that starts IDENTIFYING is its first vote.
            if self.state == State.IDLE or due(self._last_vote_at, self.config.vote_gap_s):
                # The passive liveness score rides on the embedded frames: a quick, decisive person
                # gives the check-in only a few frames after identification.
                return {Stage.IDENTITY, Stage.LIVENESS}
            return set()
        if self.state in (State.CONFIRMING, State.SMILING):
            # Emotion in CONFIRMING too: the neutral face the liveness expression cue rises from.
            stages = {Stage.POSE, Stage.EMOTION}
            if due(self._passive_at, self.config.liveness_every_s):
                stages.add(Stage.LIVENESS)
            # A person in the middle of a gesture hold is not kept waiting by the re-check's
            # embedding (it took the hold's last frame ~200 ms with dlib here): it waits for the
            # hold to end, up to twice its period. The face box is still checked every frame.
            every = self.config.same_person_every_s
            holding = self._gesture is not None and self._gesture.current is not None and not self._gesture.complete
            if due(self._same_person_at, 2 * every if holding else every):
                stages.add(Stage.SAME_PERSON)
            return stages
        return set()

    def frame_wanted(self) -> tuple[int, float]:
        """(width in pixels, minimum seconds between frames) of the frames this state needs.

        Identifying, confirming and smiling need the camera's full 640 px (the face must be
        large enough to embed) as often as the camera gives them; a message screen (DONE,
        UNKNOWN, CANCELLED) only needs to see whether someone is there, a few times a second."""
        if self.state in (State.DONE, State.UNKNOWN, State.CANCELLED):
            return 320, 0.25
        return 640, 0.0

    # -- transitions ---------------------------------------------------------------------
    def _enter(self, state: State, now: float, reason: str = "") -> None:
        self.state = state
        self.entered_at = now
        self.frames_in_state = 0
        self._reason = reason
        self._lost_frames, self._lost_since = 0, None
        self._gesture = GestureHold(
            self.config.gesture_hold_s, self.config.gesture_hold_frames, self.config.gesture_min_score
        )
        self._last_gesture = (None, 0.0)
        if state not in (State.CONFIRMING, State.SMILING):
            self._capture = self._neutral = None  # frames are not kept past the check-in
        if state == State.IDLE:
            self.person_id = self.person_name = self.identity_score = None
            self._smile = None
            self._happy = None
            self._outcome = None
            self._last_box = None
            self.evidence.reset()
            self._evidence = None
        if state in (State.IDLE, State.IDENTIFYING):
            self._clear_votes()
        if state == State.CONFIRMING:
            # The identifying votes were the last check of who this is.
            self._same_person_at = now
            # Liveness is judged on this check-in's frames: the identifying votes' passive scores (the
            # same tracked face), then every frame from here on.
            self.liveness.reset()
            for score, unavailable in self._vote_passive:
                self.liveness.observe_passive(score)
                self.liveness.passive_unavailable |= unavailable
            self._passive_at = None
            self._capture = None
            self._neutral = None
        if state == State.SMILING:
            self._smile = SmileCapture(
                threshold=self.config.smile_threshold,
                hold_frames=self.config.smile_hold_frames,
                hold_s=self.config.smile_hold_s,
                timeout_s=self.config.smile_timeout_s,
                started_at=now,
            )

    def _clear_votes(self) -> None:
        # The evidence of the frame being stepped (the pipeline recorded it) is kept: only the
        # face's history, which belonged to the face whose votes are dropped, goes.
        self._votes.clear()
        self._candidates.clear()
        self._vote_passive.clear()
        self._last_vote_at = None
        self.evidence.sharpness.clear()

    def reset(self, now: float) -> None:
        self._enter(State.IDLE, now)

    def _elapsed(self, now: float) -> float:
        return now - self.entered_at

    def step(self, obs: Observation) -> None:
        """Advance the machine by one frame."""
        now = obs.now
        self.hint = obs.quality_problem if obs.face_status == "ok" else obs.face_status
        handler = getattr(self, f"_on_{self.state.value.lower()}")
        handler(obs, now)
        self.frames_in_state += 1

    def tick(self, now: float) -> None:
        """Apply timeouts without a frame (the page polls state while it has no frame)."""
        if self.state in (State.DONE, State.UNKNOWN, State.CANCELLED):
            if self._elapsed(now) >= self.config.message_s:
                self._enter(State.IDLE, now)
        elif self.state == State.IDENTIFYING and self._elapsed(now) >= self.config.identify_timeout_s:
            self._enter(State.IDLE, now, "timeout")
        elif self.state == State.CONFIRMING and self._elapsed(now) >= self.config.confirm_timeout_s:
            self._enter(State.IDLE, now, "timeout")

    # Each handler implements one state's rules.
    def _usable(self, obs: Observation) -> bool:
        return obs.face_status == "ok" and obs.quality_problem is None

    def _face_lost(self, now: float) -> bool:
        """Count a frame without the face; True once it has been gone long enough to give up."""
        if self._lost_frames == 0:
            self._lost_since = now
        self._lost_frames += 1
        assert self._lost_since is not None  # set on the first lost frame
        return self._lost_frames >= self.config.face_lost_frames and now - self._lost_since >= self.config.face_lost_s

    def _face_found(self) -> None:
        self._lost_frames, self._lost_since = 0, None

    def _on_idle(self, obs: Observation, now: float) -> None:
        if self._usable(obs):
            self._enter(State.IDENTIFYING, now)
            self._on_identifying(obs, now)

    def _on_identifying(self, obs: Observation, now: float) -> None:
        if self._elapsed(now) >= self.config.identify_timeout_s:
            self._enter(State.IDLE, now, "timeout")
            return
        if not self._usable(obs):
            if obs.face_status == "multiple_faces":
                # Never let the vote run on with a crowd: start again when one person is left.
                self._clear_votes()
            if self._face_lost(now):
                self._enter(State.IDLE, now)
            return
        # A usable face: tracked on every frame, voted on the frames that were embedded.
        self._face_found()
        if self._last_box is not None and box_iou(self._last_box, obs.face_box) < self.config.min_box_iou:
            self._clear_votes()  # a different face walked in: its votes start from zero
        self._last_box = obs.face_box
        too_soon = self._last_vote_at is not None and now - self._last_vote_at < self.config.vote_gap_s
        if obs.identity is None or too_soon:
            return  # no embedding, or one too close to the last vote to be new evidence
        self._last_vote_at = now
        self._votes.append((now, obs.identity, obs.identity_name, obs.identity_score))
        if obs.passive_liveness is not None or obs.passive_unavailable:
            self._vote_passive.append((obs.passive_liveness, obs.passive_unavailable))
        if obs.identity != UNKNOWN_VOTE:
            self._candidates.offer(obs.identity, obs.identity_distance, obs.identity_embedding, obs.identity_crop,
                                   obs.face_quality, obs.face_box[2] if obs.face_box else 0, obs.identity_embedder)
        while len(self._votes) > self.config.vote_window:
            self._votes.popleft()
        if self._decided(UNKNOWN_VOTE, self.config.votes_to_reject):
            self._enter(State.UNKNOWN, now)
            return
        counts = Counter(vote for _, vote, _, _ in self._votes if vote != UNKNOWN_VOTE)
        winner = max(counts, key=lambda vote: counts[vote], default=None)
        if winner is not None and self._decided(winner, self.config.votes_to_identify):
            scores = [s for _, v, _, s in self._votes if v == winner and s is not None]
            self.person_id = winner
            self.person_name = next(name for _, v, name, _ in self._votes if v == winner)
            self.identity_score = sum(scores) / len(scores) if scores else None
            all_votes = Counter(vote for _, vote, _, _ in self._votes)
            self._evidence = self._candidates.take(winner, all_votes, UNKNOWN_VOTE)
            repeat = self.backend.recent_event(winner)
            if repeat is not None:
                self._outcome = repeat
                self._enter(State.DONE, now, "duplicate")
                return
            self._enter(State.CONFIRMING, now)

    def _decided(self, vote: int, needed: int) -> bool:
        """``vote`` has ``needed`` votes in the window, spanning at least ``vote_min_span_s``."""
        times = [at for at, v, _, _ in self._votes if v == vote]
        return len(times) >= needed and times[-1] - times[0] >= self.config.vote_min_span_s

    def _still_same_person(self, obs: Observation, now: float) -> bool:
        """False (and the machine has moved on) when the person is gone or someone else is here."""
        if obs.face_status == "multiple_faces" or obs.face_count > 1:
            self._enter(State.CANCELLED, now, "second_face")
            return False
        if obs.same_person is False:
            self._enter(State.CANCELLED, now, "different_person")
            return False
        if obs.same_person is True:
            self._same_person_at = now
        if obs.face_box is None:
            if self._face_lost(now):
                self._enter(State.IDLE, now, "face_lost")
                return False
            return True
        if self._last_box is not None and box_iou(self._last_box, obs.face_box) < self.config.min_box_iou:
            # The face jumped: not the continuous movement of one person.
            self._enter(State.CANCELLED, now, "different_person")
            return False
        self._face_found()
        self._last_box = obs.face_box
        return True

    def _held_gesture(self, obs: Observation) -> str | None:
        self._last_gesture = (obs.gesture, obs.gesture_score)
        assert self._gesture is not None  # made on entering CONFIRMING
        if obs.gesture is None or obs.body_owns_face is not True:
            # No body, or a body that does not own the face: breaks any run of gestures.
            return self._gesture.update(None, obs.now)
        return self._gesture.update(GesturePrediction(obs.gesture, obs.gesture_score), obs.now)

    def _on_confirming(self, obs: Observation, now: float) -> None:
        if self._elapsed(now) >= self.config.confirm_timeout_s:
            self._enter(State.IDLE, now, "timeout")
            return
        if not self._still_same_person(obs, now):
            return
        self._observe_liveness(obs)
        gesture = self._held_gesture(obs)
        if gesture == Gesture.X:
            self._enter(State.CANCELLED, now, "cancelled")
        elif gesture == Gesture.O:
            self._enter(State.SMILING, now)
        elif gesture == Gesture.CAPTURE:
            # Both arms up means "yes, take the photo now": confirm and capture this frame.
            self._enter(State.SMILING, now)
            assert self._smile is not None  # made on entering SMILING
            self._smile.capture_now()
            self._update_smile(obs, now)

    def answer_by_touch(self, yes: bool, now: float) -> bool:
        """A touch on Yes or No while confirming, for a person who cannot make the gestures: the
        same step an O or an X takes, only while the face is still in view. Liveness is judged
        on the check-in's frames as for a gesture. False (nothing changes) in any other moment."""
        if self.state != State.CONFIRMING or not self.in_check_in(now) or self._lost_frames or self._last_box is None:
            return False
        self._enter(State.SMILING if yes else State.CANCELLED, now, "touch" if yes else "cancelled")
        return True

    def _on_smiling(self, obs: Observation, now: float) -> None:
        if not self._still_same_person(obs, now):
            return
        self._observe_liveness(obs)
        if self._held_gesture(obs) == Gesture.CAPTURE:
            assert self._smile is not None  # made on entering SMILING
            self._smile.capture_now()
        self._update_smile(obs, now)

    def _observe_liveness(self, obs: Observation) -> None:
        """Feed this frame's cues to the liveness judge (CONFIRMING and SMILING)."""
        if obs.passive_unavailable:
            self.liveness.passive_unavailable = True
        if obs.passive_liveness is not None:
            self._passive_at = obs.now
            self.liveness.observe_passive(obs.passive_liveness)
        if obs.body_owns_face:
            self.liveness.observe_body(obs.body_geometry)
        if obs.happy is not None:
            self.liveness.observe_expression(obs.happy, obs.mouth_width)
            if obs.frame is not None and (self._neutral is None or obs.happy < self._neutral[0]):
                self._neutral = (obs.happy, obs.frame)

    def _update_smile(self, obs: Observation, now: float) -> None:
        assert self._smile is not None
        self._happy = obs.happy
        if self._capture is None:
            self._capture = self._smile.update(obs.frame, obs.happy if obs.happy is not None else 0.0, now)
            if self._capture is None:
                return
        # The photo is taken (a held smile, the capture gesture, or the step's time); a check-in the
        # liveness judge would refuse for want of an expression change waits for one until the
        # smile step's time is up: the both-arms-up shortcut never skips it.
        waiting = self.config.liveness_policy != "off" and not self.liveness.expression_passed
        if waiting and self._elapsed(now) < self.config.smile_timeout_s:
            return
        self._finish(self._capture, now)

    def _finish(self, capture: Capture, now: float) -> None:
        verdict = self.liveness.verdict()
        score = self.identity_score or 0.0
        policy = self.config.liveness_policy
        assert self.person_id is not None  # a capture happens only after identification
        if verdict.live or policy == "off":
            self._outcome = self.backend.record(
                self.person_id, capture.frame, capture.happy, score, evidence=self._evidence, liveness=verdict
            )
            self._happy = capture.happy
            self._enter(State.DONE, now, capture.reason)
            return
        neutral_frame = self._neutral[1] if self._neutral is not None else None
        self._outcome = self.backend.record_suspect(
            self.person_id, capture.frame, capture.happy, score, verdict, neutral_frame, policy
        )
        self._happy = capture.happy
        if policy == "refuse":
            self._enter(State.CANCELLED, now, "not_live")
        else:
            self._enter(State.DONE, now, "needs_review")

    def _on_message(self, obs: Observation, now: float) -> None:
        if self._elapsed(now) >= self.config.message_s:
            self._enter(State.IDLE, now)

    _on_done = _on_unknown = _on_cancelled = _on_message

    def in_check_in(self, now: float) -> bool:
        """Whether someone is in the middle of a check-in (being recognised, asked to confirm or to
        smile, or being welcomed) and that step has not run out of time. A kiosk that stopped
        sending frames is not: its step timed out, though no frame came to move it to IDLE."""
        limits = {
            State.IDENTIFYING: self.config.identify_timeout_s,
            State.CONFIRMING: self.config.confirm_timeout_s,
            State.SMILING: self.config.smile_timeout_s,
            State.DONE: self.config.message_s,
        }
        limit = limits.get(self.state)
        return limit is not None and self._elapsed(now) < limit

    # -- what the page shows -------------------------------------------------------------
    def countdown(self, now: float) -> float | None:
        limits = {
            State.IDENTIFYING: self.config.identify_timeout_s,
            State.CONFIRMING: self.config.confirm_timeout_s,
            State.SMILING: self.config.smile_timeout_s,
        }
        limit = limits.get(self.state)
        return None if limit is None else max(0.0, round(limit - self._elapsed(now), 1))

    def prompt(self, gettext: Gettext | None = None) -> str:
        return screen.prompt(self, gettext)

    def snapshot(self, now: float, gettext: Gettext | None = None) -> Snapshot:
        return screen.snapshot(self, now, gettext)
