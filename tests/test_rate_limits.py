"""Request rate limits (kiosk.services.throttle): per paired kiosk and per client address on the
kiosk API, per address on sign-in, counted in the database so that app hosts share them.

* refusals: 429 ``rate_limited`` with Retry-After and a message, per device and per address, on
  SQLite and on a real PostgreSQL server; a refused request writes nothing;
* a paired kiosk sending real frames at twice the camera's rate, with its state polls, is never
  refused under the default limits;
* two app hosts on one PostgreSQL database count against the same limits;
* the flood: one paired kiosk's frames back to back, with the limits off (every frame runs the
  models) and on (the rest is refused before it is read);
* counting never waits more than a moment for a locked SQLite database.
"""

from __future__ import annotations

import math
import re
import sqlite3
import time
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import pytest
from factories import ADMIN_PASSWORD, admin
from sqlalchemy import func, select

from kiosk import create_app
from kiosk.benchmarks.checkin import kiosk_frame, live
from kiosk.config import ConfigError, TestingConfig
from kiosk.extensions import db
from kiosk.models import RequestThrottle

STATE = "/api/v1/kiosk/state"
FRAMES = "/api/v1/kiosk/frames"
FACES = Path(__file__).parent / "data" / "faces"


def fresh_window(window_s: int, need_s: float) -> None:
    """Wait, if needed, until the current fixed window has ``need_s`` left, so that a test's
    requests all fall in one window."""
    left = window_s - time.time() % window_s
    if left < need_s:
        time.sleep(left + 0.05)


def jpeg(image: np.ndarray) -> bytes:
    ok, buffer = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 90])
    assert ok
    return buffer.tobytes()


def from_address(app, address: str, *, paired: bool = False):
    client = app.test_client(paired=paired)
    client.environ_base["REMOTE_ADDR"] = address
    return client


def assert_rate_limited(response, whose: str) -> None:
    assert response.status_code == 429, response.get_data(as_text=True)
    body = response.get_json()
    assert body["error"] == "rate_limited"
    assert f"Too many requests from {whose}" in body["message"] and "Try again in" in body["message"]
    assert 1 <= int(response.headers["Retry-After"]) <= body["window_s"]
    assert body["retry_after"] == int(response.headers["Retry-After"])


def test_rate_settings_are_checked_at_start(tmp_path, monkeypatch):
    for name, value, said in (("KIOSK_RATE_PER_DEVICE", "0", "at least 1"), ("KIOSK_RATE_PER_ADDRESS", "many",
                                                                              "whole number"),
                              ("KIOSK_RATE_SYNC_SECONDS", "30", "less than KIOSK_RATE_WINDOW_SECONDS")):
        monkeypatch.setenv(name, value)
        with pytest.raises(ConfigError, match=name) as refused:
            TestingConfig(tmp_path / name)
        assert said in str(refused.value)
        monkeypatch.delenv(name)


@pytest.mark.both_databases
def test_a_paired_kiosk_is_limited_per_device_and_others_are_not(app):
    app.config.update(KIOSK_RATE_PER_DEVICE=20, KIOSK_RATE_WINDOW_SECONDS=60, KIOSK_RATE_SYNC_SECONDS=0)
    fresh_window(60, 20)
    kiosk, other = app.test_client(), app.test_client()
    statuses = Counter(kiosk.get(STATE).status_code for _ in range(20))
    assert statuses == {200: 20}
    refused = kiosk.get(STATE)
    assert_rate_limited(refused, "this kiosk")
    assert refused.get_json()["limit"] == 20
    assert kiosk.post("/api/v1/kiosk/reset").status_code == 429  # every kiosk endpoint counts
    assert other.get(STATE).status_code == 200  # another kiosk, the same address: its own count
    # The site's count is in the database: 20 answered, the refused ones not counted.
    assert db.session.scalar(select(func.max(RequestThrottle.hits))
                             .where(RequestThrottle.scope == "kiosk_device")) == 20


