"""Memory: the RSS of the (only) gunicorn worker after 2,000 frames is no more than 50 MB
above its RSS after 200. The frames go through every state and every model: enrolled people
and strangers (identification, UNKNOWN), empty rooms and crowds (IDLE prompts), and check-ins
with the capture gesture (pose, emotion, photos written, events recorded; the duplicate window
is off so each one records). Kiosk sessions rotate through more than the registry holds, so
sessions are created, expire and are evicted throughout.

KIOSK_RELIABILITY_MEMORY_FRAMES changes the total (default 2000; the baseline stays at 200).
"""

from __future__ import annotations

import os
import time

from kiosk_stack import rss_kb
from reliability_kit import Kiosk, photo_consistency, report

TOTAL_FRAMES = int(os.environ.get("KIOSK_RELIABILITY_MEMORY_FRAMES", "2000"))
BASELINE_FRAMES = 200
ALLOWED_GROWTH_MB = 50
SESSIONS = 40  # more than kiosk/checkin/sessions.py keeps (32): eviction is exercised
TIME_BUDGET_S = 3600


def frame_schedule(frames: dict[str, list[bytes]]):
    """An endless mix: a check-in, a known face, a stranger, an empty room, a crowd."""
    blocks = [
        [frames["capture_obama"][0]] * 14,
        frames["enrolled"][:4] * 2,
        frames["strangers"][:8],
        frames["empty"] * 2,
        frames["crowd"][:3],
    ]
    while True:
        for block in blocks:
            yield from block


def test_worker_memory_is_stable_over_2000_frames(trained_site, make_stack, frames):
    stack = make_stack(env={"KIOSK_DUPLICATE_WINDOW_MINUTES": "0"})
    (worker,) = stack.gunicorn.worker_pids()
    kiosks = [Kiosk(stack) for _ in range(SESSIONS)]
    schedule = frame_schedule(frames)
    deadline = time.monotonic() + TIME_BUDGET_S
    curve, statuses = {}, {}
    baseline_kb = None
    for number in range(1, TOTAL_FRAMES + 1):
        assert time.monotonic() < deadline, f"memory test over its time budget at frame {number}"
        # A kiosk keeps its session for a whole block of frames, then the next one takes over.
        kiosk = kiosks[(number // 37) % SESSIONS]
        answer = kiosk.frame(next(schedule), timeout_s=300)
        statuses[answer.status] = statuses.get(answer.status, 0) + 1
        assert answer.status == 200, (number, answer)
        if number % 200 == 0:
            curve[number] = round(rss_kb(worker) / 1024, 1)
        if number == BASELINE_FRAMES:
            baseline_kb = rss_kb(worker)
    final_kb = rss_kb(worker)
    assert stack.gunicorn.worker_pids() == [worker], "the worker was replaced during the run"
    growth_mb = (final_kb - baseline_kb) / 1024
    consistency = photo_consistency(stack.data_dir)
    report(
        "memory",
        frames=TOTAL_FRAMES,
        rss_mb_after_200=round(baseline_kb / 1024, 1),
        rss_mb_after_all=round(final_kb / 1024, 1),
        growth_mb=round(growth_mb, 1),
        rss_curve_mb=curve,
        check_ins=consistency["events"],
        statuses=statuses,
    )
    assert consistency["missing_files"] == [] and consistency["orphan_files"] == []
    assert consistency["events"] > 10, "the frames did not exercise check-ins"
    assert growth_mb <= ALLOWED_GROWTH_MB
