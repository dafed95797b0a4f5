"""Interleaved micro-timing for a shared, noisy machine.

Methods are timed in rounds: each round runs every method `calls` times in turn and keeps each
one's median; the order of the methods rotates from round to round, so none always follows the
same one (whose memory traffic leaves the caches in a given state). Load from other processes
then hits all methods alike, and a ratio is taken within each round before the median over
rounds. On the CPU the clock is the calling thread's CPU time,
which a preempted thread does not accumulate; on an accelerator it is wall time, the callables
synchronising the device themselves.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Mapping

Call = Callable[[int], object]  # called with the call number: pick the inputs by it


def clock_for(device: str) -> Callable[[], int]:
    """Nanoseconds: thread CPU time on the CPU, wall time on an accelerator."""
    return time.thread_time_ns if device == "cpu" else time.perf_counter_ns


def clock_name(device: str) -> str:
    return "thread CPU time" if device == "cpu" else "wall time, device synchronised"


def interleaved(methods: Mapping[str, Call], rounds: int, calls: int,
                clock: Callable[[], int]) -> dict[str, list[float]]:
    """Per method, its median microseconds per call in each round."""
    for call in methods.values():  # first calls pay for lazy set-up (compilation, caches)
        call(0)
    medians: dict[str, list[float]] = {name: [] for name in methods}
    names = list(methods)
    step = 0
    for round_ in range(rounds):
        shift = round_ % len(names)
        for name in names[shift:] + names[:shift]:
            call, samples = methods[name], []
            for _ in range(calls):
                step += 1
                started = clock()
                call(step)
                samples.append(clock() - started)
            medians[name].append(statistics.median(samples) / 1e3)
    return medians


def median_ratio(numerator: list[float], denominator: list[float]) -> float:
    """Median over rounds of the per-round ratio."""
    return statistics.median(a / b for a, b in zip(numerator, denominator, strict=True))
