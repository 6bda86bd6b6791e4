"""``kiosk devices add|list|rotate|remove``: the kiosks allowed to post frames.

Tokens are enforced when ``KIOSK_REQUIRE_DEVICE_TOKEN=1`` (see :mod:`kiosk.services.devices`).
``add`` and ``rotate`` print the token once, alone on standard output (so
``TOKEN=$(kiosk devices add lobby)`` works); the instructions go to standard error.
"""

from __future__ import annotations

import click
from flask import Flask

from ..errors import KioskError
from ..services import devices
from ..services.audit import cli_actor
from ..web.device_link import TOKEN_HEADER
from .jsonl import emit


def _explain(name: str, token: str) -> None:
    click.echo(
        f"Kiosk device {name!r}: its token is printed below, once; it is not stored in clear anywhere.\n"
        f"On the kiosk, open https://HOST/?token={token} once (the browser keeps it in a cookie),\n"
        f"or send it in the {TOKEN_HEADER} header. Enforced when KIOSK_REQUIRE_DEVICE_TOKEN=1.",
        err=True,
    )
    click.echo(token)


@click.group("devices")
def devices_group() -> None:
    """Registered kiosk devices and their tokens."""


@devices_group.command("add")
@click.argument("name")
def add(name: str) -> None:
    """Register a kiosk device and print its token (shown only this once)."""
    try:
        device, token = devices.register_device(name, actor=cli_actor())
    except KioskError as err:
        raise click.ClickException(str(err)) from err
    _explain(device.name, token)


@devices_group.command("rotate")
@click.argument("name")
def rotate(name: str) -> None:
    """Give a device a new token (the old one stops working) and print it once."""
    try:
        token = devices.rotate_token(name, actor=cli_actor())
    except KioskError as err:
        raise click.ClickException(str(err)) from err
    _explain(name, token)


@devices_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
def list_(as_json: bool) -> None:
    """The registered devices and when each was last seen (tokens are never shown)."""
    listed = devices.list_devices()
    if not listed and not as_json:  # --json prints no line: a script sees an empty list
        click.echo("No kiosks paired yet. Pair one with: kiosk devices add NAME")
        return
    for device in listed:
        created = device.created_at.isoformat(timespec="seconds")
        seen = device.last_seen.isoformat(timespec="seconds") if device.last_seen else None
        if as_json:
            emit({"name": device.name, "created_at": created, "last_seen": seen})
        else:
            click.echo(f"{device.name}\tcreated {created}\tlast seen {seen or 'never'}")


@devices_group.command("remove")
@click.argument("name")
def remove(name: str) -> None:
    """Remove a device; its token stops working at once."""
    try:
        devices.remove_device(name, actor=cli_actor())
    except KioskError as err:
        raise click.ClickException(str(err)) from err
    click.echo(f"Kiosk device {name!r} removed.")


def register(app: Flask) -> None:
    app.cli.add_command(devices_group)
