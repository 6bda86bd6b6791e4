"""Sending the webhook outbox (``kiosk.services.webhooks``): a background thread of the running
server, started once per process (:func:`start_in_background`; the app starts it on its first
request and gunicorn's worker start-up hook at once). No extra process to run.

One delivery reaches its receiver once per attempt across every worker and app host: an attempt
first *claims* its row, moving ``next_attempt_at`` past the time the attempt may take (a lease)
and counting the attempt, and commits that before sending.

* PostgreSQL (several app hosts): ``SELECT ... FOR UPDATE SKIP LOCKED`` picks due rows another
  host is not claiming at the same moment; the claim's commit makes them not due for the others.
* SQLite (one host): the claim runs under the site lock ``webhooks`` (a thread lock and an
  ``flock`` in the data dir), which serialises every worker of the host.

A sender killed after claiming (SIGKILL, a power cut) leaves the row pending: it is due again when
its lease ends, and sent again with the same delivery id. So a receiver may see an id twice (at
least once), never a lost event; it de-duplicates on ``X-Kiosk-Delivery``.

Outcome: a 2xx answer is ``delivered``. Anything else (another status, a time-out, a refused or
closed connection) is tried again after ``KIOSK_WEBHOOK_FIRST_RETRY_S`` seconds, doubling each
time up to ``KIOSK_WEBHOOK_MAX_RETRY_S`` (with 10 % jitter), until ``retry_until`` (the event's
time + ``KIOSK_WEBHOOK_RETRY_HOURS``, 24 h), then ``failed`` (the console's "send again" re-queues it).
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import Flask, current_app
from sqlalchemy import select

from ..extensions import db
from ..integration_tables import WebhookDelivery, WebhookSubscription
from ..models import utcnow
from .database import is_postgresql
from .site_lock import site_lock
from .webhooks import DELIVERY_HEADER, EVENT_HEADER, SIGNATURE_HEADER, signature

log = logging.getLogger(__name__)

CLAIM_BATCH = 20
LEASE_MARGIN_S = 30  # beyond the request's time-out: a lease must outlast the attempt it covers
MAX_ERROR_LENGTH = 300
USER_AGENT = "attendance-kiosk-webhooks/1"


@dataclass(frozen=True)
class Claimed:
    id: int
    delivery_id: str
    event: str
    body: bytes
    url: str
    secret: str
    attempts: int


def _setting(name: str, default: float) -> float:
    return float(current_app.config.get(name, default))


def claim_due(limit: int = CLAIM_BATCH, now: datetime | None = None) -> list[Claimed]:
    """Claim up to ``limit`` due deliveries for this sender (committed before they are sent)."""
    if is_postgresql():
        return _claim(limit, now, skip_locked=True)
    with site_lock("webhooks"):
        db.session.commit()  # a snapshot older than the lock would not see another worker's claims
        return _claim(limit, now, skip_locked=False)


def _claim(limit: int, now: datetime | None, *, skip_locked: bool) -> list[Claimed]:
    now = now or utcnow()
    query = (select(WebhookDelivery, WebhookSubscription)
             .join(WebhookSubscription, WebhookSubscription.id == WebhookDelivery.subscription_id)
             .where(WebhookDelivery.status == "pending", WebhookDelivery.next_attempt_at <= now)
             .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id).limit(limit))
    if skip_locked:
        query = query.with_for_update(skip_locked=True, of=WebhookDelivery)
    lease = timedelta(seconds=_setting("KIOSK_WEBHOOK_TIMEOUT_S", 10) + LEASE_MARGIN_S)
    claimed = []
    try:
        for delivery, subscription in db.session.execute(query).all():
            delivery.attempts += 1
            delivery.last_attempt_at, delivery.next_attempt_at = now, now + lease
            claimed.append(Claimed(delivery.id, delivery.delivery_id, delivery.event, delivery.body.encode("utf-8"),
                                   subscription.url, subscription.secret, delivery.attempts))
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    return claimed


def send(claimed: Claimed) -> tuple[int | None, str | None]:
    """POST one delivery, signed now. (HTTP status or None, error text or None)."""
    request = urllib.request.Request(claimed.url, data=claimed.body, method="POST", headers={
        "Content-Type": "application/json", "User-Agent": USER_AGENT,
        EVENT_HEADER: claimed.event, DELIVERY_HEADER: claimed.delivery_id,
        SIGNATURE_HEADER: signature(claimed.secret, claimed.body, int(time.time())),
    })
    try:
        with urllib.request.urlopen(request, timeout=_setting("KIOSK_WEBHOOK_TIMEOUT_S", 10)) as response:
            response.read(65536)
            return response.status, None
    except urllib.error.HTTPError as err:
        return err.code, f"answered {err.code}"
    except Exception as err:  # noqa: BLE001 - refused, reset, closed, timed out, bad TLS: all retried
        return None, f"{type(err).__name__}: {err}"[:MAX_ERROR_LENGTH]


def backoff(attempts: int) -> timedelta:
    first, most = _setting("KIOSK_WEBHOOK_FIRST_RETRY_S", 10), _setting("KIOSK_WEBHOOK_MAX_RETRY_S", 3600)
    delay = min(most, first * 2 ** max(0, attempts - 1))
    return timedelta(seconds=delay * random.uniform(0.9, 1.1))


def record_outcome(claimed: Claimed, status: int | None, error: str | None) -> str:
    """Store an attempt's outcome; the delivery's new status."""
    delivery = db.session.get(WebhookDelivery, claimed.id)
    if delivery is None:  # its webhook was removed meanwhile
        return "removed"
    now = utcnow()
    delivery.last_response_status = status
    if status is not None and 200 <= status < 300:
        delivery.status, delivery.delivered_at, delivery.last_error = "delivered", now, None
    else:
        delivery.last_error = (error or f"answered {status}")[:MAX_ERROR_LENGTH]
        retry_at = now + backoff(delivery.attempts)
        if retry_at > delivery.retry_until:
            delivery.status = "failed"
        else:
            delivery.next_attempt_at = retry_at
    db.session.commit()
    return delivery.status


def deliver_due() -> int:
    """Claim and send what is due now; how many were attempted."""
    claimed = claim_due()
    for item in claimed:
        status, error = send(item)
        outcome = record_outcome(item, status, error)
        if outcome != "delivered":
            log.warning("Webhook delivery %s (%s) to %s: attempt %d failed (%s); now %s.", item.delivery_id,
                        item.event, item.url, item.attempts, error or status, outcome)
    return len(claimed)


# ---------------------------------------------------------------------------- the background thread

_senders: dict[tuple[int, int], threading.Event] = {}  # (pid, app) -> its thread's stop signal
_start_guard = threading.Lock()


def start_in_background(app: Flask) -> bool:
    """Start this process's sender thread for ``app`` unless it runs already or ``KIOSK_WEBHOOKS``
    is off. Keyed by the process id too: a forked worker starts its own."""
    key = (os.getpid(), id(app))
    if key in _senders or not app.config.get("KIOSK_WEBHOOKS", True):
        return False
    with _start_guard:
        if key in _senders:
            return False
        stop = _senders[key] = threading.Event()
    threading.Thread(target=_run, args=(app, stop), name="kiosk-webhooks", daemon=True).start()
    return True


def stop_in_background(app: Flask) -> None:
    """Stop ``app``'s sender thread after its current attempt (tests; a server's ends with its process)."""
    stop = _senders.pop((os.getpid(), id(app)), None)
    if stop is not None:
        stop.set()


def _run(app: Flask, stop: threading.Event) -> None:
    poll_s = float(app.config.get("KIOSK_WEBHOOK_POLL_S", 1.0))
    while not stop.is_set():
        attempted = 0
        try:
            with app.app_context():
                try:
                    attempted = deliver_due()
                finally:
                    db.session.remove()
        except Exception:  # noqa: BLE001 - a database that is away (restart, fail-over) is tried again
            log.exception("Webhook sender: could not read the outbox; trying again shortly.")
            stop.wait(min(30.0, poll_s * 5))
        if not attempted:
            stop.wait(poll_s)
