from __future__ import annotations

import json

import click
from flask import Flask

from ..errors import KioskError
from ..services import people as people_service
from .jsonl import emit


@click.group("people")
def people_group() -> None:
    """Enrolled people."""


@people_group.command("enroll")
@click.argument("name")
@click.argument("images", nargs=-1, required=True, type=click.Path(dir_okay=False))
def enroll(name: str, images: tuple[str, ...]) -> None:
    """Enroll photos of NAME (created if new). One JSON line per image: accepted or why not."""
    from ..services import enrollment

    try:
        results = enrollment.enroll_files(name, list(images))
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
    report = people_service.delete_person(person)
    click.echo(
        f"Deleted {report.name}: {report.samples} face sample(s), {report.events} event(s), {report.files} file(s)."
    )


def register(app: Flask) -> None:
    app.cli.add_command(people_group)
