"""Timing helpers shared by the benchmark scripts."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def median_seconds(fn: Callable[[], object], repeat: int = 5, warm_up: bool = True) -> float:
    """Median wall time of `repeat` runs, after one warm-up run unless `warm_up` is False."""
    if warm_up:
        fn()
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def interleaved_medians(
    fns: dict[str, Callable[[], object]], repeat: int = 5, warm_up: bool = True
) -> dict[str, float]:
    """Median wall seconds of each of `fns`, timed in rounds (each function once per round,
    `repeat` rounds, after one warm-up round unless `warm_up` is False), so that load from
    other jobs on a shared machine falls on all of them alike rather than on whichever ran
    during a busy spell."""
    if warm_up:
        for fn in fns.values():
            fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeat):
        for name, fn in fns.items():
            started = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - started)
    return {name: statistics.median(ts) for name, ts in times.items()}
