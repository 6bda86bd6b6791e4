"""Server time per kiosk frame in each check-in state, and the frames per second one kiosk
sustains there (one frame at a time, as the page sends them).

Each state is measured by holding a machine in that state and feeding it 640x480 frames made
from a real photo: the pipeline runs exactly the stages that state asks for (the embedding
every frame while identifying; pose, a continuity check and an embedding every
``same_person_every`` frames while confirming/smiling). fps = 1000 / mean ms over whole cycles,
so the periodic embedding re-check is paid for in the figure.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

import cv2
import numpy as np

from ..checkin.machine import CheckInMachine, MachineConfig, RecordOutcome, State
from ..checkin.pipeline import analyse_frame
from . import BenchContext, stage

PHOTO = Path(__file__).resolve().parents[2] / "tests" / "data" / "faces" / "fr_obama" / "1.jpg"


class _NoRecording:
    """The bench measures frames, not storage: nothing is written."""

    def recent_event(self, person_id):
        return None

    def record(self, person_id, frame, happy, identification_score, evidence=None):
        return RecordOutcome("check_in", datetime.now(timezone.utc), None)


def kiosk_frame(photo: Path = PHOTO, face_height: int = 200) -> np.ndarray:
    """A 640x480 frame with the photo's face at a kiosk-like size (a person ~0.7 m away)."""
    image = cv2.imread(str(photo))
    scale = 480 / image.shape[0]
    image = cv2.resize(image, (int(image.shape[1] * scale), 480))
    canvas = np.full((480, 640, 3), 200, np.uint8)
    width = min(640, image.shape[1])
    left = (640 - width) // 2
    canvas[:, left : left + width] = image[:, (image.shape[1] - width) // 2 : (image.shape[1] - width) // 2 + width]
    return canvas


def _measure(state: State, frame: np.ndarray, cycles: int, pose) -> dict:
    from ..services.checkin import identify  # the kiosk's own recognition stage
    machine = CheckInMachine(config=MachineConfig(), backend=_NoRecording())
    machine.reset(time.monotonic())
    person_id = 1
    every = machine.config.same_person_every
    times = []
    for i in range(cycles * every + 3):
        machine.state = state
        machine.person_id, machine.person_name = person_id, "bench"
        machine.frames_in_state = i % every
        machine.entered_at = time.monotonic()
        machine._last_box = None
        if state == State.SMILING:
            machine._enter(State.SMILING, time.monotonic())
            machine.frames_in_state = i % every
        start = time.perf_counter()
        analyse_frame(machine, frame, identify, pose)
        if i >= 3:  # warm-up frames
            times.append((time.perf_counter() - start) * 1000)
    mean = statistics.fmean(times)
    return {"median_ms": round(statistics.median(times), 2), "mean_ms": round(mean, 2), "fps": round(1000 / mean, 1)}


@contextmanager
def bench_site():
    """A throwaway site with two people enrolled from the test photos and a trained model, so
    IDENTIFYING pays for a real embedding and classification (the operator's site is untouched)."""
    from flask_migrate import upgrade

    from .. import create_app
    from ..config import TestingConfig
    from ..extensions import db
    from ..services.enrollment import enroll_files
    from ..services.recognition import train_faces

    faces = PHOTO.parents[1]
    with tempfile.TemporaryDirectory(prefix="kiosk-bench-") as folder:
        app = create_app(TestingConfig(folder))
        with app.app_context():
            upgrade()
            enroll_files("Barack Obama", [str(faces / "fr_obama" / f"{i}.jpg") for i in (1, 2, 3)])
            enroll_files("Colin Powell", [str(faces / "lfw_Colin_Powell" / f"{i}.jpg") for i in (1, 2, 3)])
            train_faces()
            try:
                yield app
            finally:
                db.session.remove()
                db.engine.dispose()


@stage("checkin_states")
def checkin_states(ctx: BenchContext) -> dict:
    with bench_site():
        return _checkin_states(ctx)


def _checkin_states(ctx: BenchContext) -> dict:
    from ..vision.pose import PoseEstimator

    with_face = kiosk_frame()
    empty = np.full((480, 640, 3), 180, np.uint8)
    cv2.putText(empty, "empty corridor", (150, 240), cv2.FONT_HERSHEY_SIMPLEX, 1.2, (90, 90, 90), 2)
    pose = PoseEstimator(tracking=True)
    cycles = max(2, ctx.repeat // 8)
    figures = {}
    for state, frame in [
        (State.IDLE, empty),
        (State.IDENTIFYING, with_face),
        (State.CONFIRMING, with_face),
        (State.SMILING, with_face),
        (State.DONE, with_face),
    ]:
        result = _measure(state, frame, cycles, pose)
        figures[f"{state.value.lower()}_median_ms"] = result["median_ms"]
        figures[f"{state.value.lower()}_fps"] = result["fps"]
    return figures
