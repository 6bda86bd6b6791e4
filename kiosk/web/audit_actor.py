"""Who the audit log names for a request: the signed-in admin and the client's address
(the browser's behind Nginx when ``KIOSK_BEHIND_PROXY=1``). Services take it as an argument."""

from __future__ import annotations

from flask import g, request
from flask_login import current_user

from ..services.audit import Actor


def admin_actor() -> Actor:
    """The admin signed in, or ``token:<name>`` for a request made with an API token."""
    token_name = g.get("api_token")
    if token_name:
        return Actor(f"token:{token_name}", request.remote_addr)
    return Actor(current_user.username, request.remote_addr)
