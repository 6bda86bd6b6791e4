"""Gesture commands: what the classifier sees in photos, and the site's own gesture samples.

* ``kiosk gesture IMAGE...``: the arm gesture of the person in each image, one JSON line per
  image: ``{"image", "status": "ok|no_person|bad_image", "gesture": "O|X|capture|idle"|null,
  "score"}`` (``--details`` adds the four probabilities and, when the arms were not all in
  view, why the answer is idle). A bad image never stops the command; why it is bad goes to stderr.
* ``kiosk train gesture``: retrain the site's gesture model from the recorded samples; prints
  one JSON object.
* ``kiosk gesture-samples add LABEL IMAGE...`` / ``list`` / ``clear``: record samples from photos
  taken at the site (the admin page records them from the webcam).
"""

from __future__ import annotations

import json

import click
from flask import Flask, current_app

from ..errors import KioskError
from ..gesture_vocabulary import GESTURES, Gesture
from ..services.audit import cli_actor
from ..vision.lazy import ModelUnavailable
from .jsonl import emit
from .waiting import say_waiting


def _max_pixels() -> int:
    return int(current_app.config.get("KIOSK_MAX_IMAGE_PIXELS", 40_000_000))


@click.command("gesture")
@click.argument("images", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--details", is_flag=True, help="Add the four probabilities and why an answer is idle.")
def gesture(images: tuple[str, ...], details: bool) -> None:
    """Read the arm gesture (O, X, capture or idle) in each IMAGE (one JSON line per image)."""
    from ..services.gesture_samples import sync_site_model
    from ..vision.gestures import get_classifier
    from ..vision.image import BadImage, load_image
    from ..vision.pose import static_pose_estimator

    say_waiting("Loading the pose and gesture models...")
    sync_site_model(force=True)
    estimator = static_pose_estimator()
    classifier = get_classifier()
    try:
        classifier.warm_up()
        estimator.warm_up()
    except ModelUnavailable as err:
        raise click.ClickException(str(err)) from err
    for path in images:
        record: dict = {"image": path, "status": "ok", "gesture": None, "score": None}
        try:
            bgr = load_image(path, max_pixels=_max_pixels())
            landmarks = estimator.estimate(bgr)
        except (BadImage, ValueError) as err:
            click.echo(f"{path}: {err}", err=True)
            emit({**record, "status": "bad_image"})
            continue
        if landmarks is None:
            emit({**record, "status": "no_person"})
            continue
        prediction = classifier.predict(landmarks)
        record.update(gesture=prediction.gesture, score=prediction.score)
        if details:
            record["probabilities"] = prediction.probabilities
            record["reason"] = prediction.reason
        emit(record)


@click.command("gesture")
def train_gesture() -> None:
    """Retrain the gesture model from the samples recorded at this site (prints one JSON object)."""
    from ..services import gesture_samples

    try:
        result = gesture_samples.retrain_from_site_samples(
            progress=lambda fraction, stage: click.echo(f"{fraction * 100:3.0f}% {stage}", err=True)
        )
    except KioskError as err:  # too few samples, or a model file is missing (ModelUnavailable)
        raise click.ClickException(str(err)) from err
    from ..services import audit
    from ..services.audit_actions import MODEL_RETRAINED

    audit.record_now(MODEL_RETRAINED, audit.Target("model", "gestures", "gestures model"), actor=audit.cli_actor(),
                     after=audit.training_facts(result))
    click.echo(json.dumps(result, ensure_ascii=False))


@click.group("gesture-samples")
def samples_group() -> None:
    """Gesture samples recorded at this site (for `kiosk train gesture`)."""


@samples_group.command("add", help=(
    "Record the pose in each IMAGE as a LABEL sample (one JSON line per image).\n\n\b\nLABEL, the gesture shown:\n"
    + "\n".join(f"  {gesture.value}: {gesture.meaning}" for gesture in Gesture)))
@click.argument("label", type=click.Choice(GESTURES))
@click.argument("images", nargs=-1, required=True, type=click.Path(dir_okay=False))
def add_samples(label: str, images: tuple[str, ...]) -> None:
    """Record the pose in each IMAGE as a LABEL sample (one JSON line per image)."""
    from pathlib import Path

    from ..errors import UnprocessableImage
    from ..services import gesture_samples

    for path in images:
        try:
            data = Path(path).read_bytes()
        except OSError as err:
            click.echo(f"{path}: {err.strerror or err}", err=True)
            emit({"image": path, "status": "bad_image", "id": None})
            continue
        try:
            sample = gesture_samples.record_sample(label, gesture_samples.landmarks_from_image_bytes(data),
                                                   actor=cli_actor())
        except UnprocessableImage as err:
            emit({"image": path, "status": err.code, "id": None})
            continue
        except ModelUnavailable as err:  # not this image's fault: the command cannot run
            raise click.ClickException(str(err)) from err
        except KioskError as err:
            emit({"image": path, "status": err.code, "id": None, "message": str(err)})
            continue
        emit({"image": path, "status": "ok", "id": sample.id, "label": label})


@samples_group.command("list")
def list_samples() -> None:
    """Recorded samples per label, and which model the kiosk uses (one JSON object)."""
    from ..services import gesture_samples

    try:
        info = gesture_samples.model_info()
    except ModelUnavailable as err:
        info = {"error": str(err), "site_samples": gesture_samples.sample_counts()}
    click.echo(json.dumps(info, ensure_ascii=False, default=str))


@samples_group.command("clear")
@click.option("--label", type=click.Choice(GESTURES), default=None, help="Only this label.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def clear_samples(label: str | None, yes: bool) -> None:
    """Delete recorded samples (the site model stays until retrained or reset)."""
    from ..services import gesture_samples

    if not yes:
        click.confirm(f"Delete the recorded {label or 'gesture'} samples?", abort=True)
    click.echo(f"Deleted {gesture_samples.delete_samples(label, actor=cli_actor())} sample(s).")


def register(app: Flask) -> None:
    from .train import train_group

    app.cli.add_command(gesture)
    app.cli.add_command(samples_group)
    if "gesture" not in train_group.commands:
        train_group.add_command(train_gesture)
