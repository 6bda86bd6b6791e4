"""Webhooks: subscriptions (a URL, the events it wants, a secret) and the outbox of deliveries.

:func:`enqueue` is the one way an event reaches the subscribers: it adds one
:class:`~kiosk.integration_tables.WebhookDelivery` row per interested subscription to the
caller's session and does **not** commit, so the delivery is written in the same transaction as
the event (a check-in, a new person...) and a rolled-back event leaves none. Sending is
``kiosk.services.webhook_delivery`` (a background thread of the running server).

Every delivery is ``POST URL`` with the JSON body ``{"delivery_id", "event", "occurred_at",
"data"}`` (docs/integrations.md lists each event's ``data``; nothing biometric: no photos, no
embeddings, no scores of the face model) and the headers ``X-Kiosk-Event``, ``X-Kiosk-Delivery``
(the same through every retry: receivers de-duplicate on it) and ``X-Kiosk-Signature:
t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>" with the subscription's secret>``.
:func:`verify_signature` is the receiver's check, with its replay window.

Errors: ``InvalidInput`` codes ``unknown_event``, ``missing_events``, ``bad_url``, ``weak_secret``;
``NotFound``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from flask import current_app
from sqlalchemy import select

from ..errors import InvalidInput, NotFound
from ..extensions import db
from ..integration_tables import WebhookDelivery, WebhookSubscription
from ..models import utcnow
from . import audit
from .audit_actions import WEBHOOK_ADDED, WEBHOOK_REMOVED, WEBHOOK_RESENT
from .choices import chosen_names

EVENTS = ("check_in", "check_out", "correction", "person.created", "person.deleted", "spoof.suspected")
MIN_SECRET_LENGTH = 16
MAX_SECRET_LENGTH = 256
MAX_URL_LENGTH = 2000
SIGNATURE_HEADER = "X-Kiosk-Signature"
DELIVERY_HEADER = "X-Kiosk-Delivery"
EVENT_HEADER = "X-Kiosk-Event"
REPLAY_WINDOW_S = 300  # a receiver refuses a signature older (or newer) than this
STATUSES = ("pending", "delivered", "failed")


# ---------------------------------------------------------------------------- input


def clean_url(url: object) -> str:
    if not isinstance(url, str) or not url.strip():
        raise InvalidInput("A webhook needs a URL (http:// or https://).", code="bad_url")
    url = url.strip()
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        raise InvalidInput(f"{url[:100]!r} is not a URL.", code="bad_url") from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise InvalidInput("A webhook URL starts with http:// or https:// and names a host.", code="bad_url")
    if len(url) > MAX_URL_LENGTH or any(ch.isspace() or ord(ch) < 32 for ch in url):
        raise InvalidInput(f"A webhook URL is at most {MAX_URL_LENGTH} characters, without spaces.", code="bad_url")
    return url


def clean_events(events: object) -> list[str]:
    """Event names from a list or text separated by commas or spaces."""
    return chosen_names(events, EVENTS, noun="event", unknown_code="unknown_event", missing_code="missing_events",
                        missing_message=f"Choose at least one event ({', '.join(EVENTS)}).")


def clean_secret(secret: object) -> str:
    if not isinstance(secret, str) or len(secret) < MIN_SECRET_LENGTH:
        raise InvalidInput(f"The secret must be at least {MIN_SECRET_LENGTH} characters (it signs every delivery).",
                           code="weak_secret",
                           min_length=MIN_SECRET_LENGTH, max_length=MAX_SECRET_LENGTH)
    if len(secret) > MAX_SECRET_LENGTH or any(ord(ch) < 32 for ch in secret):
        raise InvalidInput(f"The secret is at most {MAX_SECRET_LENGTH} printable characters.", code="weak_secret",
                           min_length=MIN_SECRET_LENGTH, max_length=MAX_SECRET_LENGTH)
    return secret


# ---------------------------------------------------------------------------- subscriptions


def _target(subscription: WebhookSubscription) -> audit.Target:
    return audit.Target("webhook", subscription.id, subscription.url[:200])


def add_subscription(url: object, events: object, secret: object, *,
                     actor: audit.Actor | str | None = None) -> WebhookSubscription:
    url, event_list, secret = clean_url(url), clean_events(events), clean_secret(secret)
    subscription = WebhookSubscription(url=url, events=" ".join(event_list), secret=secret, active=True,
                                       created_by=str(actor or audit.SYSTEM)[:96])
    db.session.add(subscription)
    db.session.flush()
    audit.record(WEBHOOK_ADDED, _target(subscription), actor=actor, after={"url": url, "events": event_list})
    db.session.commit()
    return subscription


def get_subscription(subscription_id: int) -> WebhookSubscription:
    subscription = db.session.get(WebhookSubscription, subscription_id)
    if subscription is None:
        raise NotFound("No such webhook.")
    return subscription


def remove_subscription(subscription_id: int, *, actor: audit.Actor | str | None = None) -> None:
    """Remove a webhook with its deliveries (pending ones are never sent)."""
    subscription = get_subscription(subscription_id)
    audit.record(WEBHOOK_REMOVED, _target(subscription), actor=actor,
                 before={"url": subscription.url, "events": subscription.event_list})
    db.session.delete(subscription)
    db.session.commit()


def list_subscriptions() -> list[WebhookSubscription]:
    return list(db.session.scalars(select(WebhookSubscription).order_by(WebhookSubscription.id)))


def subscription_dict(subscription: WebhookSubscription) -> dict:
    return {"id": subscription.id, "url": subscription.url, "events": subscription.event_list,
            "active": subscription.active, "created_at": subscription.created_at.isoformat(timespec="seconds"),
            "created_by": subscription.created_by}


# ---------------------------------------------------------------------------- the outbox


def retry_period() -> timedelta:
    return timedelta(hours=float(current_app.config.get("KIOSK_WEBHOOK_RETRY_HOURS", 24)))


def _check_not_biometric(value: Any) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            if str(key).lower() in audit.FORBIDDEN_KEYS:
                raise ValueError(f"webhook payload: {key!r} may hold biometric data and is never sent")
            _check_not_biometric(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            _check_not_biometric(item)
    elif isinstance(value, (bytes, bytearray, memoryview)) or hasattr(value, "tobytes"):
        raise ValueError("webhook payload: bytes and arrays are never sent")


def enqueue(event_name: str, payload: dict[str, Any], *, now: datetime | None = None) -> list[str]:
    """Queue ``event_name`` for every active subscription that wants it, in the caller's transaction
    (added to the session, not committed). Returns the delivery ids queued."""
    if event_name not in EVENTS:
        raise ValueError(f"unknown webhook event {event_name!r}")
    _check_not_biometric(payload)
    subscriptions = [s for s in db.session.scalars(select(WebhookSubscription).where(WebhookSubscription.active))
                     if event_name in s.event_list]
    if not subscriptions:
        return []
    now = now or utcnow()
    queued = []
    for subscription in subscriptions:
        delivery_id = str(uuid.uuid4())
        body = json.dumps({"delivery_id": delivery_id, "event": event_name,
                           "occurred_at": now.isoformat(timespec="seconds"), "data": payload},
                          ensure_ascii=False, sort_keys=True, default=str)
        db.session.add(WebhookDelivery(delivery_id=delivery_id, subscription_id=subscription.id, event=event_name,
                                       body=body, status="pending", attempts=0, created_at=now, next_attempt_at=now,
                                       retry_until=now + retry_period()))
        queued.append(delivery_id)
    return queued


def deliveries(*, status: str | None = None, subscription_id: int | None = None, limit: int = 200
               ) -> list[WebhookDelivery]:
    """Newest first."""
    query = select(WebhookDelivery).order_by(WebhookDelivery.id.desc()).limit(limit)
    if status:
        if status not in STATUSES:
            raise InvalidInput(f"Unknown status {status!r}: use {', '.join(STATUSES)}.", code="bad_status")
        query = query.where(WebhookDelivery.status == status)
    if subscription_id is not None:
        query = query.where(WebhookDelivery.subscription_id == subscription_id)
    return list(db.session.scalars(query))


def send_again(delivery_pk: int, *, actor: audit.Actor | str | None = None) -> WebhookDelivery:
    """Queue a delivery again at once (same delivery id and body; a new retry period)."""
    delivery = db.session.get(WebhookDelivery, delivery_pk)
    if delivery is None:
        raise NotFound("No such webhook delivery.")
    audit.record(WEBHOOK_RESENT, audit.Target("webhook_delivery", delivery.id, delivery.delivery_id), actor=actor,
                 before={"status": delivery.status, "attempts": delivery.attempts})
    now = utcnow()
    delivery.status, delivery.next_attempt_at, delivery.retry_until = "pending", now, now + retry_period()
    db.session.commit()
    return delivery


# ---------------------------------------------------------------------------- signatures


def signature(secret: str, body: bytes, timestamp: int) -> str:
    """The ``X-Kiosk-Signature`` value for ``body`` sent at ``timestamp`` (unix seconds)."""
    digest = hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify_signature(secret: str, header: str | None, body: bytes, *, now: float | None = None,
                     tolerance_s: int = REPLAY_WINDOW_S) -> bool:
    """What a receiver checks: a ``v1`` HMAC of ``"<t>.<body>"`` that matches, and ``t`` within
    ``tolerance_s`` of its own clock (a captured request replayed later is refused)."""
    fields = dict(part.split("=", 1) for part in (header or "").split(",") if "=" in part)
    try:
        timestamp = int(fields.get("t", ""))
    except ValueError:
        return False
    if abs((time.time() if now is None else now) - timestamp) > tolerance_s:
        return False
    expected = signature(secret, body, timestamp).split("v1=", 1)[1]
    return hmac.compare_digest(expected, fields.get("v1", ""))


# ---------------------------------------------------------------------------- payloads


def attendance_payload(event) -> dict:  # noqa: ANN001 - an AttendanceEvent
    return {"event_id": event.id, "person_id": event.person_id, "person": event.person.name,
            "external_id": event.person.external_id, "kind": event.kind.value,
            "timestamp_utc": event.timestamp.isoformat(timespec="seconds"), "kiosk_id": event.kiosk_id}


def person_payload(person) -> dict:  # noqa: ANN001 - a Person
    return {"person_id": person.id, "name": person.name, "external_id": person.external_id}


def spoof_payload(spoof, person_name: str) -> dict:  # noqa: ANN001 - a SuspectedSpoof
    return {"spoof_id": spoof.id, "person_id": spoof.person_id, "person": person_name, "kiosk_id": spoof.kiosk_id,
            "timestamp_utc": spoof.timestamp.isoformat(timespec="seconds"), "policy": spoof.policy,
            "failed_checks": [c for c in (spoof.failed_cues or "").split(",") if c]}
