"""The production app plus one read-only test route that shows how the app sees a request
behind Nginx (scheme, host, client address). Used only by tests/nginx/ to prove that the
forwarded headers arrive and are honoured (ProxyFix with KIOSK_BEHIND_PROXY=1)."""

from __future__ import annotations

from flask import jsonify, request

from kiosk import create_app


def create_probe_app():
    app = create_app()

    @app.get("/_probe/request")
    def probe_request():
        return jsonify(
            scheme=request.scheme,
            is_secure=request.is_secure,
            host=request.host,
            remote_addr=request.remote_addr,
            url_root=request.url_root,
            forwarded_for=request.headers.get("X-Forwarded-For"),
        )

    return app
