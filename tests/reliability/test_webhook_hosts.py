"""Webhooks from two app hosts on one PostgreSQL database (behind one nginx, the shipped configs):
both hosts' sender threads read the same outbox and every delivery reaches the receiver exactly once
(SELECT ... FOR UPDATE SKIP LOCKED claims). One host SIGKILLed while sending loses nothing: the other
sends the rest, and what the dead host had sent without recording it comes again with the same
delivery id (at least once; the receiver de-duplicates)."""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from pathlib import Path

from kiosk_stack import kiosk_cli, wait_until
from reliability_kit import report

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from webhook_receiver import Receiver  # noqa: E402

SECRET = "two-hosts-webhook-secret-0001"
EVENTS = 40
FAST = {"KIOSK_WEBHOOKS": "1", "KIOSK_WEBHOOK_POLL_S": "0.1", "KIOSK_WEBHOOK_TIMEOUT_S": "2",
        "KIOSK_WEBHOOK_FIRST_RETRY_S": "1", "KIOSK_WEBHOOK_MAX_RETRY_S": "2"}


def _add_people(cluster, token: str, names: list[str]) -> None:
    session = cluster.session()
    for name in names:
        answer = session.post(cluster.url + "/api/v1/people", json={"name": name},
                              headers={"Authorization": f"Bearer {token}"}, timeout=60)
        assert answer.status_code == 201, answer.text


def test_two_hosts_send_each_delivery_once_and_a_killed_host_loses_nothing(make_cluster):
    cluster = make_cluster(hosts=2, env=FAST)
    first = cluster.hosts[0]
    with Receiver(delay_s=0.05) as receiver:
        added = kiosk_cli(first.data_dir, "webhooks", "add", receiver.url, "--events", "person.created",
                          "--secret", SECRET, env=first.env)
        assert added.returncode == 0, added.stderr
        created = kiosk_cli(first.data_dir, "tokens", "create", "hosts", "--scope", "admin", "--json", env=first.env)
        token = json.loads(created.stdout)["token"]

        # Both hosts up: both senders poll the one outbox; each delivery id arrives once.
        started = time.monotonic()
        _add_people(cluster, token, [f"Both Up {n}" for n in range(EVENTS)])
        wait_until(lambda: len(receiver.answered_ok()) >= EVENTS, 120, 0.2, "every delivery")
        both_up_s = time.monotonic() - started
        time.sleep(3)  # a second copy of anything would arrive now
        counts = Counter(r.json["delivery_id"] for r in receiver.answered_ok())
        assert len(counts) == EVENTS and max(counts.values()) == 1, counts.most_common(3)

        # One host SIGKILLed while it sends: the other sends the rest once the dead host's claims
        # expire; what the dead one had sent without recording it comes again with its own id.
        _add_people(cluster, token, [f"One Killed {n}" for n in range(EVENTS)])
        cluster.kill_host(0)
        wait_until(lambda: len({r.json["delivery_id"] for r in receiver.answered_ok()}) >= 2 * EVENTS, 180, 0.2,
                   "every delivery after the kill")
        arrived = receiver.answered_ok()
    after_kill = Counter(r.json["delivery_id"] for r in arrived if r.json["data"]["name"].startswith("One Killed"))
    names = sorted({r.json["data"]["name"] for r in arrived})
    resent = sum(after_kill.values()) - len(after_kill)
    report("webhooks.two_hosts", events=2 * EVENTS, both_up_duplicates=0, both_up_seconds=round(both_up_s, 1),
           after_kill_delivered=len(after_kill), after_kill_sent_again_same_id=resent)
    assert names == sorted([f"Both Up {n}" for n in range(EVENTS)] + [f"One Killed {n}" for n in range(EVENTS)])
    assert len(after_kill) == EVENTS
    assert resent <= 20, after_kill.most_common(3)  # at most one claim batch of the killed host
