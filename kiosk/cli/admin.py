from __future__ import annotations

import sys

import click
from flask import Flask

from ..errors import KioskError
from ..services import accounts


@click.group("admin")
def admin_group() -> None:
    """Administrator accounts."""


@admin_group.command("create")
@click.argument("username")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input (for scripts).")
def create(username: str, password_stdin: bool) -> None:
    """Create an administrator; the password is asked for (twice) unless --password-stdin."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        user = accounts.create_admin(username, password)
    except KioskError as err:
        raise click.ClickException(str(err)) from err
    click.echo(f"Administrator {user.username!r} created.")


def register(app: Flask) -> None:
    app.cli.add_command(admin_group)
