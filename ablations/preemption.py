"""A worker told to stop (SIGTERM: a scheduler's preemption, a Kubernetes eviction, ``scancel``).

The rule: a worker that gets SIGTERM starts no new trial. The trial it is training may finish within
``grace`` seconds (then it is stored as usual); one still training when the grace ends is released:
its trial is failed and its job queued again from scratch (``retry_reason = "released"``), so another
worker re-runs it. Either way the job completes exactly once: a release is the same state change
RUNNING -> FAIL that the reaper makes, and it loses to a result stored first. The worker then exits
with `PREEMPTED_EXIT`. Choose ``grace`` below the scheduler's own (SLURM's ``--signal=B:TERM@T``,
Kubernetes' ``terminationGracePeriodSeconds``, 30 s by default) minus a few seconds for the release
itself; a worker SIGKILLed before it releases is reclaimed by its stale heartbeat instead.

Only the main thread of a process gets signals (Python's rule): `Preemption` installs its handlers there
and is a no-op elsewhere.
"""

from __future__ import annotations

import contextlib
import math
import signal
import sys
import threading
from typing import Iterator, Optional

from trickstack.core.errors import UserError

PREEMPTED_EXIT = 128 + signal.SIGTERM  # what a shell reports for a process ended by SIGTERM
DEFAULT_GRACE_SECONDS = 20.0  # under Kubernetes' default 30 s, leaving time to release the trial
AGAIN_SECONDS = 0.2  # past the grace, `Preempted` is raised again this often until the training stops


class Preempted(BaseException):
    """Raised in the trial's training when the grace has run out (a BaseException: no `except Exception`
    of a trainer or a workload takes it for a failed run)."""


def grace_seconds(given: Optional[float]) -> float:
    grace = DEFAULT_GRACE_SECONDS if given is None else given
    if not (math.isfinite(grace) and grace >= 0):
        raise UserError(f"grace {grace:g} s: give the seconds a stopped worker may finish its trial in, a number >= 0")
    return grace


class Preemption:
    """Handles SIGTERM (and SIGALRM, its grace timer) while active: ``requested`` once a SIGTERM came;
    `training` marks the span in which running out of grace raises `Preempted`."""

    def __init__(self, grace: float, say=lambda line: print(line, file=sys.stderr, flush=True)):
        self.grace, self.say = grace, say
        self.requested = self._expired = self._training = False
        self._before: dict[int, object] = {}

    def __enter__(self) -> "Preemption":
        if threading.current_thread() is threading.main_thread():
            for signum, handler in ((signal.SIGTERM, self._on_term), (signal.SIGALRM, self._on_alarm)):
                self._before[signum] = signal.signal(signum, handler)
        return self

    def __exit__(self, *exc) -> None:
        if self._before:
            signal.setitimer(signal.ITIMER_REAL, 0)
            for signum, handler in self._before.items():
                signal.signal(signum, handler)

    def _on_term(self, signum, frame) -> None:
        if self.requested:
            return
        self.requested = True
        self.say(f"worker: SIGTERM: starting no new trial; the current one may finish within {self.grace:g} s, "
                 "else it is released to another worker")
        if self.grace <= 0:  # released at once; and again every AGAIN_SECONDS, should this raise be swallowed
            signal.setitimer(signal.ITIMER_REAL, AGAIN_SECONDS, AGAIN_SECONDS)
            self._on_alarm(signum, frame)
        elif math.isfinite(self.grace):
            signal.setitimer(signal.ITIMER_REAL, self.grace, AGAIN_SECONDS)

    def _on_alarm(self, signum, frame) -> None:
        # Raised again and again: code that the exception passes through may swallow it (a weakref callback
        # run by the collector prints "Exception ignored" and goes on; so may a library's bare except).
        self._expired = True
        if self._training:
            raise Preempted()
        signal.setitimer(signal.ITIMER_REAL, 0)

    @contextlib.contextmanager
    def training(self) -> Iterator[None]:
        """The span in which a trial trains; entered past the grace, it raises `Preempted` at once."""
        if self._expired:
            raise Preempted()
        self._training = True
        try:
            yield
        finally:
            self._training = False
