"""``kiosk models fetch facenet``: the one explicit download of model weights (BRIEF section 5).

Nothing downloads at run time. The FaceNet weights (keras-facenet, key 20180402-114759) come
from keras-facenet's own release URL and are checked against keras-facenet's sha256 before
they are put in ``<models dir>/facenet/``. On a machine without internet access, download the
file elsewhere and install it with ``--from FILE`` (same sha256 check).
"""

from __future__ import annotations

from pathlib import Path

import click
from flask import Flask

from ..vision import embedders


@click.group("models")
def models_group() -> None:
    """Model files that are not shipped in the repository."""


@models_group.command("fetch")
@click.argument("name", type=click.Choice(["facenet"]))
@click.option("--from", "source", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Install from a file downloaded elsewhere instead of downloading.")
@click.option("--url", default=embedders.FACENET_WEIGHTS_URL, show_default=True, help="Download from a mirror.")
@click.option("--timeout", default=30.0, show_default=True, help="Network timeout in seconds.")
def fetch(name: str, source: Path | None, url: str, timeout: float) -> None:
    """Download (or install from --from FILE) the weights of model NAME, checking their sha256."""
    destination = embedders.facenet_weights_path()
    try:
        if source is not None:
            path = embedders.install_weights(source, destination, embedders.FACENET_WEIGHTS_SHA256)
        else:
            click.echo(f"Downloading {url} ...", err=True)
            path = embedders.fetch_facenet_weights(destination, url=url, timeout=timeout)
    except embedders.FetchFailed as err:
        raise click.ClickException(str(err)) from err
    embedders.reset_embedders()
    click.echo(f"FaceNet weights installed in {path} (sha256 {embedders.FACENET_WEIGHTS_SHA256}). "
               "With KIOSK_EMBEDDER=auto the next `kiosk train faces` re-embeds the enrolled faces with FaceNet.")


def register(app: Flask) -> None:
    app.cli.add_command(models_group)
