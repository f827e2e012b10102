"""Writer threads fed from one stream: the assignments' Parquet files are encoded on other cores
while the main thread reads and tiers the next batch (Parquet encoding releases the GIL)."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING

from alignment_mlflow.interrupts import Pending

if TYPE_CHECKING:
    import pyarrow as pa


def feed(
    batches: Iterable[pa.RecordBatch], sinks: Sequence[Callable[..., None]], stopping: Pending
) -> None:
    """Feed the sinks round-robin, each from a thread of its own. One batch waits per sink at
    most, so memory stays bounded. The first failure, or a held signal (``stopping``), stops
    the stream at the next batch; every thread has ended on return."""
    lanes: list[queue.Queue[pa.RecordBatch | None]] = [queue.Queue(maxsize=1) for _ in sinks]
    failed: list[BaseException] = []

    def drain(pending: queue.Queue[pa.RecordBatch | None], sink: Callable[..., None]) -> None:
        try:
            while (batch := pending.get()) is not None:
                sink(batch)
        except BaseException as exc:
            failed.append(exc)
            while pending.get() is not None:  # let the producer finish putting
                pass

    workers = [
        threading.Thread(target=drain, args=(q, sink), name=f"assignments-writer-{i}", daemon=True)
        for i, (q, sink) in enumerate(zip(lanes, sinks, strict=True))
    ]
    for w in workers:
        w.start()
    try:
        for i, batch in enumerate(batches):
            if failed or stopping:
                break
            lanes[i % len(lanes)].put(batch)
    finally:
        for q in lanes:
            q.put(None)
        for w in workers:
            w.join()
    if failed:
        raise failed[0]
