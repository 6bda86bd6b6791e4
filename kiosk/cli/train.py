"""``kiosk train ...``: retrain the site's models. This module owns the ``train`` group;
``faces`` is defined here, other areas add theirs (``from kiosk.cli.train import train_group``)."""

from __future__ import annotations

import json
import time

import click
from flask import Flask

from ..errors import KioskError
from ..services import audit
from ..services.audit_actions import MODEL_RETRAINED


@click.group("train")
def train_group() -> None:
    """Retrain the site's models from what was enrolled or recorded here."""


@train_group.command("faces")
@click.option("--full", is_flag=True,
              help="Refit everyone and learn the threshold again, even when only a few people were added "
                   "(otherwise those are added to the previous model in seconds).")
def train_faces(full: bool) -> None:
    """Fit the face classifier on the enrolled photos; prints one JSON object
    (people, samples, embedder, weights, cv_accuracy, threshold, trained_at, mode: full or incremental)."""
    from ..services import face_training

    last = [0.0]

    def progress(fraction: float, stage: str) -> None:
        # Progress goes to stderr, a line every few seconds: stdout stays one JSON object.
        now = time.monotonic()
        if now - last[0] >= 5 or fraction >= 1.0:
            last[0] = now
            click.echo(f"train faces: {fraction:4.0%} {stage}", err=True)

    try:
        summary = face_training.train_faces(progress=progress, full=full)
    except KioskError as err:  # nothing enrolled, or a model file is missing (ModelUnavailable)
        raise click.ClickException(str(err)) from err
    audit.record_now(MODEL_RETRAINED, audit.Target("model", "faces", "face model"), actor=audit.cli_actor(),
                     after=audit.training_facts(summary))
    click.echo(json.dumps(summary, ensure_ascii=False))


def register(app: Flask) -> None:
    app.cli.add_command(train_group)
