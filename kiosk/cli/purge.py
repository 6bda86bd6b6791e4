"""``kiosk purge``: the photo retention rule.

Check-in photos are personal data kept only as long as the site decided
(``KIOSK_PHOTO_RETENTION_DAYS``; 0 keeps them). ``kiosk purge`` deletes the photo files of
events older than that and clears their paths; the attendance events themselves stay, so
reports are unchanged. Faces learned from check-ins (``kiosk.services.learning``) older than
that are deleted too (row, crop and their place in the face model). ``--orphans`` also removes
photos and face crops under the media dir that no row points at (left by a crash or an
interrupted deletion).

On a schedule: either a daily cron line / systemd timer on the server
(``15 3 * * *  cd /srv/kiosk && .venv/bin/kiosk purge --orphans``), or a long-running
``kiosk purge --orphans --every 24`` (a container sidecar or a systemd service), which purges,
sleeps, and purges again, re-reading ``KIOSK_PHOTO_RETENTION_DAYS`` each time.
Prints one JSON object per run with what was done; the exit status is non-zero only on errors.
"""

from __future__ import annotations

import time
from typing import Any

import click
from flask import Flask, current_app

from ..errors import KioskError
from .jsonl import emit


def _count(value: Any) -> Any:
    """The services may answer a count, a list of removed paths, or a dict of figures."""
    if isinstance(value, (list, tuple, set)):
        return len(value)
    return value


@click.command("purge")
@click.option("--days", type=click.IntRange(min=1), default=None,
              help="Delete photos older than this many days (default: KIOSK_PHOTO_RETENTION_DAYS).")
@click.option("--orphans", is_flag=True, help="Also delete stored files that no database row refers to.")
@click.option("--every", "every_hours", type=click.FloatRange(min=0, min_open=True), default=None, metavar="HOURS",
              help="Keep running: purge again every HOURS hours (for a service or sidecar).")
@click.option("--runs", type=click.IntRange(min=0), default=0, hidden=True, help="With --every: stop after N runs.")
def purge(days: int | None, orphans: bool, every_hours: float | None, runs: int) -> None:
    """Delete check-in photos, learned faces and suspected-spoof frames older than the retention period
    (events stay)."""
    done = 0
    while True:
        _purge_once(days, orphans)
        done += 1
        if every_hours is None or (runs and done >= runs):
            return
        time.sleep(every_hours * 3600)


def _purge_once(days: int | None, orphans: bool) -> None:
    from ..extensions import db
    from ..services import audit, learning, photos, spoofs
    from ..services.audit_actions import RETENTION_PURGED

    if days is None:
        days = int(current_app.config.get("KIOSK_PHOTO_RETENTION_DAYS", 0) or 0)
    report: dict[str, Any] = {"retention_days": days or None}
    try:
        if days > 0:
            report["photos"] = _count(photos.purge_photos_older_than(days))
            report["learned_faces"] = learning.purge_older_than(days)
            report["spoof_evidence"] = spoofs.purge_older_than(days)
        else:
            report["photos"] = report["learned_faces"] = report["spoof_evidence"] = 0
            report["note"] = "Retention is off (KIOSK_PHOTO_RETENTION_DAYS=0): no photo is old enough to purge."
        if orphans:
            report["orphans"] = _count(photos.purge_orphan_files())
            report["orphan_crops"] = learning.purge_orphan_crops()
            report["orphan_spoof_frames"] = spoofs.purge_orphan_files()
        if any(isinstance(v, int) and v for k, v in report.items() if k != "retention_days"):
            audit.record_now(RETENTION_PURGED, audit.Target("retention", None, "photos and learned faces"),
                             actor=audit.cli_actor(), after=report)
    except KioskError as err:
        raise click.ClickException(str(err)) from err
    finally:
        db.session.rollback()  # end the read transaction: a long-running loop must not hold one while it sleeps
    emit(report)


def register(app: Flask) -> None:
    app.cli.add_command(purge)
