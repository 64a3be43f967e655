"""The clock a budget in seconds is spent by: the time a training step takes on the device that runs it.

CUDA runs asynchronously: when Python reaches the end of a step, the GPU may still be working on the
kernels it queued, and a step's ``time.perf_counter`` interval is then the time to *queue* it, not to run
it (the next step would be charged the rest). So on CUDA each reading of the clock records a CUDA event on
the device's current stream and waits for it (`CudaClock`): the reading is the GPU's own time at that event,
and the interval between two readings is what the GPU spent between them -- kernels, and idle waits for the
CPU, so a step bound by Python is charged its wall time too. On MPS the clock synchronizes the device, then
reads ``perf_counter`` (`SyncClock`). On the CPU it is ``perf_counter`` alone (`WallClock`), as before.
``python -m trickstack.benchmarks.gpu_check`` compares what the events charge with a synchronized measurement.

A clock is anything with ``now() -> float`` (seconds, from any origin): tests pass fakes.

>>> clock = device_clock("cpu")
>>> later = clock.now(); clock.now() >= later
True
"""

from __future__ import annotations

import time
from typing import Any, Callable, Optional, Protocol

import torch


class Clock(Protocol):
    def now(self) -> float:
        """Seconds since some fixed origin; only differences between two readings are used."""


class WallClock:
    """``time.perf_counter``: the CPU's clock, for a device whose work is done when Python returns."""

    def now(self) -> float:
        return time.perf_counter()


class SyncClock:
    """Waits until the device has finished the work queued so far (``synchronize``), then ``perf_counter``."""

    def __init__(self, synchronize: Callable[[], None]):
        self.synchronize = synchronize

    def now(self) -> float:
        self.synchronize()
        return time.perf_counter()


class CudaClock:
    """The GPU's own time: each reading records a timing event on ``device``'s current stream, waits for the GPU
    to reach it, and returns the milliseconds from the first reading's event to it (``Event.elapsed_time``), in
    seconds. ``cuda`` stands in for `torch.cuda` (its ``Event`` and ``current_stream``) in tests."""

    def __init__(self, device: str, cuda: Any = torch.cuda):
        self.device = torch.device(device)
        self.cuda = cuda
        self._origin: Optional[Any] = None

    def now(self) -> float:
        event = self.cuda.Event(enable_timing=True)
        event.record(self.cuda.current_stream(self.device))
        event.synchronize()  # the step's kernels queued before it have run
        if self._origin is None:
            self._origin = event
            return 0.0
        return self._origin.elapsed_time(event) / 1e3  # milliseconds -> seconds


def device_clock(device: str) -> Clock:
    """The clock for a resolved device (``cpu``, ``cuda:N``, ``mps``; `trickstack.trial.devices.resolve_device`)."""
    if device.startswith("cuda"):
        return CudaClock(device)
    if device == "mps":
        return SyncClock(torch.mps.synchronize)
    return WallClock()


def synchronizing_clock(device: str) -> Clock:
    """A clock that waits for all of ``device``'s queued work, then reads ``perf_counter``: slower than the events
    of `CudaClock` (it waits on every stream), the reference that ``benchmarks/gpu_check.py`` checks them against."""
    if device.startswith("cuda"):
        return SyncClock(lambda: torch.cuda.synchronize(device))
    if device == "mps":
        return SyncClock(torch.mps.synchronize)
    return WallClock()
