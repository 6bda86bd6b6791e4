"""Server time per kiosk frame in each check-in state, the frames per second one kiosk gets
there, and how many face embeddings that costs (identifying embeds only frames that bring new evidence:
kiosk/checkin/vote_frames.py).

Each state is measured on a stream: one kiosk sends live-looking 640x480 frames (a real photo
whose exposure drifts by a grey level or two, as a camera's does) one after the other for a
couple of seconds, with real time stamps, while the machine is held in that state. So the
pipeline runs exactly what that state asks for: while identifying, an embedding only when a
vote is due (every ``vote_gap_s``) on a frame that is new evidence, detection alone in between;
while confirming/smiling, pose (+ emotion) and an embedding re-check every ``same_person_every_s``.
``fps`` = frames / seconds of the stream (the server's own limit: the camera's 15 frames/s cap
is not applied here), ``embeddings_per_s`` = embeddings / seconds. The ``identify_s`` figure is a
whole identification on a stream at the camera's 15 frames/s: from the first frame with the
face to CONFIRMING, and the embeddings it rested on.
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


CAMERA_FPS = 15.0


def live(frame: np.ndarray, count: int = 6) -> list[np.ndarray]:
    """``count`` frames of a person holding still in front of a camera: the exposure drifts."""
    return [np.clip(frame.astype(np.int16) + drift, 0, 255).astype(np.uint8) for drift in (0, 2, -1, 1, -2, 3)[:count]]


def _stay_in(machine: CheckInMachine, state: State, person_id: int | None, now: float) -> None:
    """Hold the machine in ``state`` without undoing what the identifying scheme keeps between
    frames (the time of the last vote, the last voted picture)."""
    if state in (State.IDLE, State.IDENTIFYING):
        if machine.state not in (State.IDLE, State.IDENTIFYING):
            machine.state = State.IDENTIFYING
        machine._votes.clear()  # never decided, but the vote's timing goes on
        if state == State.IDENTIFYING:
            machine.state = State.IDENTIFYING
        return
    if machine.state != state:
        machine.person_id, machine.person_name = person_id, "bench"
        machine._enter(state, now)


def _stream(state: State, frames: list[np.ndarray], seconds: float, pose, person_id: int | None) -> dict:
    from ..services.checkin import identify  # the kiosk's own recognition stage

    # Long timeouts and an unreachable smile: the machine stays where it is measured.
    config = MachineConfig(identify_timeout_s=1e6, confirm_timeout_s=1e6, smile_timeout_s=1e6, smile_threshold=1.0)
    machine = CheckInMachine(config=config, backend=_NoRecording())
    machine.reset(time.monotonic())
    for i in range(3):  # warm-up frames, not timed
        _stay_in(machine, state, person_id, time.monotonic())
        analyse_frame(machine, frames[i % len(frames)], identify, pose)
    times, embeddings, started = [], 0, time.perf_counter()
    while time.perf_counter() - started < seconds or len(times) < 10:
        _stay_in(machine, state, person_id, time.monotonic())
        begin = time.perf_counter()
        result = analyse_frame(machine, frames[len(times) % len(frames)], identify, pose)
        times.append((time.perf_counter() - begin) * 1000)
        embeddings += result.embeddings
    elapsed = time.perf_counter() - started
    return {
        "median_ms": round(statistics.median(times), 2),
        "fps": round(len(times) / elapsed, 1),
        "embeddings_per_s": round(embeddings / elapsed, 1),
    }


def _identification(frames: list[np.ndarray], pose) -> dict:
    """A whole identification at the camera's rate: seconds from the first frame with the face to
    CONFIRMING, the frames and the embeddings it took."""
    from ..services.checkin import identify

    machine = CheckInMachine(config=MachineConfig(), backend=_NoRecording())
    machine.reset(time.monotonic())
    started = time.monotonic()
    count = embeddings = 0
    while machine.state in (State.IDLE, State.IDENTIFYING) and time.monotonic() - started < 10:
        due = started + count / CAMERA_FPS  # the camera's next frame
        time.sleep(max(0.0, due - time.monotonic()))
        embeddings += analyse_frame(machine, frames[count % len(frames)], identify, pose).embeddings
        count += 1
    return {
        "identify_s": round(time.monotonic() - started, 2) if machine.state == State.CONFIRMING else None,
        "identify_frames": count,
        "identify_embeddings": embeddings,
        "ended_in": machine.state.value,
    }


@contextmanager
def bench_site():
    """A throwaway site with two people enrolled from the test photos and a trained model, so
    IDENTIFYING pays for a real embedding and classification (the operator's site is untouched)."""
    from flask_migrate import upgrade

    from .. import create_app
    from ..config import TestingConfig
    from ..extensions import db
    from ..services.enrollment import enroll_files
    from ..services.face_training import train_faces

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
    from ..services.checkin import identify
    from ..vision.faces import analyze_frame
    from ..vision.pose import PoseEstimator

    with_face = live(kiosk_frame())
    empty = np.full((480, 640, 3), 180, np.uint8)
    cv2.putText(empty, "empty corridor", (150, 240), cv2.FONT_HERSHEY_SIMPLEX, 1.2, (90, 90, 90), 2)
    person_id = identify(with_face[0], analyze_frame(with_face[0]).face).person_id
    pose = PoseEstimator(tracking=True)
    seconds = max(1.0, ctx.repeat / 15)  # 2 s of stream per state by default
    figures: dict = {}
    for state, frames in [
        (State.IDLE, live(empty)),
        (State.IDENTIFYING, with_face),
        (State.CONFIRMING, with_face),
        (State.SMILING, with_face),
        (State.DONE, with_face),
    ]:
        result = _stream(state, frames, seconds, pose, person_id)
        name = state.value.lower()
        figures[f"{name}_median_ms"] = result["median_ms"]
        figures[f"{name}_fps"] = result["fps"]
        figures[f"{name}_embeddings_per_s"] = result["embeddings_per_s"]
    figures.update(_identification(with_face, None))
    figures["vote"] = {name: getattr(MachineConfig(), name) for name in
                       ("vote_window", "votes_to_identify", "vote_gap_s", "vote_min_span_s", "same_person_every_s")}
    return figures
