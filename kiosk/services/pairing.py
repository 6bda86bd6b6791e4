"""Pairing a kiosk without typing a token: the kiosk shows a short code, an administrator approves it.

1. An unpaired kiosk page calls :func:`start`: it gets a pairing (a random secret, kept by the
   web layer in an HttpOnly cookie, and a 6-character code from an alphabet without look-alikes,
   valid :data:`CODE_TTL`). Calling again with the same secret returns the same pairing while it
   lives: one code per pending kiosk.
2. An administrator types the code on the console's Devices page (or ``kiosk devices pair CODE``):
   :func:`approve` attaches a device to it (a new one with the name given, or an existing one
   being re-paired, whose old token stops working at once).
3. The kiosk polls :func:`collect` with its secret: once approved, the device gets a fresh token
   (returned once; only its hash is stored) and the pairing row is deleted.

Everything is in the database (``kiosk_pairing``), so every gunicorn worker and app host agrees.
The code is stored in clear (it lives ten minutes and is worth nothing without an approval; the
Devices page lists pending codes); the secret only as its SHA-256. Pending pairings are capped
per address and overall, so a script cannot bury the real kiosk's code among thousands.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError

from ..errors import InvalidInput, KioskError, NotFound
from ..extensions import db
from ..models import KioskDevice, KioskPairing, utcnow
from . import audit, devices
from .audit_actions import DEVICE_PAIRED

CODE_ALPHABET = "ACDEFHJKMNPRTUVWXY34679"  # no 0/O, 1/I/L, 2/Z, 5/S, 8/B, G/6
CODE_LENGTH = 6
CODE_TTL = timedelta(minutes=10)
COLLECT_TTL = timedelta(minutes=10)  # after approval, the kiosk has this long to collect its token
MAX_PENDING_PER_ADDRESS = 3
MAX_PENDING = 50


class TooManyPairings(KioskError):
    status = 429
    code = "too_many_pairings"


@dataclass
class Collected:
    """What a kiosk's poll finds: ``status`` pending | paired | expired."""

    status: str
    pairing: KioskPairing | None = None
    device: KioskDevice | None = None
    token: str | None = None


def normalise_code(code: object) -> str:
    """What the admin typed, as stored: upper case, without spaces or dashes."""
    if not isinstance(code, str):
        raise InvalidInput("Type the code the kiosk shows.", code="missing_code")
    return "".join(ch for ch in code.upper() if ch not in " -\t")


def format_code(code: str) -> str:
    """How screens show a code: ``ACD-EFH``."""
    half = len(code) // 2
    return f"{code[:half]}-{code[half:]}"


def _new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def purge_expired() -> None:
    db.session.execute(delete(KioskPairing).where(KioskPairing.expires_at < utcnow()))


def _by_secret(secret: str | None) -> KioskPairing | None:
    if not secret or len(secret) > devices.MAX_TOKEN_LENGTH:
        return None
    pairing = db.session.scalar(select(KioskPairing).where(KioskPairing.secret_hash == devices.hash_token(secret)))
    if pairing is None or pairing.expires_at < utcnow():
        return None
    return pairing


def start(secret: str | None, address: str) -> tuple[str, KioskPairing]:
    """The kiosk's pending pairing (the same one while it lives) or a new one; returns the
    secret the kiosk keeps (unchanged, or new) and the pairing. Raises TooManyPairings."""
    pairing = _by_secret(secret)
    if pairing is not None:
        return secret, pairing
    purge_expired()
    address = (address or "")[:64]
    pending = select(func.count()).select_from(KioskPairing)
    if db.session.scalar(pending.where(KioskPairing.address == address)) >= MAX_PENDING_PER_ADDRESS:
        db.session.commit()
        raise TooManyPairings("Too many kiosks from this address are waiting to be paired; try again in a few minutes.")
    if db.session.scalar(pending) >= MAX_PENDING:
        db.session.commit()
        raise TooManyPairings("Too many kiosks are waiting to be paired; try again in a few minutes.")
    secret = devices.new_token()
    for _ in range(5):
        pairing = KioskPairing(code=_new_code(), secret_hash=devices.hash_token(secret), address=address,
                               expires_at=utcnow() + CODE_TTL)
        db.session.add(pairing)
        try:
            db.session.commit()
            return secret, pairing
        except IntegrityError:  # the code is taken by another pending kiosk (1 in ~3 million per pair)
            db.session.rollback()
    raise KioskError("Could not make a pairing code; try again.", status=503, code="pairing_unavailable")


