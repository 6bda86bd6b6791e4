"""The models the kiosk serves with, as named warm-up steps: what each step loads and runs, and which
steps it needs first. ``services/warmup.py`` walks :data:`KIOSK_MODELS` in :meth:`ModelRegistry.ordered`
order; a model added to the kiosk gets its step here, next to the others, instead of in a hand-kept list.

The needs are real data flow, not taste: the gesture classifier reads the pose step's landmarks,
identification, emotion, face mesh and liveness read the face that detection found, the embedder is
the one the trained face model was made with, and the whole-pipeline step runs last, on warm models.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import cv2
import numpy as np

from ..checkin.machine import CheckInMachine, MachineConfig, RecordOutcome, State
from ..checkin.pipeline import analyse_frame
from ..vision import emotion, face_mesh, faces, gestures, liveness
from ..vision.embedders import get_embedder, resolve_embedder_id
from ..vision.face_crop import canonical_crop
from ..vision.faces import Face
from ..vision.image import load_image
from ..vision.lazy import ModelUnavailable
from ..vision.pose import PoseEstimator
from ..vision.settings import models_dir
from . import face_model_file, recognition
from .checkin import decode_frame, identify

WARM_UP_FRAME = Path("warmup") / "person.jpg"  # under the models dir: a face and a body with both arms in view


@dataclass
class WarmUpRun:
    """What the steps share: the frame, the face detection found, the pooled pose tracker (or
    None), each step's result by step name, and why a step that may fail did, by step name."""

    tracker: PoseEstimator | None = None
    bgr: Any = None
    face: Face | None = None
    results: dict[str, Any] = field(default_factory=dict)
    problems: dict[str, str] = field(default_factory=dict)
    #: The name the running step reports its time under, when it is more precise than the step's
    #: own (``embedding facenet-...``: which embedder was warmed).
    label: str | None = None


@dataclass(frozen=True)
class WarmUpStep:
    name: str
    run: Callable[[WarmUpRun], Any]
    needs: tuple[str, ...] = ()
    #: False: a missing model (:class:`ModelUnavailable`) is logged and recorded in
    #: ``WarmUpRun.problems`` (the walker's caller says what follows) instead of failing the warm-up.
    required: bool = True


class ModelRegistry:
    """Named warm-up steps with their dependencies, walked in an order that honours them."""

    def __init__(self) -> None:
        self._steps: dict[str, WarmUpStep] = {}

    def step(
        self, name: str, *, needs: tuple[str, ...] = (), required: bool = True
    ) -> Callable[[Callable[[WarmUpRun], Any]], Callable[[WarmUpRun], Any]]:
        """Register the decorated function as the step ``name``."""

        def register(run: Callable[[WarmUpRun], Any]) -> Callable[[WarmUpRun], Any]:
            if name in self._steps:
                raise ValueError(f"the warm-up step {name!r} is registered twice")
            self._steps[name] = WarmUpStep(name, run, tuple(needs), required)
            return run

        return register

    @property
    def names(self) -> list[str]:
        return list(self._steps)

    def ordered(self) -> list[WarmUpStep]:
        """Every step after the steps it needs; otherwise in registration order."""
        for step in self._steps.values():
            unknown = [need for need in step.needs if need not in self._steps]
            if unknown:
                raise ValueError(f"the warm-up step {step.name!r} needs unknown steps: {', '.join(unknown)}")
        done: list[WarmUpStep] = []
        placed: set[str] = set()
        pending = list(self._steps.values())
        while pending:
            ready = next((s for s in pending if all(need in placed for need in s.needs)), None)
            if ready is None:
                raise ValueError(f"the warm-up steps {', '.join(s.name for s in pending)} need each other")
            pending.remove(ready)
            done.append(ready)
            placed.add(ready.name)
        return done

    def walk(self, run: WarmUpRun) -> dict[str, float]:
        """Run every step in order; returns the seconds each took, by its (reported) name."""
        seconds: dict[str, float] = {}
        for step in self.ordered():
            run.label = None
            started = time.perf_counter()
            try:
                run.results[step.name] = step.run(run)
            except ModelUnavailable as err:
                if step.required:
                    raise
                run.problems[step.name] = str(err)
                continue
            seconds[run.label or step.name] = round(time.perf_counter() - started, 2)
        return seconds


