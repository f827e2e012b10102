"""Ctrl-C and SIGTERM as exceptions, and the sections where they must wait.

A Python signal handler runs in the main thread between any two bytecodes, so the exception it
raises can land inside ``queue.Queue.put``, a ``threading`` wait, or a generator that Arrow's C++
is driving. Where other threads are writing files, an exception landing there once let the main
thread remove the part files a writer thread was still writing (SIGSEGV, issue 23). Inside
:func:`deferred` a signal is recorded instead and raised where the code asks for it: between two
batches, with every writer thread finished.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Any

from alignment_mlflow.errors import Terminated

_Handler = Callable[[int, FrameType | None], Any]


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """While a command writes, SIGTERM raises :class:`~alignment_mlflow.errors.Terminated` in the
    main thread, so the pipeline's cleanup (run marked KILLED, findings untouched) runs as for
    Ctrl-C. The previous handler is restored afterwards: inside a Databricks driver or a notebook
    the process's own handling is left as it was."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def terminate(signum: int, frame: object) -> None:
        raise Terminated("terminated by SIGTERM")

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


class Pending:
    """The signals that arrived inside a :func:`deferred` section, in order of arrival."""

    def __init__(self) -> None:
        self.signals: list[int] = []

    def __bool__(self) -> bool:
        return bool(self.signals)


@contextlib.contextmanager
def deferred() -> Iterator[Pending]:
    """Hold Ctrl-C and SIGTERM until the section ends: what the handlers in place would raise
    (``KeyboardInterrupt``, :class:`~alignment_mlflow.errors.Terminated`) is raised as the
    section is left, from here, once, even over an error the section raised. The section
    polls the yielded :class:`Pending` to stop early at a safe point. Only Python handlers are
    held: a signal whose handler is the default or ignore keeps it (nothing would run on the
    way out anyway), and outside the main thread nothing can be installed, so nothing
    changes."""
    pending = Pending()
    if threading.current_thread() is not threading.main_thread():
        yield pending
        return
    held: dict[int, _Handler] = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        handler = signal.getsignal(sig)
        if callable(handler):
            held[sig] = handler
            signal.signal(sig, lambda signum, frame: pending.signals.append(signum))
    try:
        yield pending
    finally:
        for held_sig, handler in held.items():
            signal.signal(held_sig, handler)
        if pending:  # also on the way out of an error: the signal is why the process stops
            first = pending.signals[0]
            held[first](first, None)
