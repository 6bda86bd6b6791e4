"""``kiosk devices add|pair|list|rename|revoke|rotate|remove``: the kiosks allowed to use the frame API.

Pairing is required unless ``KIOSK_REQUIRE_PAIRING=0`` (see :mod:`kiosk.services.devices`).
``pair CODE`` approves the code an unpaired kiosk screen shows (the console's Devices page does
the same). ``add`` and ``rotate`` print the token once, alone on standard output (so
``TOKEN=$(kiosk devices add lobby)`` works), or with ``--json`` one object
``{"name": ..., "token": ...}``; the instructions go to standard error.
"""

from __future__ import annotations

import click
from flask import Flask

from ..errors import KioskError
from ..services import devices, pairing
from ..services.audit import cli_actor
from ..web.device_link import TOKEN_HEADER
from .jsonl import emit


def _explain(name: str, token: str, as_json: bool) -> None:
    click.echo(
        f"Kiosk device {name!r}: its token is printed below, once; it is not stored in clear anywhere.\n"
        f"Send it in the {TOKEN_HEADER} header, or open https://HOST/?token=TOKEN once on the kiosk\n"
        f"(the browser keeps it in a cookie). A kiosk browser can also be paired without a token:\n"
        f"open the kiosk page and approve the code it shows (kiosk devices pair CODE, or the console's Devices page).",
        err=True,
    )
    if as_json:
        emit({"name": name, "token": token})
    else:
        click.echo(token)


def _fail(err: KioskError):
    raise click.ClickException(str(err)) from err


@click.group("devices")
def devices_group() -> None:
    """Paired kiosk devices and their tokens."""


@devices_group.command("add")
@click.argument("name")
@click.option("--location", default=None, help="Where the kiosk stands (shown on the Devices page).")
@click.option("--json", "as_json", is_flag=True, help='Print {"name": ..., "token": ...} on one line.')
def add(name: str, location: str | None, as_json: bool) -> None:
    """Register a kiosk device (a display name: "Front door") and print its token (shown only this once)."""
    try:
        device, token = devices.register_device(name, location, actor=cli_actor())
    except KioskError as err:
        _fail(err)
    _explain(device.name, token, as_json)


@devices_group.command("pair")
@click.argument("code")
@click.option("--name", default=None, help='The kiosk\'s display name (default: "Kiosk N").')
@click.option("--location", default=None, help="Where the kiosk stands.")
def pair(code: str, name: str | None, location: str | None) -> None:
    """Approve the pairing CODE an unpaired kiosk screen shows; the kiosk starts within seconds."""
    if not name:
        taken = {d.name for d in devices.list_devices()}
        name = next(f"Kiosk {n}" for n in range(1, len(taken) + 2) if f"Kiosk {n}" not in taken)
    try:
        device = pairing.approve(code, name, location, approved_by="command line", actor=cli_actor())
    except KioskError as err:
        _fail(err)
    click.echo(f"Kiosk {device.name!r} paired: the kiosk screen picks it up within a few seconds.")


@devices_group.command("rotate")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help='Print {"name": ..., "token": ...} on one line.')
def rotate(name: str, as_json: bool) -> None:
    """Give a device a new token (the old one stops working) and print it once."""
    try:
        token = devices.rotate_token(name, actor=cli_actor())
        name = devices.get_device(name).name
    except KioskError as err:
        _fail(err)
    _explain(name, token, as_json)


@devices_group.command("rename")
@click.argument("name")
@click.argument("new_name")
@click.option("--location", default=None, help="A new location (unchanged when not given).")
def rename(name: str, new_name: str, location: str | None) -> None:
    """Give a device a new display name."""
    try:
        device = devices.get_device(name)
        devices.rename_device(device.id, new_name, device.location if location is None else location,
                              actor=cli_actor())
    except KioskError as err:
        _fail(err)
    click.echo(f"Kiosk device {name!r} is now {new_name!r}.")


@devices_group.command("revoke")
@click.argument("name")
def revoke(name: str) -> None:
    """End a device's pairing now (its next request is refused); it can be paired again."""
    try:
        devices.revoke_device(devices.get_device(name).id, actor=cli_actor())
    except KioskError as err:
        _fail(err)
    click.echo(f"Kiosk device {name!r} revoked.")


@devices_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
def list_(as_json: bool) -> None:
    """The devices, where they stand and when each was last seen (tokens are never shown)."""
    listed = devices.list_devices()
    if not listed and not as_json:  # --json prints no line: a script sees an empty list
        click.echo("No kiosks paired yet. Open the kiosk page and approve its code on the console's Devices page, "
                   "or: kiosk devices pair CODE --name NAME")
        return
    for device in listed:
        created = device.created_at.isoformat(timespec="seconds")
        seen = device.last_seen.isoformat(timespec="seconds") if device.last_seen else None
        paired = device.token_hash is not None
        if as_json:
            emit({"name": device.name, "location": device.location, "paired": paired, "created_at": created,
                  "last_seen": seen})
        else:
            click.echo(f"{device.name}\t{device.location or ''}\t{'paired' if paired else 'not paired'}\t"
                       f"created {created}\tlast seen {seen or 'never'}")


@devices_group.command("remove")
@click.argument("name")
def remove(name: str) -> None:
    """Remove a device; its token stops working at once."""
    try:
        devices.remove_device(name, actor=cli_actor())
    except KioskError as err:
        _fail(err)
    click.echo(f"Kiosk device {name!r} removed.")


def register(app: Flask) -> None:
    app.cli.add_command(devices_group)
