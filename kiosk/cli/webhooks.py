"""``kiosk webhooks add|list|remove|deliveries|resend``: URLs told about check-ins and other events.

``add URL --events check_in,check_out --secret SECRET [--json]`` subscribes a URL (with
``--json`` one object ``{"id", "url", "events", "active", "created_at", "created_by"}``; the secret
is never printed); ``list --json`` prints a JSON array of them. An unknown event, a URL that is not
http(s) or a secret under 16 characters is a usage error (exit 2). The running server sends the
deliveries (docs/integrations.md).
"""

from __future__ import annotations

import json

import click
from flask import Flask

from ..errors import InvalidInput, KioskError
from ..services import webhooks
from ..services.audit import cli_actor
from .jsonl import emit


def _fail(err: KioskError):
    if isinstance(err, InvalidInput):
        raise click.UsageError(str(err)) from err
    raise click.ClickException(str(err)) from err


@click.group("webhooks")
def webhooks_group() -> None:
    """Webhooks: signed JSON POSTs to other systems when people check in, out, and more."""


@webhooks_group.command("add")
@click.argument("url")
@click.option("--events", required=True, help=f"Comma-separated: {', '.join(webhooks.EVENTS)}.")
@click.option("--secret", required=True,
              help=f"At least {webhooks.MIN_SECRET_LENGTH} characters; signs every delivery.")
@click.option("--json", "as_json", is_flag=True, help="Print the webhook as one JSON object.")
def add(url: str, events: str, secret: str, as_json: bool) -> None:
    """Subscribe URL to events."""
    try:
        subscription = webhooks.add_subscription(url, events, secret, actor=cli_actor())
    except KioskError as err:
        _fail(err)
    if as_json:
        emit(webhooks.subscription_dict(subscription))
    else:
        click.echo(f"Webhook {subscription.id} added: {subscription.url} ({', '.join(subscription.event_list)}).")


@webhooks_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array instead of a table.")
def list_(as_json: bool) -> None:
    """The webhooks (never their secrets)."""
    listed = [webhooks.subscription_dict(s) for s in webhooks.list_subscriptions()]
    if as_json:
        click.echo(json.dumps(listed, ensure_ascii=False))
        return
    if not listed:
        click.echo("No webhooks yet: kiosk webhooks add URL --events check_in,check_out --secret SECRET")
    for item in listed:
        click.echo(f"{item['id']}\t{item['url']}\t{','.join(item['events'])}")


@webhooks_group.command("remove")
@click.argument("webhook_id", type=int)
def remove(webhook_id: int) -> None:
    """Remove a webhook and its deliveries (pending ones are not sent)."""
    try:
        webhooks.remove_subscription(webhook_id, actor=cli_actor())
    except KioskError as err:
        _fail(err)
    click.echo(f"Webhook {webhook_id} removed.")


@webhooks_group.command("deliveries")
@click.option("--status", type=click.Choice(webhooks.STATUSES), default=None)
@click.option("--limit", type=click.IntRange(1, 10_000), default=200)
def deliveries(status: str | None, limit: int) -> None:
    """The latest deliveries, newest first, as JSON lines (status, attempts, last answer)."""
    for d in webhooks.deliveries(status=status, limit=limit):
        emit({"id": d.id, "delivery_id": d.delivery_id, "webhook_id": d.subscription_id, "event": d.event,
              "status": d.status, "attempts": d.attempts, "last_response_status": d.last_response_status,
              "last_error": d.last_error, "created_at": d.created_at.isoformat(timespec="seconds"),
              "delivered_at": d.delivered_at.isoformat(timespec="seconds") if d.delivered_at else None})


@webhooks_group.command("resend")
@click.argument("delivery", type=int)
def resend(delivery: int) -> None:
    """Send a delivery again (by its number in `kiosk webhooks deliveries`), with the same delivery id."""
    try:
        webhooks.send_again(delivery, actor=cli_actor())
    except KioskError as err:
        _fail(err)
    click.echo(f"Delivery {delivery} queued again.")


def register(app: Flask) -> None:
    app.cli.add_command(webhooks_group)
