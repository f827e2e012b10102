"""Ctrl-C and SIGTERM held while writer threads run, raised at a safe point (interrupts.py).

Real signals sent to this process (the handlers run in the main thread, where pytest runs the
tests); every test restores the handlers it found.
"""

from __future__ import annotations

import os
import signal
import threading
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path

import pyarrow as pa
import pytest

from alignment_mlflow.economics import arrow_engine, assignments
from alignment_mlflow.errors import Terminated
from alignment_mlflow.interrupts import Pending, deferred, sigterm_as_interrupt
from test_assignments import _constants, _parquet_files, _reader, _scores, _write


@pytest.fixture(autouse=True)
def _handlers_restored() -> Iterator[None]:
    """Python's own Ctrl-C handler for each test (a Spark session started on this worker
    installs one of its own), the handlers found put back after it."""
    found = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    signal.signal(signal.SIGINT, signal.default_int_handler)
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    yield
    after = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    for sig, handler in found.items():
        signal.signal(sig, handler)
    assert after == before


def _raised_in(exc: BaseException) -> str:
    """The file of the innermost frame: where the exception was raised."""
    return traceback.extract_tb(exc.__traceback__)[-1].filename


def _leaving(body: Callable[[Pending], None]) -> BaseException:
    """What leaving a section that runs ``body`` raises (SIGTERM handled as the CLI handles it)."""
    with sigterm_as_interrupt():
        try:
            with deferred() as pending:
                body(pending)
        except BaseException as exc:  # the point of the test
            return exc
    raise AssertionError("leaving the section raised nothing")


def test_sigterm_inside_a_section_waits_for_its_end() -> None:
    reached: list[object] = []

    def body(pending: Pending) -> None:
        signal.raise_signal(signal.SIGTERM)
        reached.append(bool(pending))
        signal.raise_signal(signal.SIGTERM)  # a second one: still raised once
        reached.append(len(pending.signals))

    raised = _leaving(body)
    assert type(raised) is Terminated
    assert reached == [True, 2]
    assert _raised_in(raised).endswith("interrupts.py")


def test_ctrl_c_inside_a_section_is_keyboard_interrupt_at_its_end() -> None:
    reached: list[bool] = []

    def body(pending: Pending) -> None:
        os.kill(os.getpid(), signal.SIGINT)
        reached.append(bool(pending))

    assert type(_leaving(body)) is KeyboardInterrupt
    assert reached == [True]


def test_the_first_signal_decides_and_the_handlers_come_back() -> None:
    seen: list[object] = []

    def body(pending: Pending) -> None:
        seen.append(signal.getsignal(signal.SIGTERM))
        signal.raise_signal(signal.SIGINT)
        signal.raise_signal(signal.SIGTERM)

    with sigterm_as_interrupt():
        ours = signal.getsignal(signal.SIGTERM)
        assert type(_leaving(body)) is KeyboardInterrupt
        assert signal.getsignal(signal.SIGTERM) is ours
    assert seen[0] is not ours
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_a_signal_during_an_error_still_stops_the_process() -> None:
    def body(pending: Pending) -> None:
        signal.raise_signal(signal.SIGTERM)
        raise OSError("disk full")

    raised = _leaving(body)
    assert type(raised) is Terminated
    assert isinstance(raised.__context__, OSError)


def test_nothing_pending_leaves_the_section_quietly() -> None:
    with sigterm_as_interrupt(), deferred() as pending:
        pass
    assert not pending


def test_default_and_ignored_handlers_are_left_alone() -> None:
    previous = signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        with deferred():
            assert signal.getsignal(signal.SIGTERM) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_outside_the_main_thread_nothing_changes() -> None:
    seen: list[object] = []

    def body() -> None:
        with deferred() as pending:
            seen.append(signal.getsignal(signal.SIGINT))
            seen.append(bool(pending))

    t = threading.Thread(target=body)
    t.start()
    t.join()
    assert seen == [signal.default_int_handler, False]


def test_sigterm_mid_write_stops_at_a_batch_with_the_writers_ended(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The assignments writer: a SIGTERM arriving while it tiers a batch (its writer threads
    busy) is raised by the section's end, not inside the batch generator or a queue wait; the
    stream stops there, nothing is committed, no part file is left."""
    uri = tmp_path / "a"
    _write(uri, _scores(100))
    before = _parquet_files(uri)
    monkeypatch.setattr(arrow_engine, "BATCH_ROWS", 1000)
    good = _reader(_scores(20_000), _constants(run_id="c" * 32))
    produced = 0

    def signalled() -> Iterator[pa.RecordBatch]:
        nonlocal produced
        for i, batch in enumerate(good):
            if i == 3:
                signal.raise_signal(signal.SIGTERM)
            produced += 1
            yield batch

    reader = pa.RecordBatchReader.from_batches(good.schema, signalled())
    with sigterm_as_interrupt(), pytest.raises(Terminated) as caught:
        assignments.write(str(uri), reader, project="churn", commit_metadata={})
    assert _raised_in(caught.value).endswith("interrupts.py")
    assert produced == 4  # the batch being made when it came, then no more
    assert _parquet_files(uri) == before
    assert not [t for t in threading.enumerate() if t.name.startswith("assignments-writer")]
