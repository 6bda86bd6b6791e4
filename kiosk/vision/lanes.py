"""Lanes: several copies of a model that runs one frame at a time, so that frames of different
kiosks run at once.

A MediaPipe graph or a ``cv2.dnn.Net`` keeps per-call state, so one copy serves one frame at a
time; with one copy per process, every kiosk's frame waited for the one before it while a core
stood idle (measured with 8 kiosks on a 2-core box: issue 26, docs/capacity.md). A model keeps
:func:`lane_count` copies (one per core) and a frame takes a free one, waiting only when every
copy is busy. The copies are small (BlazeFace's graphs, MiniFASNet's networks: a few MB each).

``KIOSK_MODEL_LANES`` sets the count (1: one copy, as before); read once, when a model's lanes are
made (the first frame, or the worker's warm-up).

No Flask, no models: the wrappers in this package decide what a lane holds.
"""

from __future__ import annotations

import os
import queue
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Callable, Generic, TypeVar

T = TypeVar("T")

MAX_LANES = 16


def lane_count() -> int:
    """``KIOSK_MODEL_LANES``, else one per core, at most 4."""
    raw = os.environ.get("KIOSK_MODEL_LANES", "").strip()
    if not raw:
        return max(1, min(4, os.cpu_count() or 1))
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_LANES:
        raise ValueError(f"KIOSK_MODEL_LANES must be a whole number from 1 to {MAX_LANES}, not {raw!r}.")
    return int(raw)


class Lanes(Generic[T]):
    """``count`` copies made by ``make()``; :meth:`take` lends a free one to one frame."""

    def __init__(self, make: Callable[[], T], count: int | None = None) -> None:
        self.all: list[T] = [make() for _ in range(max(1, count if count is not None else lane_count()))]
        self._free: queue.SimpleQueue[T] = queue.SimpleQueue()
        for lane in self.all:
            self._free.put(lane)

    def __len__(self) -> int:
        return len(self.all)

    @contextmanager
    def take(self) -> Iterator[T]:
        """A free copy for the duration of the ``with`` block (free copies are taken in turn)."""
        lane = self._free.get()
        try:
            yield lane
        finally:
            self._free.put(lane)

    @contextmanager
    def every(self) -> Iterator[list[T]]:
        """Every copy at once (a warm-up running each), once the frames using them are done."""
        taken = [self._free.get() for _ in self.all]
        try:
            yield taken
        finally:
            for lane in taken:
                self._free.put(lane)
