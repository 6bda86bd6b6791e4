"""Where this worker's models are: warming, ready, failed or lazy (``/healthz``, ``/readyz``, the
frame API's 503 ``warming``), and whether the liveness model is there. Its own module so that the
warm-up (which runs the check-in service's pipeline) and the check-in service (which asks whether
to serve) do not import each other."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from flask import Flask

from ..errors import KioskError
from ..vision.liveness import MODEL_FILES
from ..vision.settings import models_dir

log = logging.getLogger(__name__)

EXTENSION_KEY = "kiosk_warm_up"
# A warm-up still running after this long is not waited for any more: frames are analysed again
# (each model then loads on first use, as without a warm-up), so "Starting..." cannot last for ever.
WARM_UP_PATIENCE_S = 180.0


class Warming(KioskError):
    """The worker is still loading its models; the kiosk page shows "Starting..." and retries."""

    status = 503
    code = "warming"


# What stopped the passive liveness model loading in this worker's warm-up (empty: nothing).
liveness_problem: list[str] = []


@dataclass
class Readiness:
    """Where this worker's warm-up is. ``state``: ``lazy`` (no warm-up: models load on first use),
    ``warming``, ``ready`` or ``failed`` (a model could not load; ``error`` says which and why)."""

    state: str = "lazy"
    started_at: float | None = None
    seconds: float | None = None
    stages_s: dict[str, float] = field(default_factory=dict)
    error: str | None = None
    _gave_up: bool = field(default=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def serving(self) -> bool:
        """Whether frames are analysed now (a failed warm-up serves: each frame then says what is
        missing; so does one that has outlasted WARM_UP_PATIENCE_S)."""
        if self.state != "warming":
            return True
        if self.started_at is not None and time.monotonic() - self.started_at > WARM_UP_PATIENCE_S:
            if not self._gave_up:
                self._gave_up = True
                log.warning("The models are still loading after %.0f s; serving frames anyway.", WARM_UP_PATIENCE_S)
            return True
        return False

    def as_dict(self) -> dict[str, Any]:
        figures: dict[str, Any] = {"models": self.state}
        if self.seconds is not None:
            figures["warm_up_s"] = self.seconds
        if self.error:
            figures["error"] = self.error
        if liveness_problem:
            figures["liveness"] = {"model": "unavailable", "error": liveness_problem[-1]}
        return figures


def readiness(app: Flask) -> Readiness:
    return app.extensions.setdefault(EXTENSION_KEY, Readiness())


def liveness_files_present() -> bool:
    """Whether the passive liveness model's files are where the kiosk loads them from (a cheap
    look for /healthz: the warm-up's load says whether they also work)."""
    folder = models_dir() / "liveness"
    return all((folder / name).is_file() for name in MODEL_FILES)
