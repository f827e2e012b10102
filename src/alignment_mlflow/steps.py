"""Timing a job's steps and telling the caller after each one, so the CLI prints one line per
step with its time and ``--json`` carries the timings."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

Progress = Callable[[str, float, str], None]
"""Called after each step with (step name, seconds, one-line detail)."""


class Steps:
    """Times each step and reports it, so the CLI can print one line per step."""

    def __init__(self, progress: Progress | None) -> None:
        self.timings: dict[str, float] = {}
        self._progress = progress
        self.detail = ""

    @contextmanager
    def step(self, name: str) -> Iterator[Steps]:
        self.detail = ""
        start = time.perf_counter()
        yield self
        self.timings[name] = time.perf_counter() - start
        if self._progress is not None:
            self._progress(name, self.timings[name], self.detail)
