"""Site calibration of the gesture classifier (the Teachable Machine workflow of the source report).

An admin records samples at the kiosk: a person makes a gesture in front of the kiosk camera,
the pose model reads the landmarks, and they are stored with the label (``GestureSample``).
:func:`retrain_from_site_samples` then trains a site model on the shipped base training set
(``models/gesture/base_training_set.npz``: the YMCA rows and synthesized skeletons the default
model was trained on) plus the site's samples, and writes it to
``<data dir>/models/gesture.joblib``, which the classifier prefers over the shipped default
(every worker picks it up on its next frame: the classifier reloads on mtime; with several app
hosts the model also goes to the database and every host's copy follows it, see model_store).

The site is the authority on its own camera and people, so a handful of samples must be able
to move the boundary where they are:

* base rows with a *different* label within :data:`SITE_OVERRIDE_RADIUS` of a site sample
  (shoulder-normalized elbows and wrists, the sample or its mirror image) are set aside;
* each site sample is spread into jittered copies (mirrored, rotated a few degrees, noise)
  weighing as much as :data:`SITE_SAMPLE_WEIGHT` base rows.

The price: a mislabelled sample also moves the boundary. So the result reports how the new
model reads the held-out YMCA rows, with a warning when rows that must stay idle (dancing,
one arm arched) would now read as O or X.

Errors: :class:`InvalidInput` (unknown label, malformed landmarks, arms not visible, no
samples to train on), :class:`UnprocessableImage` (a frame that is not an image, or shows
nobody), :class:`NotFound` (no base training set shipped).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from flask import current_app
from sqlalchemy import delete, func, select

from ..errors import InvalidInput, NotFound, UnprocessableImage
from ..extensions import db
from ..models import GestureSample
from ..vision import gestures as g
from ..vision.image import BadImage, decode_image
from ..vision.pose import PoseLandmarks, static_pose_estimator
from . import audit, model_store
from .audit_actions import GESTURE_SAMPLE_RECORDED, GESTURE_SAMPLES_DELETED
from .job_stages import CHECKING_GESTURE_ROWS, LOADING_GESTURE_BASE, SAVED, TRAINING_GESTURE_ROWS, stage

#: How many base rows one site sample is worth, spread over :data:`SITE_COPIES` jittered copies.
SITE_SAMPLE_WEIGHT = 150.0
SITE_COPIES = 20
SITE_SEED = 11
#: Shoulder widths (8-d distance over elbows and wrists); about the spread of one steady YMCA pose.
SITE_OVERRIDE_RADIUS = 0.6
#: Share of held-out idle YMCA rows (dance, C) read as O or X above which the result warns.
IDLE_DRIFT_WARNING = 0.05

ProgressFn = Callable[[float, str], None]


def _models_dir() -> Path:
    return Path(current_app.config.get("KIOSK_MODELS_DIR") or g.REPO_MODELS_DIR)


def _site_model_path() -> Path:
    return g.site_model_path(current_app.config["KIOSK_DATA_DIR"])


def sync_site_model(*, force: bool = False) -> None:
    """With several app hosts: bring this host's copy of the site model up to the one in the
    database (a cheap version check every couple of seconds; ``kiosk.services.model_store``)."""
    model_store.pull(model_store.GESTURE_MODEL, _site_model_path(), force=force)


def _check_label(label: object) -> str:
    if label not in g.GESTURES:
        raise InvalidInput(f"The gesture label must be one of {', '.join(g.GESTURES)}.", code="bad_label")
    return str(label)


def _as_landmarks(landmarks: Any) -> PoseLandmarks:
    if isinstance(landmarks, PoseLandmarks):
        return landmarks
    if isinstance(landmarks, str):
        try:
            landmarks = json.loads(landmarks)
        except json.JSONDecodeError as err:
            raise InvalidInput("The landmarks are not valid JSON.", code="bad_landmarks") from err
    try:
        return PoseLandmarks.from_payload(landmarks)
    except (ValueError, TypeError) as err:
        raise InvalidInput(f"The landmarks cannot be used: {err}.", code="bad_landmarks") from err


def landmarks_from_image_bytes(data: bytes) -> PoseLandmarks:
    """The pose landmarks of the person in an uploaded frame (static mode)."""
    try:
        bgr = decode_image(data, max_pixels=int(current_app.config.get("KIOSK_MAX_IMAGE_PIXELS", 40_000_000)))
    except BadImage as err:
        raise UnprocessableImage(str(err), code="bad_image") from err
    landmarks = static_pose_estimator().estimate(bgr)
    if landmarks is None:
        raise UnprocessableImage("No person was found in the frame; stand in front of the camera.", code="no_person")
    return landmarks


def record_sample(label: str, landmarks: Any, *, actor: audit.Actor | str | None = None) -> GestureSample:
    """Store one labelled sample. ``landmarks``: :class:`PoseLandmarks`, or what
    :meth:`PoseLandmarks.from_payload` accepts (33 rows, optional ``image_size``)."""
    label = _check_label(label)
    pose = _as_landmarks(landmarks)
    problem = g.visibility_problem(pose)
    if problem is not None:
        # The classifier never sees such frames (they are idle before it is asked), so the
        # sample could teach it nothing; say so instead of storing it.
        raise InvalidInput(
            "Both arms (shoulders, elbows and wrists) must be in view to record a gesture sample.",
            code=problem,
        )
    sample = GestureSample(label=label, landmarks_json=pose.to_json())
    db.session.add(sample)
    db.session.flush()
    # The label only: landmarks describe a body and stay out of the log.
    audit.record(GESTURE_SAMPLE_RECORDED, audit.Target("gesture_sample", sample.id, label), actor=actor,
                 after={"label": label})
    db.session.commit()
    return sample


def sample_counts() -> dict[str, int]:
    counts = dict(db.session.execute(select(GestureSample.label, func.count()).group_by(GestureSample.label)).all())
    return {label: int(counts.get(label, 0)) for label in g.GESTURES}


def delete_samples(label: str | None = None, *, actor: audit.Actor | str | None = None) -> int:
    """Delete the recorded samples (of one label, or all); returns how many."""
    statement = delete(GestureSample)
    if label is not None:
        statement = statement.where(GestureSample.label == _check_label(label))
    result = db.session.execute(statement)
    if result.rowcount:
        audit.record(GESTURE_SAMPLES_DELETED, audit.Target("gesture_samples", None, label or "all labels"),
                     actor=actor, before={"label": label, "count": int(result.rowcount)})
    db.session.commit()
    return int(result.rowcount or 0)


def site_samples() -> tuple[np.ndarray, np.ndarray]:
    """All recorded samples as (isotropic arm points (N, 6, 2), labels (N,))."""
    arms, labels = [], []
    for label, text in db.session.execute(select(GestureSample.label, GestureSample.landmarks_json)).all():
        arms.append(PoseLandmarks.from_json(text).arm_points())
        labels.append(label)
    return np.asarray(arms, dtype=np.float64).reshape(-1, 6, 2), np.asarray(labels)


def load_base_training_set(models_dir: Path | None = None) -> dict[str, np.ndarray]:
    path = g.base_training_set_path(models_dir or _models_dir())
    if not path.is_file():
        raise NotFound(
            f"The base gesture training set {path} is missing; restore models/gesture/ from the repository "
            "or rebuild it with training/train_gestures.py.",
            code="no_base_set",
        )
    with np.load(path, allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


def _heldout_check(bundle: dict[str, Any], base: dict[str, np.ndarray]) -> dict[str, float]:
    """Share of the held-out YMCA steady rows of each label read as before (a site model
    that forgets the YMCA poses is allowed, but the admin should see it)."""
    steady = base["heldout_steady"].astype(bool)
    arms, labels = base["heldout_arms"][steady], base["heldout_ymca_labels"][steady]
    predicted = np.array(g.GESTURES)[np.argmax(g.probabilities_for(bundle, arms), axis=1)]
    out = {}
    for label in ("A", "Y", "M", "C", "dance"):
        mask = labels == label
        if np.any(mask):
            expected = g.YMCA_LABEL_MAP[label]
            out[f"{label}->{expected}"] = round(float(np.mean(predicted[mask] == expected)), 4)
    return out


def _overridden_base_rows(base_arms: np.ndarray, base_labels: np.ndarray, site_arms: np.ndarray,
                         site_labels: np.ndarray) -> np.ndarray:
    """Mask of base rows that disagree with a nearby site sample (they are set aside)."""
    def flat(arms: np.ndarray) -> np.ndarray:
        return g.normalize_arms(arms)[:, 2:].reshape(len(arms), -1)

    base_flat = flat(base_arms)
    overridden = np.zeros(len(base_arms), dtype=bool)
    for sample in (site_arms, g.mirror_arms(site_arms)):
        for point, label in zip(flat(sample), site_labels):
            near = np.linalg.norm(base_flat - point, axis=1) < SITE_OVERRIDE_RADIUS
            overridden |= near & (base_labels != label)
    return overridden


def retrain_from_site_samples(progress: ProgressFn | None = None) -> dict[str, Any]:
    """Train the site model (base set + recorded samples), write it atomically, return a summary."""

    def report(fraction: float, stage: str) -> None:
        if progress is not None:
            progress(fraction, stage)

    site_arms, site_labels = site_samples()
    if len(site_labels) == 0:
        raise InvalidInput(
            "No gesture samples have been recorded at this site yet; record some before retraining.",
            code="no_samples",
        )
    report(0.1, stage(LOADING_GESTURE_BASE))
    base = load_base_training_set()
    seed = int(base.get("seed", SITE_SEED))
    rng = np.random.default_rng(SITE_SEED)
    base_arms, base_labels = base["arms"].astype(np.float64), base["labels"].astype(str)
    keep = ~_overridden_base_rows(base_arms, base_labels, site_arms, site_labels)
    copies = g.jitter_arms(site_arms, rng, copies=SITE_COPIES, noise=0.02)
    arms = np.concatenate([base_arms[keep], copies])
    labels = np.concatenate([base_labels[keep], np.repeat(site_labels, SITE_COPIES)])
    weights = np.concatenate(
        [base["weights"].astype(np.float64)[keep], np.full(len(copies), SITE_SAMPLE_WEIGHT / SITE_COPIES)]
    )
    counts = {label: int(np.sum(site_labels == label)) for label in g.GESTURES}
    report(0.3, stage(TRAINING_GESTURE_ROWS, base=int(keep.sum()), site=len(site_labels)))
    bundle = g.fit_gesture_model(arms, labels, weights, seed=seed)
    report(0.85, stage(CHECKING_GESTURE_ROWS))
    heldout = _heldout_check(bundle, base)
    warnings = [
        f"{name.split('->')[0]} rows (which must stay idle) are now read as idle only {share * 100:.0f}% of the "
        "time: check the recorded samples for a wrong label."
        for name, share in heldout.items()
        if name in ("C->idle", "dance->idle") and share < 1 - IDLE_DRIFT_WARNING
    ]
    summary = {
        "site_samples": counts,
        "base_rows": int(keep.sum()),
        "base_rows_set_aside": int((~keep).sum()),
        "seed": seed,
        "ymca_heldout_steady": heldout,
        "warnings": warnings,
    }
    bundle["summary"] = summary
    path = _site_model_path()
    g.save_model(bundle, path)
    model_store.push(model_store.GESTURE_MODEL, path)
    report(0.95, stage(SAVED))
    return {
        "model": "gesture",
        "source": "site",
        "file": g.SITE_MODEL_RELATIVE.as_posix(),  # in the data dir; the admin API shows no server paths
        "trained_at": bundle["trained_at"],
        **summary,
    }


def remove_site_model() -> bool:
    """Go back to the shipped default model; True if there was a site model."""
    path = _site_model_path()
    stored = model_store.remove(model_store.GESTURE_MODEL, path)
    existed = path.is_file()
    path.unlink(missing_ok=True)
    return existed or stored


def model_info() -> dict[str, Any]:
    """What the kiosk uses now: site or default model, when trained, its figures, recorded samples."""
    sync_site_model()
    info = g.get_classifier().info()
    info["site_samples"] = sample_counts()
    return info