def warm_up_frame() -> bytes:
    """The warm-up picture as the kiosk would receive it: a 640x480 JPEG."""
    photo = load_image(models_dir() / WARM_UP_FRAME)
    scale = min(640 / photo.shape[1], 480 / photo.shape[0])
    fitted = cv2.resize(photo, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    canvas = np.full((480, 640, 3), 90, np.uint8)
    top, left = (480 - fitted.shape[0]) // 2, (640 - fitted.shape[1]) // 2
    canvas[top : top + fitted.shape[0], left : left + fitted.shape[1]] = fitted
    return bytes(cv2.imencode(".jpg", canvas, [cv2.IMWRITE_JPEG_QUALITY, 80])[1].tobytes())


class _NoRecording:
    """The warm-up's state machine never records: its frames are nobody's check-in."""

    def recent_event(self, person_id: int) -> None:
        return None

    def record(self, person_id: int, frame: Any, happy: float, identification_score: float | None,
               evidence: Any = None, liveness: Any = None) -> RecordOutcome:
        return RecordOutcome("check_in", datetime.now(timezone.utc), None)

    def record_suspect(self, person_id: int, frame: Any, happy: float, identification_score: float | None,
                       liveness: Any, neutral_frame: Any, policy: Any) -> RecordOutcome:
        return RecordOutcome("needs_review", datetime.now(timezone.utc), None)


KIOSK_MODELS = ModelRegistry()


@KIOSK_MODELS.step("decode")
def _decode(run: WarmUpRun) -> None:
    run.bgr = decode_frame(warm_up_frame())


@KIOSK_MODELS.step("face_detection_full_range", needs=("decode",))
def _detect_full_range(run: WarmUpRun) -> None:
    # Both range models in every detection lane (one per core): no kiosk's frame builds a graph.
    faces.get_detector().warm_every_lane(run.bgr)


@KIOSK_MODELS.step("face_detection", needs=("decode",))
def _detect(run: WarmUpRun) -> None:
    analysis = faces.analyze_frame(run.bgr)
    if analysis.face is None:  # the shipped picture has a face; a replaced one might not
        raise RuntimeError(f"the warm-up picture {WARM_UP_FRAME} shows no usable face ({analysis.status})")
    run.face = analysis.face


@KIOSK_MODELS.step("embedding", needs=("face_detection",))
def _embed(run: WarmUpRun) -> None:
    try:
        embedder_id = recognition.get_recognizer().model().embedder  # identification uses the model's embedder
    except face_model_file.ModelNotTrained:
        embedder_id = resolve_embedder_id()
    run.label = f"embedding {embedder_id}"
    assert run.face is not None
    get_embedder(embedder_id).embed_crops([canonical_crop(run.bgr, run.face)])


@KIOSK_MODELS.step("identification", needs=("face_detection", "embedding"))
def _identify(run: WarmUpRun) -> None:
    identify(run.bgr, run.face)  # the face model file and the people, when trained


@KIOSK_MODELS.step("pose", needs=("decode",))
def _pose(run: WarmUpRun) -> Any:
    return run.tracker.estimate(run.bgr) if run.tracker is not None else None


@KIOSK_MODELS.step("gesture", needs=("pose",))
def _gesture(run: WarmUpRun) -> None:
    # Load the file first: a classification of arms the pose did not see whole returns before it
    # reads the model, and would leave it for the first kiosk to load.
    gestures.get_classifier().warm_up()
    landmarks = run.results["pose"]
    if landmarks is not None:
        gestures.classify(landmarks)


@KIOSK_MODELS.step("emotion", needs=("face_detection",))
def _emotion(run: WarmUpRun) -> None:
    emotion.analyze_emotion(run.bgr, run.face)


@KIOSK_MODELS.step("face_mesh", needs=("face_detection",))
def _face_mesh(run: WarmUpRun) -> None:
    face_mesh.get_face_mesh().predict(run.bgr, run.face)


# Not required: without it the kiosk still serves; its check-ins fail the passive cue, and the
# site's liveness policy decides (review by default). /healthz and the kiosk page say so.
@KIOSK_MODELS.step("liveness", needs=("face_detection",), required=False)
def _liveness(run: WarmUpRun) -> None:
    assert run.face is not None
    liveness.passive_liveness().warm_every_lane(run.bgr, run.face.box)


@KIOSK_MODELS.step("pipeline", needs=("identification", "gesture", "emotion", "face_mesh", "liveness"))
def _whole_pipeline(run: WarmUpRun) -> None:
    machine = CheckInMachine(config=MachineConfig(), backend=_NoRecording())
    machine.reset(time.monotonic())
    analyse_frame(machine, run.bgr, identify, None)  # IDLE: detection, evidence, embedding
    machine.person_id = -1  # nobody: the same-person check fails and the machine cancels
    machine._enter(State.SMILING, time.monotonic())
    analyse_frame(machine, run.bgr, identify, run.tracker)  # pose, gesture, emotion, same-person
