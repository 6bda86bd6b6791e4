"""Quiet start-up for the native model runtimes: their known start-up notes never reach the console.

MediaPipe's graphs and TensorFlow Lite write notes straight to file descriptor 2 from C++ the
first time a graph runs ("INFO: Created TensorFlow Lite XNNPACK delegate for CPU.", absl's
"WARNING: All log messages before absl::InitializeLog() ..." and ``W0000 ...
inference_feedback_manager.cc`` / ``landmark_projection_calculator.cc`` lines). None of them is
news for the person at the console, and no setting reaches them: ``TF_CPP_MIN_LOG_LEVEL`` covers
TensorFlow's own logging only, and the MediaPipe wheel links absl and TFLite's loggers
statically without exporting a way to set their level.

So the places that load a model or run a graph for the first time do it inside
:func:`quiet_native_start`: file descriptor 2 is pointed at a temporary file for that call, and
afterwards every line that is not one of the :data:`KNOWN_NOISE` patterns is written back to
the real stderr. Nothing else is hidden: an error or an unknown warning from the same call still
appears (a few milliseconds late), and so does anything another thread wrote meanwhile. Calls
after the first one of each graph run outside it, at full speed.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager

KNOWN_NOISE: tuple[re.Pattern[str], ...] = (
    re.compile(r"^INFO: Created TensorFlow Lite XNNPACK delegate for CPU\.\s*$"),
    re.compile(r"^WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR\s*$"),
    # absl's format: severity letter, MMDD, time, thread id, file:line] message.
    re.compile(r"^W\d{4} [\d:.]+ +\d+ (inference_feedback_manager|landmark_projection_calculator)\.cc:\d+\] "),
)

# fd 2 belongs to the whole process: one redirection at a time.
_redirect_lock = threading.Lock()


def is_known_noise(line: str) -> bool:
    return any(pattern.match(line) for pattern in KNOWN_NOISE)


def without_known_noise(text: str) -> str:
    return "".join(line for line in text.splitlines(keepends=True) if not is_known_noise(line))


@contextmanager
def quiet_native_start() -> Iterator[None]:
    """Run the body with fd 2 captured; write back what is not known start-up noise."""
    with _redirect_lock:
        _flush_python_stderr()
        saved = os.dup(2)
        try:
            with tempfile.TemporaryFile() as capture:
                os.dup2(capture.fileno(), 2)
                try:
                    yield
                finally:
                    _flush_python_stderr()
                    os.dup2(saved, 2)
                    capture.seek(0)
                    kept = without_known_noise(capture.read().decode("utf-8", errors="replace"))
                    if kept:
                        os.write(2, kept.encode("utf-8"))
        finally:
            os.close(saved)


def _flush_python_stderr() -> None:
    try:
        sys.stderr.flush()
    except (AttributeError, ValueError, OSError):  # no stderr, or a closed one
        pass
