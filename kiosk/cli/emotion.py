"""``kiosk emotion IMAGE...``: the facial expression of the face in each image.

One JSON line per image: ``{"image", "status": "ok|no_face|bad_image", "emotion", "happy"}``
(``--scores`` adds the seven scores). The face read is the detector's most confident one: on a
photo, the largest detection can be a false positive on the background, and this command has no
``multiple_faces`` status. Why an image is bad goes to stderr; it never stops the command.
"""

from __future__ import annotations

import click
from flask import Flask

from ..vision.lazy import ModelUnavailable
from .jsonl import emit
from .waiting import say_waiting


@click.command("emotion")
@click.argument("images", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--scores", "with_scores", is_flag=True, help="Add the seven emotion scores to each line.")
def emotion(images: tuple[str, ...], with_scores: bool) -> None:
    """Read the facial expression in each IMAGE (one JSON line per image)."""
    from ..vision.emotion import analyze_emotion, get_emotion_model
    from ..vision.faces import detect_faces
    from ..vision.image import BadImage, load_image

    say_waiting("Loading the face and expression models...")
    model = get_emotion_model()
    try:
        model.warm_up()
    except ModelUnavailable as err:
        raise click.ClickException(str(err)) from err
    for path in images:
        record: dict = {"image": path, "status": "ok", "emotion": None, "happy": None}
        try:
            bgr = load_image(path)
        except BadImage as err:
            click.echo(f"{path}: {err}", err=True)
            emit({**record, "status": "bad_image"})
            continue
        faces = detect_faces(bgr)
        if not faces:
            emit({**record, "status": "no_face"})
            continue
        face = max(faces, key=lambda f: f.score)
        result = analyze_emotion(bgr, face, model)
        record.update(emotion=result.emotion, happy=result.happy)
        if with_scores:
            record["scores"] = result.scores
        emit(record)


def register(app: Flask) -> None:
    app.cli.add_command(emotion)
