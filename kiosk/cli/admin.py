from __future__ import annotations

import sys

import click
from flask import Flask

from ..errors import KioskError
from ..services import accounts
from ..services.audit import cli_actor


@click.group("admin")
def admin_group() -> None:
    """Administrator accounts."""


PASSWORD_STDIN = click.option(
    "--password-stdin", is_flag=True, help="Read the password from standard input (for scripts)."
)


def _read_password(from_stdin: bool, prompt: str = "Password") -> str:
    # Piped in without --password-stdin: read it the same way. (getpass would print a
    # GetPassWarning naming its own source file, and echo nothing useful to anyone.)
    if from_stdin or not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    return click.prompt(prompt, hide_input=True, confirmation_prompt=True)


@admin_group.command("create")
@click.argument("username")
@PASSWORD_STDIN
def create(username: str, password_stdin: bool) -> None:
    """Create an administrator; the password is asked for (twice) unless --password-stdin."""
    try:
        user = accounts.create_admin(username, _read_password(password_stdin), actor=cli_actor())
    except KioskError as err:
        raise click.ClickException(str(err)) from err
    click.echo(f"Administrator {user.username!r} created.")


@admin_group.command("password")
@click.argument("username")
@PASSWORD_STDIN
def password(username: str, password_stdin: bool) -> None:
    """Set a new password for USERNAME; every session they have open ends at once."""
    try:
        ended = accounts.change_password(username, _read_password(password_stdin, "New password"), actor=cli_actor())
    except KioskError as err:
        raise click.ClickException(str(err)) from err
    click.echo(f"Password of {username!r} changed; {ended} open session(s) ended.")


@admin_group.command("remove")
@click.argument("username")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def remove(username: str, yes: bool) -> None:
    """Remove the administrator USERNAME; their open sessions end at once."""
    if not yes:
        click.confirm(f"Remove the administrator {username!r}?", abort=True)
    try:
        ended = accounts.remove_admin(username, actor=cli_actor())
    except KioskError as err:
        raise click.ClickException(str(err)) from err
    click.echo(f"Administrator {username!r} removed; {ended} open session(s) ended.")


@admin_group.command("list")
def list_admins() -> None:
    """The administrators, one per line."""
    for user in accounts.list_admins():
        click.echo(user.username)


def register(app: Flask) -> None:
    app.cli.add_command(admin_group)
