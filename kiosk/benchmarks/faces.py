"""Face stages for ``kiosk bench`` (median ms on this machine; figures are printed, never asserted).

* ``face_detection``: BlazeFace + the frame verdict on a 640x480 frame with one face;
* ``face_pipeline``: detection + canonical crop + embedding + classification of that frame with each
  embedder: ``dlib`` (target <= 100 ms with dlib-bin, whose descriptor network runs without BLAS),
  ``facenet`` with its real weights (target: at most half of dlib-bin's figure from the same run,
  printed as ``facenet_to_dlib``), and ``facenet+dlib``. The embedders take turns, one frame each,
  so a change of load on a shared machine touches all of them alike;
* ``face_classification``: the classifier + unknown check alone, with 1,000 people x 20 samples;
* ``face_training_scale``: building the model for 1,000 identities x 20 synthetic embeddings (<= 60 s
  target). Slow (tens of seconds), so it only runs when ``KIOSK_BENCH_SLOW=1`` (or run
  ``training/bench_face_scale.py``).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import cv2
import numpy as np

from . import BenchContext, median_ms, stage

TEST_PHOTO = Path(__file__).resolve().parents[2] / "tests" / "data" / "faces" / "fr_obama" / "1.jpg"


def one_face_frame() -> np.ndarray:
    """A 640x480 frame with one face (~120 px), like the kiosk's webcam sends."""
    from ..vision.image import load_image

    photo = load_image(TEST_PHOTO)
    scale = min(640 / photo.shape[1], 480 / photo.shape[0])
    resized = cv2.resize(photo, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    frame = np.full((480, 640, 3), 90, np.uint8)
    y, x = (480 - resized.shape[0]) // 2, (640 - resized.shape[1]) // 2
    frame[y : y + resized.shape[0], x : x + resized.shape[1]] = resized
    return frame


def synthetic_site(people: int, per_person: int, dim: int, seed: int = 0, between: float = 0.55, within: float = 0.3):
    """Unit embeddings clustered by person, spread like dlib's real ones on faces-dev: two photos of
    one person ~``within`` apart, two people's centres ~``between`` apart (all in one cone, not
    spread over the whole sphere, which would make the SVMs' job unrealistically easy)."""
    from ..vision.face_model import TrainingSample

    rng = np.random.default_rng(seed)
    axis = rng.normal(size=dim)
    axis /= np.linalg.norm(axis)
    offsets = rng.normal(size=(people, dim))
    offsets *= (between / np.sqrt(2)) / np.linalg.norm(offsets, axis=1, keepdims=True)
    centres = axis + offsets
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    noise = rng.normal(scale=within / np.sqrt(2 * dim), size=(people, per_person, dim))
    vectors = centres[:, None, :] + noise
    vectors /= np.linalg.norm(vectors, axis=2, keepdims=True)
    samples = [
        TrainingSample(p * per_person + j, p, vectors[p, j].astype(np.float32), None)
        for p in range(people)
        for j in range(per_person)
    ]
    return samples, vectors.astype(np.float32)


def _classification_model(people: int, per_person: int, dim: int, embedder: str):
    """A model of the real shape with untrained SVM rows: classification cost does not depend on the values."""
    from ..vision.face_model import FaceModel

    samples, vectors = synthetic_site(people, per_person, dim)
    rng = np.random.default_rng(1)
    return FaceModel(
        embedder=embedder,
        dim=dim,
        person_ids=np.arange(people, dtype=np.int64),
        weights=rng.normal(size=(people, dim)).astype(np.float32),
        bias=np.zeros(people, np.float32),
        gallery=vectors.reshape(-1, dim),
        gallery_person_ids=np.repeat(np.arange(people, dtype=np.int64), per_person),
        gallery_sample_ids=np.arange(people * per_person, dtype=np.int64),
        threshold=0.4,
        score_slope=40.0,
        trained_at="bench",
    )


def _pipeline_figures(ctx: BenchContext, embedders: dict) -> dict[str, dict]:
    """Median ms of detect + crop + embed + classify, and of the embedding alone, per embedder (interleaved)."""
    from ..vision.face_crop import canonical_crop
    from ..vision.faces import analyze_frame

    frame = one_face_frame()
    face_px = analyze_frame(frame).face.box[2]
    crop = canonical_crop(frame, analyze_frame(frame).face)
    models = {name: _classification_model(100, 5, e.dim, e.id) for name, e in embedders.items()}

    def once(name: str) -> None:
        analysis = analyze_frame(frame)
        vector = embedders[name].embed_crops([canonical_crop(frame, analysis.face)])
        models[name].classify(vector)

    figures: dict[str, dict] = {}
    for name, embedder in embedders.items():
        started = time.perf_counter()
        once(name)  # loads the detector and the network
        figures[name] = {"embedder": embedder.id, "first_call_s": round(time.perf_counter() - started, 2)}
    total = {name: [] for name in embedders}
    embed = {name: [] for name in embedders}
    for _ in range(ctx.warmup):
        for name in embedders:
            once(name)
    for _ in range(ctx.repeat):
        for name, embedder in embedders.items():
            started = time.perf_counter()
            once(name)
            total[name].append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            embedder.embed_crops([crop])
            embed[name].append((time.perf_counter() - started) * 1000)
    for name in embedders:
        figures[name].update(
            frame=f"640x480, one face of {face_px} px",
            detect_embed_classify_ms=round(float(np.median(total[name])), 2),
            embedding_ms=round(float(np.median(embed[name])), 2),
        )
    return figures


@stage("face_detection")
def bench_detection(ctx: BenchContext) -> dict:
    from ..vision.faces import analyze_frame, detect_faces

    frame = one_face_frame()
    detect_faces(frame)
    return {
        "detect_ms": median_ms(lambda: detect_faces(frame), ctx.repeat),
        "analyze_frame_ms": median_ms(lambda: analyze_frame(frame), ctx.repeat),
    }


@stage("face_pipeline")
def bench_pipeline(ctx: BenchContext) -> dict:
    import dlib

    from ..vision.embedders import get_embedder, resolve_embedder_id
    from ..vision.lazy import ModelUnavailable

    facenet_id = resolve_embedder_id("facenet")
    embedders = {"dlib": get_embedder("dlib")}
    try:
        get_embedder(facenet_id).warm_up()
        embedders["facenet"] = get_embedder(facenet_id)
        embedders["facenet+dlib"] = get_embedder(resolve_embedder_id("facenet+dlib"))
    except ModelUnavailable as err:
        missing = str(err)
    else:
        missing = None
    figures: dict = _pipeline_figures(ctx, embedders)
    # Which dlib was measured: the dlib-bin wheel has no BLAS (~80-90 ms a descriptor); the
    # source build of `KIOSK_DLIB_BLAS=1 make setup` and the Docker image uses OpenBLAS
    # (~13-18 ms). Run the bench in each environment to compare the two.
    figures["dlib"]["dlib_build"] = "source build with BLAS" if dlib.DLIB_USE_BLAS else "dlib-bin wheel (no BLAS)"
    figures["dlib"]["dlib_avx"] = bool(dlib.USE_AVX_INSTRUCTIONS)
    figures["dlib"]["target_ms"] = 100
    if missing:
        figures["facenet"] = {"skipped": missing}
    else:
        ratio = figures["facenet"]["detect_embed_classify_ms"] / figures["dlib"]["detect_embed_classify_ms"]
        figures["facenet_to_dlib"] = round(ratio, 3)
        figures["facenet_target"] = "<= 0.5 of dlib-bin's detect_embed_classify_ms, same run"
        if not dlib.DLIB_USE_BLAS:
            figures["facenet_meets_target"] = ratio <= 0.5
    figures["default_embedder"] = resolve_embedder_id("auto")
    return figures


@stage("face_classification")
def bench_classification(ctx: BenchContext) -> dict:
    model = _classification_model(1000, 20, 128, "dlib")
    probe = model.gallery[123] + 0.01
    probe /= np.linalg.norm(probe)
    return {
        "people": 1000,
        "samples": 20000,
        "classify_ms": median_ms(lambda: model.classify(probe[None, :]), max(ctx.repeat, 100)),
        "target_ms": 5,
    }


@stage("face_training_scale")
def bench_training_scale(ctx: BenchContext) -> dict:
    if os.environ.get("KIOSK_BENCH_SLOW") != "1":
        return {"skipped": "slow (about a minute): set KIOSK_BENCH_SLOW=1, or run training/bench_face_scale.py"}
    return training_scale_figures()


def training_scale_figures(people: int = 1000, per_person: int = 20, dim: int = 128) -> dict:
    """Build the real model (SVMs, threshold, cross-validation) on a synthetic site and time it."""
    from ..vision.face_model import build_face_model

    samples, _ = synthetic_site(people, per_person, dim)
    started = time.perf_counter()
    model = build_face_model(samples, "dlib", cross_validate=False)
    fit_s = time.perf_counter() - started
    started = time.perf_counter()
    cv_model = build_face_model(samples, "dlib", cross_validate=True)
    with_cv_s = time.perf_counter() - started
    probe = samples[4321].embedding[None, :]
    return {
        "people": people,
        "samples": people * per_person,
        "dim": dim,
        "fit_s": round(fit_s, 1),
        "fit_with_cross_validation_s": round(with_cv_s, 1),
        "cv_accuracy": cv_model.cv_accuracy,
        "threshold": round(model.threshold, 3),
        "classify_ms": median_ms(lambda: model.classify(probe), 100),
        "target_fit_s": 60,
        "target_classify_ms": 5,
    }
