"""Faults during check-ins, through Nginx:

- the gunicorn worker is SIGKILLed while it handles the frame that records a check-in, at
  moments spread over that request (before, while and after the photo files and the row are
  written). Whatever the moment: no event without its photos, no photo without its event once
  the replacement worker is up, and the next check-in works;
- another process holds the database's write lock for a few seconds while a check-in is
  recorded: the check-in waits (SQLite's busy timeout) and is recorded, nothing is lost, and
  other kiosks keep getting answers meanwhile.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import threading
import time

from kiosk_stack import wait_until
from reliability_kit import (
    Kiosk,
    capture_about_to_complete,
    describe,
    photo_consistency,
    report,
    run_until,
    wait_for_the_hold,
)

LOCK_SECONDS = 4.0


def _new_files(data_dir, before: set[str]) -> set[str]:
    return _photo_files(data_dir) - before


# When to kill the worker during the frame that records a check-in: at fractions of that
# frame's usual duration, or the moment the server's files show up in photos/ (a temp file
# being written, the first photo renamed into place, both photos: the window before the
# row is committed).
KILL_TRIGGERS = [
    ("time", 0.1), ("time", 0.5), ("time", 0.9),
    ("temp file appears", lambda new: any(name.startswith(".tmp-") for name in new)),
    ("first photo appears", lambda new: any(not name.startswith(".") for name in new)),
    ("both photos appear", lambda new: len([name for name in new if not name.startswith(".")]) >= 2),
    ("time", 1.5),
]


def _ready_to_check_in(kiosk: Kiosk, capture_frames: list[bytes]) -> list:
    """Identified and holding the capture gesture: the next frame (sent now) records the check-in."""
    answers = run_until(kiosk, capture_frames, {"DONE", "UNKNOWN", "CANCELLED"},
                        stop=capture_about_to_complete)
    assert answers and capture_about_to_complete(answers[-1]), describe(answers)
    wait_for_the_hold(answers[-1])
    return answers


def _check_in(kiosk: Kiosk, capture_frames: list[bytes]):
    answers = run_until(kiosk, capture_frames, {"DONE", "UNKNOWN", "CANCELLED"})
    assert answers[-1].state == "DONE" and not answers[-1].body["duplicate"], describe(answers)
    return answers[-1]


def _photo_files(data_dir) -> set[str]:
    folder = data_dir / "photos"
    return {p.name for p in folder.iterdir()} if folder.is_dir() else set()


def test_worker_killed_mid_check_in_leaves_nothing_partial(trained_site, make_stack, frames):
    stack = make_stack(env={"KIOSK_DUPLICATE_WINDOW_MINUTES": "0"})
    capture = frames["capture_obama"]
    recording_ms = _check_in(Kiosk(stack), capture).elapsed_ms  # models loaded; the flow works
    trials = []
    for trigger, when in KILL_TRIGGERS:
        kiosk = Kiosk(stack)
        kiosk.reset()
        _ready_to_check_in(kiosk, capture)
        events_before = photo_consistency(stack.data_dir)["events"]
        files_before = _photo_files(stack.data_dir)
        (worker,) = stack.gunicorn.worker_pids()

        result = {}
        sender = threading.Thread(target=lambda: result.update(answer=kiosk.frame(capture[0], timeout_s=120)))  # noqa: B023
        sender.start()
        started = time.monotonic()
        if trigger == "time":
            time.sleep(when * recording_ms / 1000)
        else:
            # Poll photos/ (bounded) and kill the moment the files of this check-in appear.
            deadline = started + 30
            while time.monotonic() < deadline and sender.is_alive():
                if when(_new_files(stack.data_dir, files_before)):
                    break
        os.kill(worker, signal.SIGKILL)
        killed_after_ms = (time.monotonic() - started) * 1000
        seen_at_kill = _new_files(stack.data_dir, files_before)
        sender.join(timeout=150)
        assert not sender.is_alive()

        # gunicorn's master replaces the worker; the new one cleans up before it serves.
        stack.gunicorn.wait_for_workers(1, exclude={worker}, timeout_s=120)
        health = stack.session()
        # It warms its models up before it serves the kiosk (gunicorn.conf.py): ready, not just alive.
        wait_until(lambda: health.get(stack.url + "/readyz", timeout=10).status_code == 200, 180, 0.2,  # noqa: B023
                   "the replacement worker")
        state = photo_consistency(stack.data_dir)
        committed = state["events"] - events_before
        trials.append({
            "trigger": trigger if trigger != "time" else f"{when:.0%} of {recording_ms:.0f} ms",
            "killed_after_ms": round(killed_after_ms), "answer": result["answer"].status,
            "event_committed": committed, "files_at_kill": sorted(name[:8] for name in seen_at_kill),
            "orphans_after": len(state["orphan_files"]),
        })
        assert committed in (0, 1)
        assert state["missing_files"] == [] and state["rows_without_photos"] == [], state
        assert state["orphan_files"] == [], (trials[-1], state)
        assert not any(name.startswith(".tmp-") for name in _photo_files(stack.data_dir)), "a temp file was left"
        if trigger != "time" and result["answer"].status != 200:
            assert seen_at_kill, trials[-1]  # the watcher did kill with this check-in's files on disk

        # The kiosk carries on: its old session died with the worker, a new check-in works.
        after = Kiosk(stack)
        after.reset()
        done = _check_in(after, capture)
        assert done.body["photo_url"]
        assert photo_consistency(stack.data_dir)["events"] == state["events"] + 1

    final = photo_consistency(stack.data_dir)
    report("faults.sigkill", trials=len(trials), events=final["events"],
           killed_between_files_and_row=sum(1 for t in trials if t["files_at_kill"] and not t["event_committed"]),
           details=trials)
    assert final["orphan_files"] == [] and final["missing_files"] == []
    assert any(t["event_committed"] == 0 for t in trials)


def test_locked_database_delays_a_check_in_but_loses_nothing(trained_site, make_stack, frames):
    stack = make_stack(env={"KIOSK_DUPLICATE_WINDOW_MINUTES": "0"})
    capture = frames["capture_obama"]
    _check_in(Kiosk(stack), capture)  # the flow works
    kiosk = Kiosk(stack)
    kiosk.reset()
    _ready_to_check_in(kiosk, capture)
    events_before = photo_consistency(stack.data_dir)["events"]

    # Another kiosk, whose frames write nothing, keeps being answered while the lock is held. Paired and
    # seen before the lock: pairing and the device's first "last seen" are writes, which would wait for it.
    bystander = Kiosk(stack)
    bystander.reset()

    locked, released = threading.Event(), threading.Event()

    def hold_write_lock():
        with contextlib.closing(sqlite3.connect(stack.data_dir / "kiosk.sqlite3", timeout=30,
                                                isolation_level=None)) as conn:
            conn.execute("BEGIN IMMEDIATE")  # the write lock; readers go on (WAL)
            conn.execute("UPDATE admin_user SET password_hash = password_hash")
            locked.set()
            time.sleep(LOCK_SECONDS)
            conn.execute("COMMIT")
            released.set()

    holder = threading.Thread(target=hold_write_lock)
    holder.start()
    assert locked.wait(30)
    lock_started = time.monotonic()

    result = {}
    sender = threading.Thread(target=lambda: result.update(answer=kiosk.frame(capture[0], timeout_s=120)))  # noqa: B023
    sender.start()
    bystander_ms = []
    while not released.is_set() and time.monotonic() - lock_started < LOCK_SECONDS + 5:
        answer = bystander.frame(frames["empty"][0], timeout_s=60)
        assert answer.status == 200, answer
        bystander_ms.append(answer.elapsed_ms)
    sender.join(timeout=120)
    holder.join(timeout=30)

    answer = result["answer"]
    state = photo_consistency(stack.data_dir)
    report("faults.db_locked", lock_s=LOCK_SECONDS, check_in_ms=round(answer.elapsed_ms),
           check_in_state=answer.state, events_added=state["events"] - events_before,
           bystander_frames=len(bystander_ms), bystander_max_ms=round(max(bystander_ms)) if bystander_ms else None)
    assert answer.status == 200 and answer.state == "DONE", answer
    assert state["events"] == events_before + 1
    assert state["missing_files"] == [] and state["orphan_files"] == []
    # It really waited for the lock (it could not commit before the other writer let go).
    assert answer.elapsed_ms >= (LOCK_SECONDS - 1.5) * 1000
    assert bystander_ms, "the other kiosk got no answer while the database was locked"
