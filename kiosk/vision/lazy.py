"""Base class for model wrappers: loaded lazily, once per process, under a lock.

TensorFlow and MediaPipe take seconds and hundreds of MB to load, so nothing is loaded
at import time or in the gunicorn master: the first ``predict()`` in a worker loads the
model, and every later call reuses it. Subclasses implement ``_load()`` (returning the
loaded object) and ``predict()``; they call ``self.model`` to get it.
"""

from __future__ import annotations

import threading
from typing import Any, ClassVar

from ..errors import KioskError


class ModelUnavailable(KioskError):
    """A model's files are missing or broken. The message says which file and how to fix it.

    Not the request's fault: the operator must restore the file, so the web layer answers 503
    ``model_unavailable`` wherever it surfaces (the kiosk page shows the message), and CLI
    commands stop with it."""

    status = 503
    code = "model_unavailable"


class LazyModel:
    #: A short name used in logs, errors and benchmarks ("blazeface", "dlib", "pose", ...).
    name: ClassVar[str] = "model"

    def __init__(self) -> None:
        self._model: Any = None
        self._lock = threading.Lock()

    def _load(self) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    @property
    def loaded(self) -> bool:
        return self._model is not None

    @property
    def model(self) -> Any:
        if self._model is None:
            with self._lock:
                if self._model is None:
                    self._model = self._load()
        return self._model

    def warm_up(self) -> None:
        """Load now (e.g. in a gunicorn ``post_fork`` hook) instead of on the first request."""
        _ = self.model

    def predict(self, *args: Any, **kwargs: Any) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError
