"""Server time per kiosk frame in each check-in state and where it goes (the per-state profile),
the frames per second one kiosk gets there, and how many face embeddings that costs (identifying
embeds only frames that bring new evidence: kiosk/checkin/vote_frames.py).

Each state is measured on a stream: one kiosk sends live-looking 640x480 JPEG frames (a real
photo whose exposure drifts by a grey level or two, as a camera's does) one after the other,
2 x ``--repeat`` frames, while the machine is held in that state; each frame carries the time a 15
frames/s camera would have taken it, the clock the machine's cadences count in. So the pipeline
runs exactly what that state asks for at the camera's pace: while identifying, an embedding only
when a vote is due (every ``vote_gap_s``) on a frame that is new evidence, detection alone in
between; while confirming/smiling, pose (every ``pose_every_s``, the frames between reusing its
reading: kiosk/checkin/pose_hold.py) + emotion and an embedding re-check every
``same_person_every_s``. A frame's time is the server's: the JPEG's decode and ``analyse_frame``.

``profile`` gives each state twice, measured in the same run, frame by frame in turns:
``before`` with the pose model on every frame (``pose_every_s`` 0, the code before skip-and-hold)
and ``now`` with the default cadence; ``parts_ms`` is the mean ms per frame of each part
(pipeline.FRAME_PARTS). ``recipe_frame_median_ms`` is the face_recognition recipe's frame
(kiosk/benchmarks/recipe.py), measured on every 10th frame of the streams, and
``confirming_to_recipe`` CONFIRMING's median frame over it. ``held_o_s`` is how long a held O
takes to be read (first O frame to SMILING, camera time), and ``gesture_readings`` compares the
two variants' gesture on every frame of streams of the committed gesture pictures.
``fps`` = frames / seconds of the variant's own server time (the server's own limit: the
camera's 15 frames/s cap is not applied here), ``embeddings_per_s`` = embeddings / those seconds.
The ``identify_s`` figure is a
whole identification on a stream at the camera's 15 frames/s: from the first frame with the
face to CONFIRMING, and the embeddings it rested on.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from contextlib import contextmanager, nullcontext
from datetime import datetime, timezone
from pathlib import Path

import cv2
import numpy as np

from ..checkin.machine import CheckInMachine, MachineConfig, RecordOutcome, State
from ..checkin.pipeline import FRAME_PARTS, FrameParts, analyse_frame
from ..checkin.pose_hold import PoseHold
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


def _streams(state: State, frames: list[np.ndarray], count: int, poses: dict, person_id: int | None,
             between=None) -> dict[str, dict]:
    """``state`` held for ``count`` frames in each variant (POSE_VARIANTS, each its own machine and
    tracker), the variants taking turns frame by frame (a busier moment on a shared machine hits
    both). The frames are sent back to back, each stamped with the time a 15 frames/s camera would
    have taken it (what the machine's cadences count in) and decoded from a JPEG as the frame API
    decodes it: each frame's server time and where it went. ``between()`` runs every 10th frame."""
    from ..services.checkin import decode_frame, identify  # the kiosk's own decoding and recognition
    from ..vision.liveness import passive_liveness

    jpegs = [cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 80])[1].tobytes() for frame in frames]
    runs: dict[str, dict] = {}
    for variant, every_s in POSE_VARIANTS.items():
        # Long timeouts and an unreachable smile: the machine stays where it is measured.
        config = MachineConfig(identify_timeout_s=1e6, confirm_timeout_s=1e6, smile_timeout_s=1e6,
                               smile_threshold=1.0, pose_every_s=every_s)
        machine = CheckInMachine(config=config, backend=_NoRecording())
        machine.reset(0.0)
        runs[variant] = {"machine": machine, "hold": PoseHold(), "parts": FrameParts(), "times": [], "embeddings": 0}
    order = list(POSE_VARIANTS)
    for i in range(count + 3):
        warm = i < 3  # warm-up frames, not counted
        now = i / CAMERA_FPS
        for variant in order if i % 2 else order[::-1]:
            run = runs[variant]
            _stay_in(run["machine"], state, person_id, now)
            begin = time.perf_counter()
            with run["parts"].part("decode") if not warm else nullcontext():
                bgr = decode_frame(jpegs[i % len(jpegs)])
            result = analyse_frame(run["machine"], bgr, identify, poses[variant], now=now,
                                   passive_liveness=passive_liveness(), pose_hold=run["hold"],
                                   parts=None if warm else run["parts"])
            if warm:
                run["hold"].fresh_frames = 0
            else:
                run["times"].append((time.perf_counter() - begin) * 1000)
                run["embeddings"] += result.embeddings
        if between is not None and i % 10 == 9:
            between()
    return {variant: {"times": run["times"], "parts": run["parts"], "elapsed": sum(run["times"]) / 1000,
                      "embeddings": run["embeddings"], "pose_frames": run["hold"].fresh_frames}
            for variant, run in runs.items()}


def _summary(run: dict) -> dict:
    """One variant in one state: server ms per frame (decode included), the mean ms of each part
    per frame (means add up to the mean frame; medians would not), frames a second and embeddings
    a second of its own server time, and the share of frames the pose model ran on."""
    times, elapsed = run["times"], run["elapsed"]
    parts = {name: run["parts"].ms.get(name, 0.0) / len(times) for name in FRAME_PARTS}
    return {
        "median_ms": round(statistics.median(times), 2),
        "mean_ms": round(statistics.fmean(times), 2),
        "parts_ms": {name: round(ms, 2) for name, ms in parts.items()},
        "fps": round(len(times) / elapsed, 1),
        "embeddings_per_s": round(run["embeddings"] / elapsed, 1),
        "pose_share": round(run["pose_frames"] / len(times), 2),
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


#: The variants taking turns in one run: the pose model on every frame (the code before
#: skip-and-hold) and the site's cadence (KIOSK_CHECKIN_POSE_EVERY_S, else the default; so a
#: candidate is measured with ``KIOSK_CHECKIN_POSE_EVERY_S=0.2 kiosk bench``).
POSE_VARIANTS = {"before": 0.0, "now": MachineConfig.from_mapping(os.environ).pose_every_s}
GESTURES = PHOTO.parents[2] / "gestures"


def _held_o(pose, pose_every_s: float, person_id: int | None) -> float | None:
    """Camera seconds from the first frame of a held O to the machine leaving CONFIRMING for
    SMILING, on a 15 frames/s stream of the same person: arms out (idle), then the O held.
    None when the O was not read within 3 s."""
    from ..services.checkin import identify
    from ..vision.liveness import passive_liveness

    idle = cv2.imread(str(GESTURES / "composite_obama_arms_out.jpg"))
    o_frame = cv2.imread(str(GESTURES / "composite_obama_o.jpg"))
    config = MachineConfig(confirm_timeout_s=1e6, pose_every_s=pose_every_s)
    machine = CheckInMachine(config=config, backend=_NoRecording())
    machine.reset(0.0)
    machine.person_id, machine.person_name = person_id, "bench"
    machine._enter(State.CONFIRMING, 0.0)
    pose.restart_tracking()
    hold, o_from = PoseHold(), 8  # the O starts on the 9th frame
    frames = live(idle) + live(idle)[:2] + live(o_frame) * 8
    for i, frame in enumerate(frames):
        now = i / CAMERA_FPS
        analyse_frame(machine, frame, identify, pose, now=now, passive_liveness=passive_liveness(), pose_hold=hold)
        if machine.state != State.CONFIRMING:
            return round(now - o_from / CAMERA_FPS, 3) if machine.state == State.SMILING and i >= o_from else None
    return None


def _gesture_readings(poses: dict) -> dict:
    """Every gesture picture in tests/data/gestures (real photos and composites: O, capture, one
    arm up, arms folded or down, a face without arms, people seated) as a 15 frames/s stream to a
    machine in CONFIRMING, 12 frames (0.8 s) of each picture, each variant in turn. The gesture
    each variant read on each frame, compared (``same_share``: the frames read alike), and the
    state each stream ended in (SMILING: a gesture was held; CANCELLED: more than one face)."""
    from ..services.checkin import identify

    readings: dict[str, list] = {variant: [] for variant in POSE_VARIANTS}
    ends: dict[str, list[str]] = {}
    for path in sorted(GESTURES.glob("*.jpg")):
        frames = live(cv2.imread(str(path))) * 2
        for variant, every_s in POSE_VARIANTS.items():
            config = MachineConfig(confirm_timeout_s=1e6, same_person_every_s=1e6, pose_every_s=every_s)
            machine = CheckInMachine(config=config, backend=_NoRecording())
            machine.reset(0.0)
            machine.person_id, machine.person_name = 1, "bench"
            machine._enter(State.CONFIRMING, 0.0)
            poses[variant].restart_tracking()
            hold = PoseHold()
            for i, frame in enumerate(frames):
                if machine.state == State.CONFIRMING:
                    analyse_frame(machine, frame, identify, poses[variant], now=i / CAMERA_FPS, pose_hold=hold)
                    readings[variant].append(machine._last_gesture[0])
                else:
                    readings[variant].append(machine.state.value)
            ends.setdefault(path.stem, []).append(machine.state.value)
    pairs = list(zip(readings["before"], readings["now"]))
    return {"frames": len(pairs), "same_share": round(sum(a == b for a, b in pairs) / len(pairs), 3),
            "ended_in": {name: dict(zip(POSE_VARIANTS, states)) for name, states in ends.items()}}


def _checkin_states(ctx: BenchContext) -> dict:
    from ..services.checkin import identify
    from ..vision.faces import analyze_frame
    from ..vision.pose import PoseEstimator
    from .recipe import make_recipe, recipe_frame_ms

    with_face = live(kiosk_frame())
    empty = np.full((480, 640, 3), 180, np.uint8)
    cv2.putText(empty, "empty corridor", (150, 240), cv2.FONT_HERSHEY_SIMPLEX, 1.2, (90, 90, 90), 2)
    person_id = identify(with_face[0], analyze_frame(with_face[0]).face).person_id
    poses = {variant: PoseEstimator(tracking=True) for variant in POSE_VARIANTS}
    recipe = make_recipe()
    recipe_frame_ms(recipe, with_face, ctx.warmup)
    recipe_times: list[float] = []
    # The same frames for both variants (the periodic stages, such as the same-person embedding
    # every second, fall alike): 60 frames (4 s of camera time) per state and variant by default.
    count = max(20, 2 * ctx.repeat)
    figures: dict = {"pose_every_s": dict(POSE_VARIANTS)}
    profile: dict = {}
    for state, frames in [
        (State.IDLE, live(empty)),
        (State.IDENTIFYING, with_face),
        (State.CONFIRMING, with_face),
        (State.SMILING, with_face),
        (State.DONE, with_face),
    ]:
        runs = _streams(state, frames, count, poses, person_id,
                        between=lambda: recipe_times.extend(recipe_frame_ms(recipe, with_face, 1)))
        name = state.value.lower()
        profile[name] = {variant: _summary(run) for variant, run in runs.items()}
        now = profile[name]["now"]
        profile[name]["now_to_before"] = round(now["median_ms"] / profile[name]["before"]["median_ms"], 3)
        figures[f"{name}_median_ms"] = now["median_ms"]
        figures[f"{name}_fps"] = now["fps"]
        figures[f"{name}_embeddings_per_s"] = now["embeddings_per_s"]
    figures["profile"] = profile
    recipe_ms = statistics.median(recipe_times)
    figures["recipe_frame_median_ms"] = round(recipe_ms, 2)
    figures["confirming_to_recipe"] = {
        variant: round(profile["confirming"][variant]["median_ms"] / recipe_ms, 3) for variant in POSE_VARIANTS
    }
    o_frame = cv2.imread(str(GESTURES / "composite_obama_o.jpg"))
    o_person = identify(o_frame, analyze_frame(o_frame).face).person_id
    held = {variant: [] for variant in POSE_VARIANTS}
    for _ in range(3):
        for variant, every_s in POSE_VARIANTS.items():
            held[variant].append(_held_o(poses[variant], every_s, o_person))
    figures["held_o_s"] = held
    figures["gesture_readings"] = _gesture_readings(poses)
    figures.update(_identification(with_face, None))
    figures["vote"] = {name: getattr(MachineConfig(), name) for name in
                       ("vote_window", "votes_to_identify", "vote_gap_s", "vote_min_span_s", "same_person_every_s")}
    return figures
