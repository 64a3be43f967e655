"""A storage server that goes away for a while: every call retried with backoff for a bounded time.

A PostgreSQL restart or failover is routine on a cluster. `Resilient` wraps an Optuna storage on a
server; a call that fails because the server cannot be reached (a refused or dropped connection) is
retried with exponential backoff for up to ``--storage-retry`` seconds (`RETRY_ENV`, default
`DEFAULT_RETRY_SECONDS`). An outage prints one line when it starts and one when the storage answers
again; past the time, the call raises `StorageUnavailable` (a `UserError`: one message, exit 2). Any
other error, and every error of a local SQLite or journal file, is raised at once.

A retried write may follow one whose commit landed though its answer was lost; each is made safe:

- attributes, parameters, heartbeats and intermediate values are overwritten with the same value;
- finishing a trial that the lost attempt finished already, as asked, is taken as done
  (Optuna would raise `UpdateFinishedTrialError`);
- queueing a trial (a WAITING template) that is found waiting already, identical, returns that one;
- creating a study that exists is `DuplicatedStudyError`, which ``create_study(load_if_exists=True)``
  reads as "load it".

One case is left to the reaper: a WAITING trial claimed for RUNNING by an attempt whose answer was
lost is seen as taken by another worker; it stays RUNNING with no worker recorded, and
`trickstack.ablations.storage.reap_dead_trials` requeues it after ``UNCLAIMED_SECONDS``; so is a fresh
RUNNING trial (``Study.ask`` with nothing queued) created twice that way: the copy nobody holds stays
RUNNING without a worker and is reaped likewise (it carries no job, so its requeued copy is pruned). Heartbeats are
sent once, never retried (their thread goes on beating), but a failed one counts as trouble seen:
`quiet_seconds` is how long the storage has answered without one, and reaping by stale heartbeat
waits until it exceeds the grace period, so that a trial that merely could not beat during the
outage is not failed while its worker still trains it.
"""

from __future__ import annotations

import abc
import math
import os
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import optuna
from optuna.storages import BaseStorage
from optuna.storages._heartbeat import BaseHeartbeat  # Optuna finds heartbeat support by this base class
from optuna.trial import FrozenTrial, TrialState
from sqlalchemy import exc as sql

from trickstack.core.errors import UserError

RETRY_ENV = "TRICKSTACK_STORAGE_RETRY"
DEFAULT_RETRY_SECONDS = 300.0  # a database restart or failover takes seconds to a few minutes
FIRST_WAIT = 0.5  # seconds before the first retry, doubled after each failure ...
LONGEST_WAIT = 10.0  # ... up to this
GAVE_UP_EXIT = 2  # a local worker process that gave up exits with this code; its coordinator says why


class StorageUnavailable(UserError):
    """The storage stayed unreachable for the whole retry time."""


def retry_seconds(given: Optional[float] = None) -> float:
    """The retry time: ``given``, else the environment variable `RETRY_ENV`, else the default."""
    if given is None:
        text = os.environ.get(RETRY_ENV, "").strip()
        if not text:
            return DEFAULT_RETRY_SECONDS
        try:
            given = float(text)
        except ValueError:
            raise UserError(f"{RETRY_ENV}={text!r}: give the seconds to retry a storage, a number >= 0") from None
    if not (math.isfinite(given) and given >= 0):
        raise UserError(f"storage retry time {given:g}: give the seconds to retry a storage, a finite number >= 0")
    return given


def unavailable(shown: str, seconds: float, reason: str = "") -> StorageUnavailable:
    because = f" ({reason})" if reason else ""
    return StorageUnavailable(f"storage {shown}: unreachable for {seconds:g} s{because}; gave up. Trials left "
                              f"RUNNING are requeued by the next worker. Wait longer with --storage-retry or {RETRY_ENV}")


