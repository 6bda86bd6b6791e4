"""Latency benchmarks behind ``kiosk bench``.

Each module in this package registers stages with :func:`stage`; a stage function takes
a :class:`BenchContext` and returns a dict of figures (milliseconds are "median ms" unless
the key says otherwise; frame rates have ``fps`` in the key). ``kiosk bench`` imports every
module here and prints one JSON object. Figures are measured, never asserted in tests.
"""

from __future__ import annotations

import importlib
import pkgutil
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

StageFn = Callable[["BenchContext"], dict[str, Any]]
_STAGES: dict[str, StageFn] = {}


@dataclass
class BenchContext:
    repeat: int = 30
    warmup: int = 3
    datasets: Path = field(default_factory=lambda: Path(__file__).resolve().parents[2].parent / "shared" / "datasets")


def stage(name: str) -> Callable[[StageFn], StageFn]:
    def decorator(fn: StageFn) -> StageFn:
        _STAGES[name] = fn
        return fn

    return decorator


def median_ms(fn: Callable[[], Any], repeat: int, warmup: int = 3) -> float:
    """Median wall time of ``fn()`` in milliseconds, after ``warmup`` untimed calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return round(statistics.median(times), 2)


def discover() -> dict[str, StageFn]:
    for module in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{module.name}")
    return dict(_STAGES)
