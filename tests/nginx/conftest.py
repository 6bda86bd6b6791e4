"""Fixtures for the Nginx tests: the shipped nginx.conf in front of gunicorn on loopback."""

from __future__ import annotations

from pathlib import Path

import pytest
from kiosk_stack import Nginx, Stack, nginx_available

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items):
    if nginx_available():
        return
    skip = pytest.mark.skip(reason="Debian's nginx (/usr/sbin/nginx) is not installed: scripts/system-deps.sh")
    for item in items:
        if "nginx" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def proxied(tmp_path_factory) -> Stack:
    """gunicorn (the shipped config, the real app plus a request probe) behind the shipped
    nginx.conf, with a fresh migrated data dir. Stopped at the end of the session."""
    if not nginx_available():
        pytest.skip("nginx is not installed")
    stack = Stack(tmp_path_factory.mktemp("proxied"), app_uri="probe_app:create_probe_app()", pythonpath=HERE)
    stack.start()
    yield stack
    stack.stop()


@pytest.fixture(scope="session")
def nginx_without_upstream(tmp_path_factory) -> Nginx:
    """The same nginx.conf in front of a port where nothing listens: whatever still works
    is served by Nginx itself."""
    if not nginx_available():
        pytest.skip("nginx is not installed")
    from kiosk_stack import free_port

    nginx = Nginx(tmp_path_factory.mktemp("orphan-nginx"), f"127.0.0.1:{free_port()}").start()
    yield nginx
    nginx.stop()
