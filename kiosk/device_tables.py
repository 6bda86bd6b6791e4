"""Tables of the kiosks paired to the site (``kiosk.services.devices``, ``kiosk.services.pairing``).
Kept beside ``kiosk.models`` (which imports this module, so the tables are part of the one
metadata) to keep each module one concern.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .extensions import db
from .models import UTCDateTime, utcnow


class KioskDevice(db.Model):
    """A paired kiosk (``kiosk.services.devices``): only these may use the frame API while
    pairing is required. ``name`` is a display name ("Front door"), unique by ``name_key``
    (case and width folded); ``token_hash`` is None once revoked (or while a re-pair waits)."""

    __tablename__ = "kiosk_device"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    name_key: Mapped[str] = mapped_column(String(128), unique=True, nullable=False)
    location: Mapped[str | None] = mapped_column(String(120))
    token_hash: Mapped[str | None] = mapped_column(String(128), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    last_seen: Mapped[datetime | None] = mapped_column(UTCDateTime)
    paired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The language this kiosk speaks ("de"); None follows the site's KIOSK_LANGUAGE.
    language: Mapped[str | None] = mapped_column(String(8))


class KioskPairing(db.Model):
    """A kiosk browser waiting to be paired: the short ``code`` its screen shows (kept in clear,
    it lives ten minutes and is worth nothing without an administrator's approval) and the hash
    of the secret in its ``kiosk_pairing`` cookie, which alone can collect the device token once
    an administrator approved the code (``device_id`` set)."""

    __tablename__ = "kiosk_pairing"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(16), unique=True, nullable=False)
    secret_hash: Mapped[str] = mapped_column(String(128), unique=True, nullable=False)
    address: Mapped[str] = mapped_column(String(64), nullable=False, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    device_id: Mapped[int | None] = mapped_column(ForeignKey("kiosk_device.id", ondelete="CASCADE"))
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    approved_by: Mapped[str | None] = mapped_column(String(64))

    device: Mapped[KioskDevice | None] = relationship()
