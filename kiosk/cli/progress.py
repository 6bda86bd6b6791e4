"""Progress of a long command on stderr: a live bar (rich) on a terminal, plain lines elsewhere.

On a terminal the bar shows the photos done out of the total, the rate, the time spent and the
time left, with the counts so far. When stderr is not a terminal (CI, a log file, a pipe) a
live bar would fill the log with control codes, so a plain line is printed every
:data:`PLAIN_EVERY_SECONDS` and at the end instead. stdout is left alone (``--json`` lines).
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.text import Text

from ..services.bulk_import.progress import ImportProgress, format_duration

PLAIN_EVERY_SECONDS = 5.0


class _ImportBar(Progress):
    """The bar on one line (it fits in 80 columns), the counts so far on the next."""

    counts = ""

    def get_renderables(self):
        yield self.make_tasks_table(self.tasks)
        if self.counts:
            yield Text(self.counts, style="progress.description")


class _TimeLeftColumn(ProgressColumn):
    def render(self, task: Task) -> Text:
        if task.finished:
            return Text("done", style="progress.remaining")
        left = task.time_remaining
        return Text("" if left is None else f"{format_duration(left)} left", style="progress.remaining")


class _RateColumn(ProgressColumn):
    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("" if speed is None else f"{speed:.1f} photos/s", style="progress.data.speed")


def counts_line(state: ImportProgress) -> str:
    return f"{state.accepted} accepted, {state.refused} refused, {state.duplicates} duplicates"


class ImportProgressDisplay:
    """``with ImportProgressDisplay() as display: ... display.update(state)``"""

    def __init__(
        self, stream: TextIO | None = None, *, force_terminal: bool | None = None, width: int | None = None
    ) -> None:
        self.console = Console(file=stream or sys.stderr, force_terminal=force_terminal, width=width)
        self.live = self.console.is_terminal and not self.console.is_dumb_terminal
        self._progress: Progress | None = None
        self._task = None
        self._last_plain = 0.0
        self._finished = False

    def __enter__(self) -> ImportProgressDisplay:
        if self.live:
            self._progress = _ImportBar(
                TextColumn("[progress.description]{task.description}"),
                BarColumn(bar_width=20),
                MofNCompleteColumn(),
                TaskProgressColumn(),
                _RateColumn(),
                TimeElapsedColumn(),
                _TimeLeftColumn(),
                console=self.console,
                transient=False,
            )
            self._progress.__enter__()
            # Until the first photo, the models load (seconds): a pulsing bar says so, and the clock
            # restarts with the photos, so the rate and the time left are the photos' own.
            self._task = self._progress.add_task("Loading models", total=None)
        return self

    def update(self, state: ImportProgress) -> None:
        if self._progress is not None:
            self._progress.counts = counts_line(state)
            if self._progress.tasks[0].description != "Importing":
                self._progress.reset(self._task, total=state.total, completed=state.done, description="Importing")
            else:
                self._progress.update(self._task, total=state.total, completed=state.done)
            return
        now = time.monotonic()
        finished = state.done >= state.total
        if (now - self._last_plain >= PLAIN_EVERY_SECONDS and not finished) or (finished and not self._finished):
            self._last_plain = now
            self._finished = finished
            self.console.print(plain_line(state), highlight=False, soft_wrap=True)

    def stage(self, text: str) -> None:
        """A line about what happens next (retraining), below the bar."""
        if self._progress is not None:
            self._progress.console.print(text, highlight=False)
        else:
            self.console.print(text, highlight=False, soft_wrap=True)

    def __exit__(self, *exc) -> None:
        if self._progress is not None:
            self._progress.__exit__(*exc)


def plain_line(state: ImportProgress) -> str:
    percent = 100 * state.done / state.total if state.total else 100
    line = f"import: {state.done}/{state.total} photos ({percent:.0f}%)"
    if state.seconds > 0 and state.done:
        rate = state.done / state.seconds
        line += f", {rate:.1f} photos/s"
        if state.done < state.total:
            line += f", about {format_duration((state.total - state.done) / rate)} left"
    return f"{line}; {counts_line(state)}"
