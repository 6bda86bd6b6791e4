"""Tables of the integrations other systems use: API tokens for server-to-server scripts and
webhook subscriptions with their outbox of deliveries (``kiosk.services.api_tokens``,
``kiosk.services.webhooks``). Kept beside ``kiosk.models`` (which imports this module, so the
tables are part of the one metadata) to keep each module one concern.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .extensions import db
from .models import UTCDateTime, utcnow


class ApiToken(db.Model):
    """A named bearer token for ``/api/v1``. Only the SHA-256 of the secret is kept (it is shown
    once); ``token_hash`` is None once revoked, so the next request with it is refused on every
    host at once. ``scopes`` is a space-separated list (``read:attendance admin``)."""

    __tablename__ = "api_token"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    scopes: Mapped[str] = mapped_column(String(200), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(96), nullable=False)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    @property
    def scope_list(self) -> list[str]:
        return self.scopes.split()


class WebhookSubscription(db.Model):
    """A URL told about some events. The secret signs every delivery, so it is kept as given
    (it is never shown again after it was set)."""

    __tablename__ = "webhook_subscription"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    url: Mapped[str] = mapped_column(String(2000), nullable=False)
    events: Mapped[str] = mapped_column(String(300), nullable=False)  # space-separated event names
    secret: Mapped[str] = mapped_column(String(256), nullable=False)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(96), nullable=False)

    @property
    def event_list(self) -> list[str]:
        return self.events.split()


class WebhookDelivery(db.Model):
    """The outbox: one row per event and subscription, written in the transaction that records
    the event. ``delivery_id`` stays the same through every retry (the receiver de-duplicates on
    it). A sender claims a row by moving ``next_attempt_at`` past the time its attempt may take
    (a lease): a sender killed mid-attempt leaves the row to be tried again when the lease ends."""

    __tablename__ = "webhook_delivery"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    delivery_id: Mapped[str] = mapped_column(String(36), unique=True, nullable=False)
    subscription_id: Mapped[int] = mapped_column(
        ForeignKey("webhook_subscription.id", ondelete="CASCADE"), nullable=False, index=True
    )
    event: Mapped[str] = mapped_column(String(32), nullable=False)
    body: Mapped[str] = mapped_column(Text, nullable=False)  # the exact JSON sent (and signed)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="pending")  # pending|delivered|failed
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    retry_until: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)  # then: failed
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_response_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(String(300))

    subscription: Mapped[WebhookSubscription] = relationship()

    __table_args__ = (Index("ix_webhook_delivery_due", "status", "next_attempt_at"),)
