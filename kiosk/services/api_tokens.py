"""API tokens: named bearer secrets with scopes that other systems (payroll, HR scripts) use on
``/api/v1`` instead of an administrator's browser session.

A token is ``kt_`` + 256 random bits, shown once; only its SHA-256 is stored (a slow password hash
buys nothing against a 256-bit secret, and a digest finds the token with one indexed lookup).
Revoking clears the hash, so the next request with it is refused on every worker and host.
``last_used_at`` is written at most once a minute per token. Every creation and revocation is
audit-logged (never the secret).

Scopes (:data:`SCOPES`): ``read:attendance``, ``read:people``, ``write:attendance`` (changing or
deleting attendance records, punches), ``admin`` (everything an administrator's session may do on
``/api/v1``, and every other scope).

Errors: ``InvalidInput`` codes ``unknown_scope``, ``missing_scope``, ``invalid_token_name``,
``missing_token_name``, ``bad_expiry``; ``Conflict`` ``token_name_taken``; ``NotFound``;
:class:`TokenRefused` (401) and :class:`ScopeRefused` (403) when a request is checked.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import select

from ..errors import Conflict, InvalidInput, KioskError, NotFound
from ..extensions import db
from ..integration_tables import ApiToken
from ..models import utcnow
from ..names import clean_text
from . import audit
from .audit_actions import API_TOKEN_CREATED, API_TOKEN_REVOKED
from .choices import chosen_names

SCOPES = ("read:attendance", "read:people", "write:attendance", "admin")
ADMIN_SCOPE = "admin"
TOKEN_PREFIX = "kt_"
MAX_TOKEN_LENGTH = 256  # ours are 46 characters; anything longer is refused unread
MAX_NAME_LENGTH = 64
LAST_USED_RESOLUTION = timedelta(seconds=60)


class TokenRefused(KioskError):
    """No valid token: missing, unknown, revoked or expired (401)."""

    status = 401
    code = "invalid_token"


class ScopeRefused(KioskError):
    """A valid token without the scope the request needs (403)."""

    status = 403
    code = "insufficient_scope"


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def clean_scopes(scopes: object) -> list[str]:
    """The scopes as given (a list, or text separated by spaces or commas), checked and de-duplicated."""
    return chosen_names(scopes, SCOPES, noun="scope", unknown_code="unknown_scope", missing_code="missing_scope",
                        missing_message=f"A token needs at least one scope ({', '.join(SCOPES)}).")


def clean_name(value: object) -> str:
    name = clean_text(value, "A token name", max_length=MAX_NAME_LENGTH, code="invalid_token_name",
                      too_long_code="invalid_token_name")
    if not name:
        raise InvalidInput('A token needs a name (for example "payroll").', code="missing_token_name")
    return name


def expiry_after(days: object) -> datetime | None:
    """``days`` from now (None or empty: never expires); 1..3650 days."""
    if days in (None, ""):
        return None
    try:
        count = int(str(days).strip())
    except ValueError:
        raise InvalidInput("The expiry is a whole number of days.", code="bad_expiry") from None
    if not 1 <= count <= 3650:
        raise InvalidInput("The expiry is between 1 and 3650 days.", code="bad_expiry")
    return utcnow() + timedelta(days=count)


def _target(token: ApiToken) -> audit.Target:
    return audit.Target("api_token", token.id, token.name)


def create_token(name: object, scopes: object, *, expires_at: datetime | None = None,
                 actor: audit.Actor | str | None = None) -> tuple[ApiToken, str]:
    """A new token and its secret (the only time it exists in clear). A revoked token's name may be
    used again (its row goes; the audit log keeps its history)."""
    name, scope_list = clean_name(name), clean_scopes(scopes)
    if expires_at is not None and expires_at <= utcnow():
        raise InvalidInput("The expiry must be in the future.", code="bad_expiry")
    existing = db.session.scalar(select(ApiToken).where(ApiToken.name == name))
    if existing is not None:
        if existing.token_hash is not None:
            raise Conflict(f"A token named {name!r} already exists: revoke it first or choose another name.",
                           code="token_name_taken", name=name)
        db.session.delete(existing)
        db.session.flush()
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(name=name, token_hash=hash_secret(secret), scopes=" ".join(scope_list),
                     created_by=str(actor or audit.SYSTEM)[:96], expires_at=expires_at)
    db.session.add(token)
    db.session.flush()
    audit.record(API_TOKEN_CREATED, _target(token), actor=actor, after={
        "name": name, "scopes": scope_list,
        "expires_at": expires_at.isoformat(timespec="seconds") if expires_at else None})
    db.session.commit()
    return token, secret


def get_token(name: str) -> ApiToken:
    token = db.session.scalar(select(ApiToken).where(ApiToken.name == " ".join(str(name).split())))
    if token is None:
        raise NotFound(f"No API token named {name!r}.")
    return token


def revoke_token(name: str, *, actor: audit.Actor | str | None = None) -> ApiToken:
    """Refuse the token from its next request on. Revoking a revoked token changes nothing."""
    token = get_token(name)
    if token.token_hash is None:
        return token
    token.token_hash, token.revoked_at = None, utcnow()
    audit.record(API_TOKEN_REVOKED, _target(token), actor=actor, before={"scopes": token.scope_list})
    db.session.commit()
    return token


def list_tokens() -> list[ApiToken]:
    return list(db.session.scalars(select(ApiToken).order_by(ApiToken.name)))


def state(token: ApiToken, now: datetime | None = None) -> str:
    """``active``, ``expired`` or ``revoked``."""
    if token.token_hash is None:
        return "revoked"
    if token.expires_at is not None and token.expires_at <= (now or utcnow()):
        return "expired"
    return "active"


def as_dict(token: ApiToken) -> dict:
    def when(value: datetime | None) -> str | None:
        return value.isoformat(timespec="seconds") if value else None

    return {"name": token.name, "scopes": token.scope_list, "state": state(token),
            "created_at": when(token.created_at), "created_by": token.created_by,
            "expires_at": when(token.expires_at), "revoked_at": when(token.revoked_at),
            "last_used_at": when(token.last_used_at)}


def authenticate(secret: str | None, scope: str) -> ApiToken:
    """The active token this secret belongs to, checked for ``scope``; ``last_used_at`` kept (only
    for a request let through: a refused one writes nothing). Raises TokenRefused, ScopeRefused."""
    if not secret or len(secret) > MAX_TOKEN_LENGTH:
        raise TokenRefused("Send a valid API token: Authorization: Bearer <token>.")
    token = db.session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_secret(secret)))
    if token is None:
        raise TokenRefused("This API token is not valid (unknown or revoked).")
    now = utcnow()
    if state(token, now) == "expired":
        raise TokenRefused("This API token has expired.")
    require_scope(token, scope)
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION:
        token.last_used_at = now
        db.session.commit()
    return token


def require_scope(token: ApiToken, scope: str) -> None:
    """Raises ScopeRefused unless the token has ``scope`` (or ``admin``)."""
    granted = token.scope_list
    if scope not in granted and ADMIN_SCOPE not in granted:
        raise ScopeRefused(f"This token lacks the scope {scope!r} (it has: {', '.join(granted)}).",
                           required_scope=scope)
