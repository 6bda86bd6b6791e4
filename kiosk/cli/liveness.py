"""``kiosk liveness IMAGE...``: does the face in each image look live (MiniFASNet, a per-frame cue)?

One JSON line per image: ``{"image": PATH, "status": "ok|no_face|multiple_faces|bad_image",
"live": BOOL|null, "score": 0..1|null}`` with ``image`` exactly as given; ``live`` is ``score >=
--threshold`` (default :data:`kiosk.vision.liveness.DEFAULT_FRAME_THRESHOLD`). The face is the one
the kiosk would serve (:func:`kiosk.vision.faces.analyze_frame`'s dominant face, any size): two
faces of similar size are ``multiple_faces``, as at the kiosk. A bad image is a ``bad_image`` line
(why goes to stderr) and the command goes on; the exit status is non-zero only when the model
cannot load.
"""

from __future__ import annotations

import click
from flask import Flask, current_app

from ..vision.lazy import ModelUnavailable
from ..vision.liveness import DEFAULT_FRAME_THRESHOLD
from .jsonl import emit
from .waiting import say_waiting


@click.command("liveness")
@click.argument("images", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option(
    "--threshold", default=DEFAULT_FRAME_THRESHOLD, show_default=True, type=click.FloatRange(0.0, 1.0),
    help="A score at or above it reads live.",
)
def liveness(images: tuple[str, ...], threshold: float) -> None:
    """Score how live the face in each IMAGE looks (one JSON line per image)."""
    from ..vision.faces import detect_faces, pick_dominant
    from ..vision.image import BadImage, load_image
    from ..vision.liveness import passive_liveness

    say_waiting("Loading the face and liveness models...")
    model = passive_liveness()
    try:
        model.warm_up()
    except ModelUnavailable as err:
        raise click.ClickException(str(err)) from err
    max_pixels = int(current_app.config.get("KIOSK_MAX_IMAGE_PIXELS", 40_000_000))
    for path in images:
        record: dict = {"image": path, "status": "ok", "live": None, "score": None}
        try:
            bgr = load_image(path, max_pixels=max_pixels)
        except BadImage as err:
            click.echo(f"{path}: {err}", err=True)
            emit({**record, "status": "bad_image"})
            continue
        faces = detect_faces(bgr)
        face = pick_dominant(faces)
        if face is None:
            emit({**record, "status": "multiple_faces" if faces else "no_face"})
            continue
        score = model.predict(bgr, face.box)
        emit({**record, "live": score >= threshold, "score": score})


def register(app: Flask) -> None:
    app.cli.add_command(liveness)
