"""Progress of a long run on standard error, as dbt or pip show it: events
read, events per second, and the time left when the size of the input is
known. Shown only on a terminal, only once the run has lasted a second
(``GOAL_PROGRESS_AFTER`` seconds), and taken off the screen at the end: it
is never part of the output. ``GOAL_PROGRESS=0`` turns it off.
"""
from __future__ import annotations

import os
import time
from typing import IO, Optional


class Progress:
    """Call with the number of events read so far; ``done()`` at the end."""

    def __init__(self, source, stream: IO[str], *, after: Optional[float] = None):
        self.source = source
        self.stream = stream
        self.started = time.monotonic()
        try:
            self.after = float(os.environ.get("GOAL_PROGRESS_AFTER", "1")) if after is None else after
        except ValueError:
            self.after = 1.0
        self._bar = None
        self._task = None
        self._closed = False

    def __call__(self, rows: int) -> None:
        if self._closed:
            return
        now = time.monotonic()
        elapsed = now - self.started
        if self._bar is None:
            if elapsed < self.after:
                return
            self._start()
        fraction = self._fraction()
        rate = rows / elapsed if elapsed > 0 else 0.0
        self._bar.update(self._task, completed=(fraction or 0) * 100, events=rows, rate=rate,
                         total=100 if fraction is not None else None)

    def _fraction(self) -> Optional[float]:
        total = getattr(self.source, "rows_total", None)
        if total:
            return min(1.0, getattr(self.source, "rows_read", 0) / total)
        return self.source.read_position()

    def _start(self) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, Progress as Bar, TextColumn, TimeRemainingColumn
        console = Console(file=self.stream, stderr=True)
        self._bar = Bar(TextColumn("reading {task.description}"), BarColumn(),
                        TextColumn("{task.fields[events]:,} events"), TextColumn("{task.fields[rate]:,.0f} events/s"),
                        TimeRemainingColumn(), console=console, transient=True, refresh_per_second=4)
        self._task = self._bar.add_task(self.source.shown, total=None, events=0, rate=0.0)
        self._bar.start()

    def done(self) -> None:
        if self._bar is not None and not self._closed:
            self._bar.stop()
        self._closed = True