@pytest.mark.both_databases
def test_traffic_that_is_not_a_paired_kiosk_is_limited_per_address(app):
    app.config.update(KIOSK_RATE_PER_ADDRESS=15, KIOSK_RATE_WINDOW_SECONDS=60, KIOSK_RATE_SYNC_SECONDS=0)
    fresh_window(60, 20)
    stranger = from_address(app, "203.0.113.7")
    answers = [stranger.get(STATE).status_code for _ in range(10)]
    answers += [stranger.post("/api/v1/kiosk/pairing").status_code for _ in range(5)]  # pairing counts too
    assert answers == [401] * 10 + [200] * 5
    assert_rate_limited(stranger.post(FRAMES, data=b"x", content_type="image/jpeg"), "this address")
    assert_rate_limited(stranger.get("/api/v1/kiosk/pairing"), "this address")
    # A paired kiosk behind the same address is counted as itself, never refused for it.
    paired = from_address(app, "203.0.113.7", paired=True)
    assert [paired.get(STATE).status_code for _ in range(20)] == [200] * 20
    assert from_address(app, "198.51.100.2").get(STATE).status_code == 401  # another address


@pytest.mark.both_databases
def test_sign_in_is_limited_per_address(app):
    app.config.update(KIOSK_RATE_SIGN_INS_PER_ADDRESS=10, KIOSK_RATE_WINDOW_SECONDS=60, KIOSK_RATE_SYNC_SECONDS=0,
                      KIOSK_LOGIN_MAX_FAILURES=100, KIOSK_LOGIN_MAX_FAILURES_PER_ADDRESS=100)
    admin()
    fresh_window(60, 20)

    def attempt(client, password):
        token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/auth/login").text).group(1)
        return client.post("/auth/login", data={"username": "admin", "password": password, "csrf_token": token})

    guesser = from_address(app, "203.0.113.66")
    assert [attempt(guesser, f"guess {i}").status_code for i in range(10)] == [401] * 10
    refused = attempt(guesser, ADMIN_PASSWORD)  # the right password too: the address is over its rate
    assert refused.status_code == 429
    assert "Too many requests from this address" in refused.text
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert attempt(from_address(app, "192.0.2.10"), ADMIN_PASSWORD).status_code == 303


def test_two_app_hosts_on_one_postgresql_share_the_limits(postgres_database, tmp_path):
    """Two apps with their own data dirs and their own processes' counters, one database: a kiosk
    that moves between them (a load balancer) has one count."""
    settings = dict(KIOSK_RATE_PER_DEVICE=30, KIOSK_RATE_PER_ADDRESS=12, KIOSK_RATE_WINDOW_SECONDS=60)
    hosts = []
    for name in ("host-a", "host-b"):
        host = create_app(TestingConfig(tmp_path / name, database_url=postgres_database))
        host.config.update(settings, KIOSK_RATE_SYNC_SECONDS=0)
        hosts.append(host)
    a, b = hosts
    with a.app_context():
        from kiosk.services.devices import register_device

        _, token = register_device("Front door")
    fresh_window(60, 20)

    def get(host, *, token=None, address="192.0.2.50"):
        with host.test_client() as client:
            client.environ_base["REMOTE_ADDR"] = address
            headers = {"X-Kiosk-Token": token} if token else {}
            return client.get(STATE, headers=headers)

    assert [get(a, token=token).status_code for _ in range(20)] == [200] * 20
    assert [get(b, token=token).status_code for _ in range(10)] == [200] * 10
    assert_rate_limited(get(b, token=token), "this kiosk")
    assert get(a, token=token).status_code == 429
    # Unpaired traffic from one address, spread over both hosts: one count too.
    assert [get(host).status_code for host in (a, b) * 6] == [401] * 12
    assert get(a).status_code == 429 and get(b).status_code == 429
    for host in hosts:
        with host.app_context():
            db.engine.dispose()


