from __future__ import annotations

import json
from pathlib import Path

import click
from flask import Flask

from ..errors import KioskError
from ..services import people as people_service
from ..services.audit import cli_actor
from .jsonl import emit
from .waiting import say_waiting


@click.group("people")
def people_group() -> None:
    """Enrolled people."""


@people_group.command("enroll")
@click.argument("name")
@click.argument("images", nargs=-1, required=True, type=click.Path(dir_okay=False))
def enroll(name: str, images: tuple[str, ...]) -> None:
    """Enroll photos of NAME (created if new). One JSON line per image: accepted or why not;
    exit status 1 when every photo was refused."""
    from ..services import enrollment

    say_waiting("Loading the face models...")
    try:
        results = enrollment.enroll_files(name, list(images), actor=cli_actor())
    except KioskError as err:
        raise click.ClickException(str(err)) from err
    for outcome in results:
        emit(
            {
                "image": outcome.file,
                "status": "accepted" if outcome.accepted else "refused",
                "reason": None if outcome.accepted else outcome.code,
                "message": outcome.message,
                "sample_id": outcome.sample.id if outcome.sample is not None else None,
                "warning": outcome.warning,
            }
        )
    if results and not any(outcome.accepted for outcome in results):
        click.echo(f"No photo was accepted: nothing was enrolled for {name} (each line above says why).", err=True)
        raise SystemExit(1)


@people_group.command("import")
@click.argument("source", type=click.Path(exists=True, file_okay=True, dir_okay=True, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="One JSON line per photo on stdout, then one with the summary.")
@click.option("--train/--no-train", default=True, show_default=True,
              help="Retrain the face model once at the end (when something changed).")
def import_people(source: Path, as_json: bool, train: bool) -> None:
    """Enroll a whole directory of people from SOURCE: a folder of "Person Name/photo.jpg", a ZIP
    of the same, or a CSV (name,external_id,photo_path[,photo_path...]).

    Each photo gets the same checks as `kiosk people enroll`; people are created as needed.
    Photos already enrolled are skipped, so running it again is harmless and resumes an
    interrupted import. Progress goes to stderr; a summary (or --json lines) to stdout.
    Exit status 1 when no photo was accepted and some were refused."""
    from ..services.bulk_import.run import ImportedPhoto, import_path
    from .progress import ImportProgressDisplay

    refused: list[ImportedPhoto] = []
    duplicates: list[ImportedPhoto] = []

    def on_photo(outcome: ImportedPhoto) -> None:
        if as_json:
            emit(outcome.as_dict())
        elif outcome.status == "refused":
            refused.append(outcome)
        elif outcome.status == "duplicate":
            duplicates.append(outcome)

    try:
        with ImportProgressDisplay() as display:
            summary = import_path(
                source,
                on_photo=on_photo,
                on_progress=display.update,
                train=train,
                on_training=_training_lines(display),
                actor=cli_actor(),
            )
    except KeyboardInterrupt:
        click.echo("Interrupted. Run the same command again to go on: photos already imported are skipped.", err=True)
        raise SystemExit(130) from None
    except KioskError as err:  # a refused source, another import running, a missing model file
        raise click.ClickException(str(err)) from err
    if as_json:
        emit({"summary": summary.as_dict()})
    else:
        click.echo(summary_text(summary))
        if refused:
            click.echo("Refused photos (fix or replace them, then run the import again):")
            for outcome in refused:
                click.echo(f"  {outcome.image} ({outcome.person}): {outcome.message}")
        if duplicates:
            click.echo("Skipped duplicates (already enrolled, or twice in this import), by person:")
            for person, outcomes in _by_person(duplicates).items():
                click.echo(f"  {person}:")
                for outcome in outcomes:
                    click.echo(f"    {outcome.image}: {outcome.message}")
    if not summary.accepted and summary.refused_total:
        # Nothing done: exit 1 (a run where every photo was already enrolled is done, exit 0).
        click.echo("No photo was accepted: nobody was enrolled.", err=True)
        raise SystemExit(1)


def _by_person(outcomes) -> dict[str, list]:
    grouped: dict[str, list] = {}
    for outcome in outcomes:
        grouped.setdefault(outcome.person, []).append(outcome)
    return grouped


def _training_lines(display):
    last = [-1.0]

    def on_training(fraction: float, stage: str) -> None:
        if fraction - last[0] >= 0.25 or fraction >= 1.0:
            last[0] = fraction
            display.stage(f"train faces: {fraction:4.0%} {stage}")

    return on_training


def _embedder_id(training: dict) -> str:
    return ":".join(filter(None, (training.get("embedder"), training.get("weights"))))


def summary_text(summary) -> str:
    from ..services.bulk_import.progress import format_duration

    refused = ", ".join(f"{reason} {n}" for reason, n in summary.refused.items())
    lines = [
        f"Imported {summary.source} in {format_duration(summary.seconds)} ({summary.photos_per_second:.1f} photos/s):",
        f"  people created      {summary.people_created}",
        f"  people added to     {summary.people_added_to}",
        f"  photos accepted     {summary.accepted}",
        f"  photos refused      {summary.refused_total}" + (f"  ({refused})" if refused else ""),
        f"  duplicates skipped  {summary.duplicates}",
    ]
    lines += [f"  note: {note}" for note in summary.notes]
    training = summary.training
    if training is None:
        lines.append("Face model: not retrained (nothing changed, or --no-train).")
    elif "error" in training:
        lines.append(f"Face model: not retrained: {training['error']}")
    else:
        lines.append(
            f"Face model retrained: {training.get('people')} people, {training.get('samples')} photos, "
            f"{training.get('seconds')} s (embedder {_embedder_id(training)})."
        )
    return "\n".join(lines)


@people_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array instead of a table.")
@click.option("--search", default=None, help="Only names or external ids containing this text.")
def list_people(as_json: bool, search: str | None) -> None:
    """List enrolled people with their number of face samples and attendance events."""
    people = people_service.list_people(search)
    if as_json:
        click.echo(json.dumps([p.as_dict() for p in people], ensure_ascii=False, indent=2))
        return
    if not people:
        click.echo("No one is enrolled yet. Add someone with: kiosk people enroll NAME PHOTO...")
        return
    width = max(len(p.name) for p in people)
    click.echo(f"{'NAME':<{width}}  ACTIVE  SAMPLES  EVENTS")
    for p in people:
        click.echo(f"{p.name:<{width}}  {'yes' if p.active else 'no':<6}  {p.samples:>7}  {p.events:>6}")


@people_group.command("delete")
@click.argument("name")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def delete(name: str, yes: bool) -> None:
    """Delete NAME with all their face samples, attendance events and photos."""
    try:
        person = people_service.get_person_by_name(name)
    except KioskError as err:
        raise click.ClickException(str(err)) from err
    if not yes:
        click.confirm(
            f"Delete {person.name} with {len(person.samples)} face sample(s), {len(person.events)} attendance "
            "event(s) and their photos? This cannot be undone",
            abort=True,
        )
    report = people_service.delete_person(person, actor=cli_actor())
    click.echo(
        f"Deleted {report.name}: {report.samples} face sample(s), {report.events} event(s), {report.files} file(s)."
    )


def register(app: Flask) -> None:
    app.cli.add_command(people_group)
