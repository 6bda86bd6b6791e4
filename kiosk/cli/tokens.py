"""``kiosk tokens create|revoke|list``: API tokens for other systems' scripts on ``/api/v1``.

``create NAME --scope S [--scope ...]`` prints the token once (alone on standard output, or with
``--json`` one object ``{"name": ..., "token": ...}``); ``revoke NAME`` refuses it from the next
request on; ``list --json`` prints a JSON array (never a secret). A bad scope, name or expiry
is a usage error (exit 2); an unknown name or a name in use exits 1.
"""

from __future__ import annotations

import json

import click
from flask import Flask

from ..errors import InvalidInput, KioskError
from ..services import api_tokens
from ..services.audit import cli_actor
from .jsonl import emit


def _fail(err: KioskError):
    if isinstance(err, InvalidInput):
        raise click.UsageError(str(err)) from err
    raise click.ClickException(str(err)) from err


@click.group("tokens")
def tokens_group() -> None:
    """API tokens (Authorization: Bearer) for scripts on /api/v1."""


@tokens_group.command("create")
@click.argument("name")
@click.option("--scope", "scopes", multiple=True, required=True,
              help=f"Repeat for several: {', '.join(api_tokens.SCOPES)}.")
@click.option("--expires-days", default=None, help="Days until the token stops working (default: never).")
@click.option("--json", "as_json", is_flag=True, help='Print {"name": ..., "token": ...} on one line.')
def create(name: str, scopes: tuple[str, ...], expires_days: str | None, as_json: bool) -> None:
    """Create an API token and print it (shown only this once)."""
    try:
        token, secret = api_tokens.create_token(name, list(scopes), expires_at=api_tokens.expiry_after(expires_days),
                                                actor=cli_actor())
    except KioskError as err:
        _fail(err)
    click.echo(f"API token {token.name!r} ({', '.join(token.scope_list)}): printed below, once; only its hash is "
               "kept. Send it as 'Authorization: Bearer TOKEN'.", err=True)
    if as_json:
        emit({"name": token.name, "token": secret})
    else:
        click.echo(secret)


@tokens_group.command("revoke")
@click.argument("name")
def revoke(name: str) -> None:
    """Stop a token working now (its next request is refused)."""
    try:
        api_tokens.revoke_token(name, actor=cli_actor())
    except KioskError as err:
        _fail(err)
    click.echo(f"API token {name!r} revoked.")


@tokens_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array instead of a table.")
def list_(as_json: bool) -> None:
    """The tokens: scopes, state, expiry and last use (never the secrets)."""
    listed = [api_tokens.as_dict(token) for token in api_tokens.list_tokens()]
    if as_json:
        click.echo(json.dumps(listed, ensure_ascii=False))
        return
    if not listed:
        click.echo("No API tokens yet: kiosk tokens create NAME --scope read:attendance")
    for token in listed:
        click.echo(f"{token['name']}\t{' '.join(token['scopes'])}\t{token['state']}\t"
                   f"expires {token['expires_at'] or 'never'}\tlast used {token['last_used_at'] or 'never'}")


def register(app: Flask) -> None:
    app.cli.add_command(tokens_group)
