"""``kiosk identify IMAGE...``: who is in each photo, one JSON line per image.

Each line is ``{"image": PATH, "status": ok|unknown|no_face|multiple_faces|face_too_small|bad_image,
"person": NAME|null, "score": FLOAT|null}`` with ``image`` exactly as given. A bad image (missing,
truncated, not an image) is a ``bad_image`` line and the command goes on; the exit status is
non-zero only when the command cannot run at all (no trained model, embedder unavailable).
"""

from __future__ import annotations

import click
from flask import Flask, current_app

from ..errors import KioskError
from ..vision.lazy import ModelUnavailable
from .jsonl import emit
from .waiting import say_waiting


@click.command("identify")
@click.argument("images", nargs=-1, required=True)
def identify(images: tuple[str, ...]) -> None:
    """Identify the person in each IMAGE against the enrolled faces (one JSON line per image)."""
    from ..services import recognition
    from ..vision.image import BadImage, load_image

    say_waiting("Loading the face models...")
    try:
        recognition.get_recognizer().model()
    except KioskError as err:  # no trained model, or an embedder's files are missing
        raise click.ClickException(str(err)) from err
    max_pixels = int(current_app.config.get("KIOSK_MAX_IMAGE_PIXELS", 40_000_000))
    for path in images:
        try:
            bgr = load_image(path, max_pixels=max_pixels)
        except BadImage:
            emit({"image": path, "status": "bad_image", "person": None, "score": None})
            continue
        try:
            result = recognition.identify_image(bgr)
        except ModelUnavailable as err:  # e.g. the model was trained with FaceNet and its weights are gone
            raise click.ClickException(str(err)) from err
        emit({"image": path, "status": result.status, "person": result.person, "score": result.score})


def register(app: Flask) -> None:
    app.cli.add_command(identify)
