"""How the benches time and weigh their work, in one place: each variant runs in a fresh Python
process (so one variant's imports, caches and heap do not flatter the next), the clock and the
memory baseline start after the imports, and the peak RSS is the kernel's (``wait4``).

The scripts import it as ``_timing`` (``python bench/<name>.py`` puts ``bench/`` first on the
path, and the measured child inserts it too).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
BENCH = Path(__file__).resolve().parent

BASE_RSS_KIB = 0
"""In a measured child: its peak RSS when the clock started (the imports' share)."""
CPU_START = 0.0
"""In a measured child: its CPU seconds when the clock started."""


def start() -> float:
    """The clock starts after the imports; so does the memory the work is charged with."""
    global BASE_RSS_KIB, CPU_START
    import resource

    BASE_RSS_KIB = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    CPU_START = time.process_time()
    return time.perf_counter()


def child_env() -> dict[str, str]:
    """This checkout's ``src`` first on the path, as for the tests."""
    return {**os.environ, "PYTHONPATH": f"{REPO / 'src'}:{os.environ.get('PYTHONPATH', '')}"}


def _wait(cmd: Sequence[str], label: str, cwd: Path | None = None) -> Any:
    """Run ``cmd`` silently to its end; the child's resource usage, or exit naming ``label``."""
    proc = subprocess.Popen(list(cmd), env=child_env(), cwd=cwd, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)  # fmt: skip
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{label} failed with exit {proc.returncode}")
    return usage


def in_child(
    module: str, variant: str, paths: Sequence[Path], result: Path
) -> tuple[float, float, float, float]:
    """``<module>.child(variant, *paths)`` (it returns its seconds of work, timed from
    :func:`start`) in a fresh Python: the seconds, the process's peak RSS, the work's own
    share of it (MiB) and the work's CPU seconds (every thread's: on a shared machine the
    figure to compare, as wall time also waits for other processes)."""
    code = (
        f"import json, sys, time; sys.path.insert(0, {str(BENCH)!r}); "
        f"import _timing, {module} as b; "
        f"t = b.child({variant!r}, *map(b.Path, {[str(p) for p in paths]!r})); "
        f"cpu = time.process_time() - _timing.CPU_START; "
        f"json.dump([t, _timing.BASE_RSS_KIB, cpu], open({str(result)!r}, 'w'))"
    )
    usage = _wait([sys.executable, "-c", code], variant)
    seconds, base, cpu = json.loads(result.read_text())
    return float(seconds), usage.ru_maxrss / 1024, (usage.ru_maxrss - base) / 1024, float(cpu)


def whole_process(cmd: Sequence[str], label: str, cwd: Path) -> tuple[float, float]:
    """Wall time of the whole process, from its start to its exit, and its peak RSS (MiB)."""
    began = time.perf_counter()
    usage = _wait(cmd, label, cwd)
    return time.perf_counter() - began, usage.ru_maxrss / 1024


def median_time(fn: Callable[[], Any], runs: int) -> float:
    """The median seconds of ``runs`` calls: shared machines are noisy."""
    samples = []
    for _ in range(runs):
        began = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - began)
    return statistics.median(samples)


def print_header(header: str) -> None:
    """A table's header line and its rule."""
    print(header)
    print("-" * len(header))
