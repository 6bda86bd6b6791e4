"""``kiosk audit``: the audit log of admin actions (docs/audit.md), oldest first.

``--json`` prints one JSON array of ``{"at", "actor", "action", "target", "reason", "before",
"after"}`` (``at`` in ISO 8601 with the site's offset; ``target`` a readable string such as
``person 12 (Ada Lovelace)``); without it, a table. A bad filter exits with status 2.
"""

from __future__ import annotations

import json

import click
from flask import Flask

from ..errors import KioskError
from ..services import audit


@click.command("audit")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array instead of a table.")
@click.option("--from", "start", default=None, metavar="YYYY-MM-DD", help="First day (site time zone), inclusive.")
@click.option("--to", "end", default=None, metavar="YYYY-MM-DD", help="Last day (site time zone), inclusive.")
@click.option("--actor", default=None, help="Only this actor (an admin's name, cli:USER, system).")
@click.option("--action", default=None, help="Only this action (person.renamed) or area (person).")
@click.option("--limit", type=click.IntRange(min=0), default=0, help="Only the newest N entries (0: all).")
def audit_command(as_json: bool, start: str | None, end: str | None, actor: str | None, action: str | None,
                  limit: int) -> None:
    """Who did what, when: every admin action, from the console and the command line."""
    try:
        filters = audit.parse_filters(start, end, actor, action)
    except KioskError as err:
        raise click.UsageError(str(err)) from err
    rows = audit.entries(filters, limit=limit or None, newest_first=True)
    rows.reverse()
    if as_json:
        click.echo(json.dumps([audit.as_dict(e) for e in rows], ensure_ascii=False, indent=2))
        return
    if not rows:
        click.echo("No audit entries" + (" match these filters." if filters != audit.Filters() else " yet."))
        return
    for entry in rows:
        record = audit.as_dict(entry)
        line = f"{record['at']}  {record['actor']:<16}  {record['action']:<24}  {record['target']}"
        changes = _changes(record["before"], record["after"])
        if changes:
            line += f"  [{changes}]"
        if record["reason"]:
            line += f"  reason: {record['reason']}"
        click.echo(line)


def _changes(before, after) -> str:  # noqa: ANN001 - JSON values
    if isinstance(before, dict) and isinstance(after, dict):
        keys = [k for k in after if before.get(k) != after.get(k)]
        return ", ".join(f"{k}: {before.get(k)!r} -> {after.get(k)!r}" for k in keys)
    value = after if after is not None else before
    return json.dumps(value, ensure_ascii=False) if value is not None else ""


def register(app: Flask) -> None:
    app.cli.add_command(audit_command)