def transient(error: BaseException) -> bool:
    """Whether ``error`` (or what caused it) is a lost or refused connection to the server, as Optuna
    raises it (`StorageInternalError` from SQLAlchemy's `OperationalError`) or SQLAlchemy does."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, (sql.OperationalError, sql.InterfaceError, sql.DisconnectionError, sql.TimeoutError)):
            return True
        if isinstance(error, sql.DBAPIError) and error.connection_invalidated:
            return True
        error = error.__cause__ or error.__context__
    return False


def reason_of(error: BaseException) -> str:
    """The driver's own first line (``connection failed: ... Connection refused``), else the error's."""
    while error.__cause__ is not None and not isinstance(error, sql.DBAPIError):
        error = error.__cause__
    text = str(error.orig) if isinstance(error, sql.DBAPIError) and error.orig is not None else str(error)
    return (text.strip().splitlines() or [type(error).__name__])[0]


@dataclass
class RetryPolicy:
    """How long and how often to retry; ``clock`` and ``sleep`` are injectable for tests."""

    seconds: float = DEFAULT_RETRY_SECONDS
    first_wait: float = FIRST_WAIT
    longest_wait: float = LONGEST_WAIT
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    say: Callable[[str], None] = field(default=lambda line: print(line, file=sys.stderr, flush=True))


class Resilient(BaseStorage, BaseHeartbeat):
    """``inner`` (an Optuna storage on a server) with every call retried under ``policy``.

    ``shown`` names the storage in messages (its URL without the password); ``scrub`` takes the password
    out of a driver's message."""

    def __init__(self, inner: BaseStorage, shown: str, policy: Optional[RetryPolicy] = None,
                 scrub: Callable[[str], str] = lambda text: text):
        self._inner, self.shown, self.policy, self._scrub = inner, shown, policy or RetryPolicy(), scrub
        self._trouble_at = -math.inf  # the clock when a call last failed for want of the server

    def __getattr__(self, name: str) -> Any:  # anything else the inner storage has (its engine, url, ...)
        if name == "_inner":
            raise AttributeError(name)
        return getattr(self._inner, name)

    def quiet_seconds(self) -> float:
        """Seconds since a call (a heartbeat included) last failed for want of the server (inf: never)."""
        return self.policy.clock() - self._trouble_at

    def _retried(self, name: str, attempt: Callable[[int], Any]) -> Any:
        """``attempt(n)`` (n = 1, 2, ...) until it returns, retrying transient failures; see the module."""
        p = self.policy
        down_since: Optional[float] = None
        wait, n = p.first_wait, 0
        while True:
            n += 1
            try:
                result = attempt(n)
            except Exception as error:  # noqa: BLE001 -- sorted below: only a lost server is retried
                if not transient(error):
                    raise
                now = self._trouble_at = p.clock()
                reason = self._scrub(reason_of(error))
                if down_since is None:
                    down_since = now
                    if p.seconds > 0:
                        p.say(f"storage {self.shown}: unreachable ({name}: {reason}); retrying for up to "
                              f"{p.seconds:g} s")
                left = p.seconds - (now - down_since)
                if left <= 0:
                    raise unavailable(self.shown, p.seconds, reason) from None
                p.sleep(min(wait, left))
                wait = min(2 * wait, p.longest_wait)
                continue
            if down_since is not None:
                p.say(f"storage {self.shown}: reachable again after {p.clock() - down_since:.0f} s")
            return result

    def set_trial_state_values(self, trial_id: int, state: TrialState, values: Optional[Any] = None) -> bool:
        def attempt(n: int) -> bool:
            try:
                return self._inner.set_trial_state_values(trial_id, state=state, values=values)
            except optuna.exceptions.UpdateFinishedTrialError:
                if n > 1 and _landed(self._inner.get_trial(trial_id), state, values):
                    return True  # the lost attempt's commit landed
                raise

        return self._retried("set_trial_state_values", attempt)

    def create_new_trial(self, study_id: int, template_trial: Optional[FrozenTrial] = None) -> int:
        def attempt(n: int) -> int:
            if n > 1 and template_trial is not None and template_trial.state == TrialState.WAITING:
                for trial in self._inner.get_all_trials(study_id, deepcopy=False, states=(TrialState.WAITING,)):
                    if (trial.user_attrs, trial.system_attrs) == (template_trial.user_attrs, template_trial.system_attrs):
                        return trial._trial_id  # the lost attempt's commit landed: queued once
            return self._inner.create_new_trial(study_id, template_trial)

        return self._retried("create_new_trial", attempt)

    def record_heartbeat(self, trial_id: int) -> None:
        try:
            self._inner.record_heartbeat(trial_id)
        except Exception as error:
            if transient(error):
                self._trouble_at = self.policy.clock()
            raise

    def check_trial_is_updatable(self, trial_id: int, trial_state: TrialState) -> None:
        self._inner.check_trial_is_updatable(trial_id, trial_state)


def _landed(trial: FrozenTrial, state: TrialState, values: Optional[Any]) -> bool:
    return trial.state == state and (values is None or list(trial.values or []) == list(values))


def _passed_on(name: str) -> Callable[..., Any]:
    def call(self: Resilient, *args: Any, **kwargs: Any) -> Any:
        return self._retried(name, lambda n: getattr(self._inner, name)(*args, **kwargs))

    call.__name__ = name
    return call


_OWN = {"set_trial_state_values", "create_new_trial", "record_heartbeat", "check_trial_is_updatable"}
for _name in sorted({n for base in (BaseStorage, BaseHeartbeat) for n in vars(base)
                     if not n.startswith("__") and callable(getattr(base, n))} - _OWN):
    setattr(Resilient, _name, _passed_on(_name))  # every other storage call: retried as it is
abc.update_abstractmethods(Resilient)