def collect(secret: str | None) -> Collected:
    """A kiosk's poll: still pending, paired (the device and its new token, returned once), or
    expired (the kiosk starts again)."""
    pairing = _by_secret(secret)
    if pairing is None:
        return Collected("expired")
    if pairing.device_id is None:
        return Collected("pending", pairing=pairing)
    device = pairing.device
    if device is None:  # removed after the approval
        db.session.delete(pairing)
        db.session.commit()
        return Collected("expired")
    token = devices.issue_token(device)
    db.session.delete(pairing)
    db.session.commit()
    return Collected("paired", device=device, token=token)


def approve(code: object, name: str | None = None, location: str | None = None, *, approved_by: str,
            device_id: int | None = None, actor: audit.Actor | str | None = None) -> KioskDevice:
    """Attach a device to the kiosk showing ``code``: a new one named ``name``, or the existing
    ``device_id`` (re-pair: its old token stops working now; ``name``/``location`` rename it when
    given). Raises NotFound (no kiosk waits with that code), InvalidInput, Conflict (name taken)."""
    wanted = normalise_code(code)
    pairing = db.session.scalar(select(KioskPairing).where(KioskPairing.code == wanted))
    if pairing is None or pairing.expires_at < utcnow() or pairing.device_id is not None:
        raise NotFound(
            f"No kiosk is waiting with the code {code!r}. Check the code on the kiosk screen "
            f"(codes last {int(CODE_TTL.total_seconds() // 60)} minutes, then the kiosk shows a new one).",
            code="unknown_pairing_code",
        )
    if device_id is not None:
        device = devices.get_device(device_id)
        if name:
            devices._check_name_free(devices.clean_device_name(name), except_id=device.id)
            device.name = devices.clean_device_name(name)
            device.name_key = devices.name_key(device.name)
        if location is not None:
            device.location = devices.clean_location(location)
        device.token_hash = None  # the kiosk collects a new one; the old one ends now
        cancel_for_device(device.id)
    else:
        device = devices.new_device(name, location)
        db.session.flush()
    pairing.device_id = device.id
    pairing.approved_at, pairing.approved_by = utcnow(), approved_by
    pairing.expires_at = utcnow() + COLLECT_TTL
    # Every pairing is audit-logged, in the same transaction (never the code's secret or a token).
    audit.record(DEVICE_PAIRED, devices._target(device), actor=actor or approved_by,
                 after={"name": device.name, "location": device.location, "re_paired": device_id is not None})
    db.session.commit()
    return device


def cancel_for_device(device_id: int) -> None:
    """Approvals waiting to be collected for this device no longer count (revoke, re-pair)."""
    db.session.execute(delete(KioskPairing).where(KioskPairing.device_id == device_id))


def pending() -> list[KioskPairing]:
    """Pairings no administrator has approved yet, oldest first (for the Devices page)."""
    now = utcnow()
    return list(db.session.scalars(
        select(KioskPairing).where(KioskPairing.device_id.is_(None), KioskPairing.expires_at >= now)
        .order_by(KioskPairing.created_at)
    ))


def awaiting_collection() -> set[int]:
    """Ids of devices approved whose kiosk has not collected its token yet."""
    now = utcnow()
    return set(db.session.scalars(
        select(KioskPairing.device_id).where(KioskPairing.device_id.is_not(None), KioskPairing.expires_at >= now)
    ))
