"""A coordinator that trains nothing (``ablate --workers 0``, ``recipe derive --workers 0``): it queues each
round's jobs as usual and waits while workers elsewhere (`trickstack worker`, started by hand or by
`trickstack launch slurm|k8s`) run them.

Whether a worker is alive is known from the trials, as the workers' own reaping knows it: a worker takes a
WAITING trial as soon as it has none (it looks every ``--poll`` seconds), and a RUNNING trial whose worker
died is failed and queued again (`trickstack.ablations.storage.reap_dead_trials`: its heartbeat on
PostgreSQL, its pid on this machine). So jobs WAITING with none RUNNING means no worker is alive; the
coordinator reaps too, so that a queue whose every worker died is seen as such. On a journal file a dead
worker on another machine is not reaped (journals have no heartbeat): its trial looks RUNNING for ever.
"""

from __future__ import annotations

import shlex
import time
from dataclasses import dataclass
from typing import Callable, Iterable, Optional

import optuna
from optuna.trial import TrialState

from trickstack.ablations.jobs import job_states
from trickstack.ablations.state import StudyState
from trickstack.ablations.storage import MEMORY, open_storage, reap_dead_trials, shown_url
from trickstack.core.errors import UserError

IDLE_WARNING_SECONDS = 300.0  # jobs waiting with no worker alive this long: the coordinator says so, and again as often
POLL_SECONDS = 2.0  # how often the coordinator looks at the queue (one query: cheap for PostgreSQL)
WORKER_POLL_SECONDS = 10.0  # a worker's --poll in the commands printed: looks for the next round this often
STORAGE_ENV = "TRICKSTACK_STORAGE"  # a worker's storage URL, read from the environment (keeps a password off its command)


@dataclass
class Remote:
    """How a coordinator without workers waits: ``notify`` gets its one-line messages (the command line prints
    them), ``idle_warning`` is the seconds of jobs waiting with no worker alive before it says so."""

    notify: Callable[[str], None] = lambda message: None
    idle_warning: float = IDLE_WARNING_SECONDS
    poll: float = POLL_SECONDS


def check_shared(url: str) -> None:
    """Refuse a storage that workers in other processes cannot share with the coordinator."""
    if url == MEMORY or url.startswith(MEMORY + "://"):
        raise UserError(f"storage {url} lives inside this process: no worker can reach it; a coordinator without "
                        "workers needs postgresql://... (or journal:///FILE on a disk the workers share)")
    if url.startswith("sqlite"):
        raise UserError(f"storage {shown_url(url)}: SQLite is not safe for a coordinator and its workers writing at "
                        "once; use postgresql://... (or journal:///FILE on a disk the workers share)")


def worker_command(study: str, url: str, poll: float = WORKER_POLL_SECONDS) -> str:
    """The command that joins a worker to ``study``, its password shown as ``***``.

    >>> print(worker_command("s", "postgresql://u:pw@db:5432/t"))
    trickstack worker s --storage 'postgresql://u:***@db:5432/t' --poll 10
    """
    return shlex.join(["trickstack", "worker", study, "--storage", shown_url(url), "--poll", f"{poll:g}"])


def wait_for_study(name: str, url: Optional[str], poll: float, notify: Callable[[str], None]) -> None:
    """With ``poll`` > 0, wait until the study ``name`` in ``url`` has been started by its coordinator (a worker
    may start first), saying so once; with 0, return at once (the caller reports a missing study)."""
    storage = open_storage(url)
    told = False
    while poll > 0:
        try:
            if StudyState(optuna.load_study(study_name=name, storage=storage)).spec is not None:
                return
        except KeyError:
            pass
        if not told:
            where = shown_url(url) or "the default storage"
            notify(f"worker: study {name!r} in {where} is not started yet; waiting for its coordinator "
                   f"(trickstack ablate SPEC --workers 0), looking every {poll:g} s")
            told = True
        time.sleep(poll)


def has_password(url: str) -> bool:
    return shown_url(url) != url


def wait_for_workers(study: optuna.Study, keys: Iterable[str], report: Callable[[], None], remote: Remote,
                     command: str) -> None:
    """Wait until none of the jobs ``keys`` is WAITING or RUNNING, reporting progress, and saying (through
    ``remote.notify``, naming ``command``) every ``remote.idle_warning`` seconds that jobs wait with no worker."""
    keys = set(keys)
    idle_since: Optional[float] = None
    warned_at = 0.0
    while True:
        reap_dead_trials(study, study._storage)
        states = job_states(study)
        waiting = sum(states.get(k) == TrialState.WAITING for k in keys)
        if not waiting and not any(states.get(k) == TrialState.RUNNING for k in keys):
            return
        running = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        now = time.monotonic()
        if not waiting or running:
            idle_since = None
        elif idle_since is None:
            idle_since = warned_at = now
        elif now - warned_at >= remote.idle_warning:
            warned_at = now
            remote.notify(f"no worker alive: {waiting} job(s) waiting, none running, for {now - idle_since:.0f} s; "
                          f"start workers: {command}")
        report()
        time.sleep(remote.poll)
