"""Webhooks through a real deployment (gunicorn behind nginx, the shipped configs): the receiver is
down for a minute and the whole app server is SIGKILLed meanwhile; once both are back, every event
(check-ins through the frame API, people created with an API token) reaches the receiver, signed,
once per delivery id, and the outbox says delivered."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import sys
import time
from pathlib import Path

from kiosk_stack import free_port, kiosk_cli, wait_until
from reliability_kit import Kiosk, describe, report, run_until

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from webhook_receiver import Receiver  # noqa: E402

from kiosk.services.webhooks import verify_signature  # noqa: E402

SECRET = "reliability-webhook-secret-0123"
DOWN_FOR_S = 60
FAST_RETRIES = {"KIOSK_WEBHOOKS": "1", "KIOSK_WEBHOOK_FIRST_RETRY_S": "1", "KIOSK_WEBHOOK_MAX_RETRY_S": "5",
                "KIOSK_WEBHOOK_TIMEOUT_S": "2", "KIOSK_WEBHOOK_POLL_S": "0.2", "KIOSK_DUPLICATE_WINDOW_MINUTES": "0"}


def _outbox(data_dir: Path) -> list[tuple[str, str, str, int]]:
    with contextlib.closing(sqlite3.connect(f"file:{data_dir / 'kiosk.sqlite3'}?mode=ro", uri=True, timeout=30)) as db:
        return db.execute("SELECT delivery_id, event, status, attempts FROM webhook_delivery ORDER BY id").fetchall()


def _check_in(stack, capture) -> None:
    answers = run_until(Kiosk(stack), capture, {"DONE", "UNKNOWN", "CANCELLED"})
    assert answers[-1].state == "DONE" and not answers[-1].body["duplicate"], describe(answers)



def _add_people(stack, token: str, names: list[str]) -> None:
    session = stack.session()
    for name in names:
        answer = session.post(stack.url + "/api/v1/people", json={"name": name},
                              headers={"Authorization": f"Bearer {token}"}, timeout=60)
        assert answer.status_code == 201, answer.text


def test_receiver_down_a_minute_and_the_app_sigkilled_nothing_lost(trained_site, make_stack, frames):
    port = free_port()  # the receiver's; nothing listens there for the first minute
    stack = make_stack(env=FAST_RETRIES)
    env = stack.gunicorn.env
    added = kiosk_cli(stack.data_dir, "webhooks", "add", f"http://127.0.0.1:{port}/hooks", "--events",
                      "check_in,check_out,person.created", "--secret", SECRET, "--json", env=env)
    assert added.returncode == 0, added.stderr
    created = kiosk_cli(stack.data_dir, "tokens", "create", "hr-sync", "--scope", "admin", "--json", env=env)
    assert created.returncode == 0, created.stderr
    token = json.loads(created.stdout)["token"]

    down_since = time.monotonic()
    _check_in(stack, frames["capture_obama"])
    _add_people(stack, token, [f"Before Kill {i}" for i in range(4)])
    wait_until(lambda: all(row[3] >= 1 for row in _outbox(stack.data_dir)), 30, 0.2, "a first (failed) attempt each")

    # The whole app server dies at once (master and worker), with deliveries pending and retrying.
    os.killpg(stack.gunicorn.proc.pid, signal.SIGKILL)
    stack.gunicorn.proc.wait(30)
    pending_at_kill = [row for row in _outbox(stack.data_dir) if row[2] == "pending"]
    time.sleep(3)
    stack.gunicorn.start(timeout_s=300)
    _add_people(stack, token, [f"After Restart {i}" for i in range(3)])
    _check_in(stack, frames["capture_obama"])

    time.sleep(max(0.0, DOWN_FOR_S - (time.monotonic() - down_since)))
    expected = _outbox(stack.data_dir)
    assert len(expected) == 2 + 4 + 3 and all(row[2] == "pending" for row in expected), expected
    with Receiver(port=port) as receiver:
        wait_until(lambda: {r.json["delivery_id"] for r in receiver.answered_ok()} >= {r[0] for r in expected},
                   120, 0.2, "every delivery after the receiver came back")
        time.sleep(3)  # anything sent twice would arrive now
        arrived = receiver.answered_ok()
    came_back_after_s = time.monotonic() - down_since

    ids = [r.json["delivery_id"] for r in arrived]
    assert sorted(ids) == sorted(row[0] for row in expected), "each delivery id exactly once"
    assert all(verify_signature(SECRET, r.headers["X-Kiosk-Signature"], r.body) for r in arrived)
    names = sorted(r.json["data"]["name"] for r in arrived if r.json["event"] == "person.created")
    assert names == sorted([f"Before Kill {i}" for i in range(4)] + [f"After Restart {i}" for i in range(3)])
    # Two visits of one person in one working day are an "in" and then an "out" (in/out is the default).
    punches = [r.json for r in arrived if r.json["event"] in ("check_in", "check_out")]
    assert sorted(p["event"] for p in punches) == ["check_in", "check_out"]
    assert {p["data"]["person"] for p in punches} == {"Barack Obama"}
    assert len({p["data"]["event_id"] for p in punches}) == 2
    final = _outbox(stack.data_dir)
    assert all(row[2] == "delivered" for row in final), final
    report("webhooks.outage", events=len(expected), pending_at_kill=len(pending_at_kill),
           delivered=len(set(ids)), duplicates=len(ids) - len(set(ids)),
           attempts=sum(row[3] for row in final), all_delivered_after_s=round(came_back_after_s, 1))