def test_a_paired_kiosk_at_twice_the_camera_rate_is_never_refused(trained_app):
    """Real frames of a person (the models identify, vote, wait for a gesture) at up to 30 a
    second, one in flight as the page sends them, a state poll every second, for two windows
    and a half under the default limits."""
    config = trained_app.config
    assert (config["KIOSK_RATE_LIMITS"], config["KIOSK_RATE_PER_DEVICE"], config["KIOSK_RATE_WINDOW_SECONDS"]) == (
        True, 600, 10)
    kiosk = trained_app.test_client()
    frames = [jpeg(frame) for i in (4, 5) for frame in live(kiosk_frame(FACES / "fr_obama" / f"{i}.jpg")) * 3]
    frames += [jpeg(np.full((480, 640, 3), 90, np.uint8))] * 6  # nobody there for a moment
    statuses, per_window = Counter(), Counter()
    started = last_poll = time.monotonic()
    sent = 0
    while time.monotonic() - started < 25:
        before = time.monotonic()
        statuses[kiosk.post(FRAMES, data=frames[sent % len(frames)], content_type="image/jpeg").status_code] += 1
        per_window[math.floor(time.time() / 10)] += 1
        sent += 1
        if time.monotonic() - last_poll >= 1:
            statuses[kiosk.get(STATE).status_code] += 1
            per_window[math.floor(time.time() / 10)] += 1
            last_poll = time.monotonic()
        time.sleep(max(0.0, 1 / 30 - (time.monotonic() - before)))
    print(f"\ncamera pace: {sent} frames in 25 s ({sent / 25:.1f}/s), most requests in one window "
          f"{max(per_window.values())} of 600, answers {dict(statuses)}")
    assert set(statuses) == {200}, statuses


def test_a_frame_flood_is_refused_before_it_costs_the_models(trained_app):
    """One paired kiosk's frames back to back: limits off, every frame is decoded and goes through
    the check-in; limits on (30 a minute here), the rest is refused before its body is read."""
    frame = jpeg(kiosk_frame(FACES / "fr_obama" / "4.jpg"))
    figures = {}
    for limits in (False, True):
        trained_app.config.update(KIOSK_RATE_LIMITS=limits, KIOSK_RATE_PER_DEVICE=30, KIOSK_RATE_WINDOW_SECONDS=60)
        fresh_window(60, 40)
        flooder = trained_app.test_client()
        statuses, answered_ms, refused_ms = Counter(), [], []
        started = time.monotonic()
        for _ in range(90):
            before = time.perf_counter()
            status = flooder.post(FRAMES, data=frame, content_type="image/jpeg").status_code
            (answered_ms if status == 200 else refused_ms).append(1000 * (time.perf_counter() - before))
            statuses[status] += 1
        figures[limits] = dict(statuses=dict(statuses), total_s=round(time.monotonic() - started, 2),
                               answered_median_ms=round(float(np.median(answered_ms)), 1),
                               refused_median_ms=round(float(np.median(refused_ms)), 2) if refused_ms else None)
    print(f"\nflood of 90 frames, limits off: {figures[False]}\nflood of 90 frames, limits on: {figures[True]}")
    assert figures[False]["statuses"] == {200: 90}
    assert figures[True]["statuses"] == {200: 30, 429: 60}
    assert figures[True]["refused_median_ms"] < figures[True]["answered_median_ms"] / 2


def test_counting_never_waits_long_for_a_locked_sqlite_database(app, data_dir):
    """Another process holds SQLite's write lock: the count's write gives up after a moment and
    the kiosk is answered; its requests stay counted and reach the database once the lock is gone."""
    app.config.update(KIOSK_RATE_SYNC_SECONDS=0, KIOSK_RATE_WINDOW_SECONDS=60)
    fresh_window(60, 20)
    kiosk = app.test_client()
    assert kiosk.get(STATE).status_code == 200  # paired and seen (a first "last seen" is a write)
    holder = sqlite3.connect(data_dir / "kiosk.sqlite3", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        times = []
        for _ in range(5):
            before = time.monotonic()
            assert kiosk.get(STATE).status_code == 200
            times.append(time.monotonic() - before)
        assert max(times) < 1.0, times
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert kiosk.get(STATE).status_code == 200
    db.session.commit()
    assert db.session.scalar(select(func.max(RequestThrottle.hits)).where(RequestThrottle.scope == "kiosk_device")) == 7
