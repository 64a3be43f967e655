"""Where studies live, and how a dead worker's trial is found and handed to another worker.

``--storage`` takes an Optuna RDB URL (``sqlite:///study.db``, ``postgresql://...``),
``journal:///path/to/file.log`` for Optuna's journal file, or ``memory`` (``memory://NAME``) for a
storage that lives as long as the process (one worker: simulated studies, tests). The default is an
embedded SQLite file in the working directory; several local worker processes need the journal file
(SQLite is not safe for concurrent writers). PostgreSQL serves workers on several machines.

A trial whose worker died is detected in two ways and put back in the queue (as a new WAITING trial
with the same job), never lost and never run twice to completion:

- on this machine, by its worker's pid and process start time (any storage), when the worker ran in
  this process's PID namespace (a container or ``unshare --pid`` has its own pids: not comparable);
- on RDB storages, also by Optuna's heartbeat: a RUNNING trial whose heartbeat is older than the
  grace period is failed by `optuna.storages.fail_stale_trials` (workers on other machines, or in
  other PID namespaces). The interval and grace are `heartbeat_timing` (environment, else defaults).

The retry of a dead trial says why in ``retry_reason`` (`REAPED`). Each process keeps at most
`POOL_SIZE` + `MAX_OVERFLOW` connections to a database server (see `_engine_kwargs`).

A storage on a server (PostgreSQL, MySQL) is wrapped in `trickstack.ablations.resilient.Resilient`: a
call that fails because the server stopped answering is retried for a bounded time, not a traceback.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
import time
import warnings
from datetime import datetime, timedelta
from pathlib import Path
from typing import Iterator, Optional

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; two first-ever processes on one new SQLite file may collide
    fcntl = None  # type: ignore[assignment]

import optuna
import psutil
from optuna.storages import JournalStorage, RDBStorage, _CachedStorage
from optuna.trial import FrozenTrial, TrialState
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from trickstack.ablations.diskfaults import JournalFile, advice, read_only_file, storage_problem
from trickstack.ablations.proxy import GRPC, open_proxy
from trickstack.ablations.resilient import Resilient, RetryPolicy, retry_seconds
from trickstack.ablations.state import JobTrial
from trickstack.core.errors import DataWarning, UserError

DEFAULT_SQLITE = "sqlite:///trickstack.db"
DEFAULT_JOURNAL = "journal:///trickstack.journal"
HEARTBEAT_SECONDS = 10  # RDB workers record a heartbeat this often while a trial runs
GRACE_SECONDS = 60  # ... and a trial silent for this long is taken as dead
HEARTBEAT_ENV, GRACE_ENV = "TRICKSTACK_HEARTBEAT_SECONDS", "TRICKSTACK_HEARTBEAT_GRACE"  # whole seconds, override both
POOL_SIZE = 1  # database connections a process keeps open: its trial loop's (Optuna opens one session per call)
MAX_OVERFLOW = 1  # ... plus one while its heartbeat thread writes at the same moment, closed when returned
REAPED = {"pid": "its worker's process ended (same machine)", "heartbeat": "its heartbeat went stale",
          "unclaimed": "no worker claimed it", "released": "its worker was stopped (SIGTERM) and released it"}
UNCLAIMED_SECONDS = 120  # a RUNNING trial with no worker recorded after this long is dead too


MEMORY = "memory"  # an in-process storage: gone when the process ends (tests, `trickstack plan`)
_MEMORY: dict[str, optuna.storages.InMemoryStorage] = {}


def drop_memory(url: str) -> None:
    """Forget the in-memory storage of ``url`` (``memory`` or ``memory://NAME``), if any."""
    _MEMORY.pop(url, None)


def default_url(workers: int) -> str:
    """SQLite for one worker in the coordinator's process; else (local worker processes, or ``0``: workers
    elsewhere) the journal file, which several processes may write."""
    return DEFAULT_SQLITE if workers == 1 else DEFAULT_JOURNAL


def shown_url(url: Optional[str]) -> str:
    """``url`` fit to print: any password replaced by ``***`` (``postgresql://u:***@host/db``).

    Every message, report and record that names a storage goes through this.

    >>> shown_url("postgresql://u:secret@127.0.0.1:1/db")
    'postgresql://u:***@127.0.0.1:1/db'
    """
    if not url or "://" not in url or url.startswith(("journal://", MEMORY)):
        return url or ""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):  # not a URL SQLAlchemy can read: hide what may be user:password@
        scheme, _, rest = url.partition("://")
        return f"{scheme}://***@{rest.rpartition('@')[2]}" if "@" in rest else url


def _without_password(text: str, url: str) -> str:
    """``text`` (a driver's message, which may quote the URL) with the URL's password replaced by ``***``."""
    try:
        password = make_url(url).password
    except (ArgumentError, ValueError):
        password = None
    return text.replace(url, shown_url(url)).replace(str(password), "***") if password else text


JOURNAL_LINE_START = b'{"op_code":'  # how Optuna writes every journal entry (compact JSON, op_code first)
WRITE_SETTLE_SECONDS = 0.5  # an unfinished last line still unfinished after this long was cut off, not being written


def check_journal(path: Path) -> None:
    """Refuse a journal ``path`` that is a folder, unreadable, or not an Optuna journal (a line that is not
    an entry), naming the file and line; warn (`DataWarning`) when its last line was cut off mid-write,
    since Optuna then skips that operation without a word."""
    if path.is_dir():
        raise UserError(f"journal {path} is a folder: give a file in it, e.g. journal://{path / 'study.log'}")
    if not path.exists():
        return  # a new journal
    try:
        with open(path, "rb") as file:
            number, line = 0, b""
            for number, line in enumerate(file, start=1):
                if not line.endswith(b"\n"):
                    break  # the last line, unfinished
                try:
                    entry = json.loads(line)
                except ValueError:
                    entry = None
                if not isinstance(entry, dict) or "op_code" not in entry:
                    raise UserError(f"journal {path}: line {number} is not an Optuna journal entry (the file is "
                                    "corrupted, or is not a journal)")
    except OSError as error:
        raise UserError(f"journal {path}: cannot read it ({error.strerror or error})") from None
    if line and not line.endswith(b"\n"):
        if not line.startswith(JOURNAL_LINE_START[: len(line)]):
            raise UserError(f"journal {path}: line {number} is not an Optuna journal entry (the file is corrupted, "
                            "or is not a journal)")
        time.sleep(WRITE_SETTLE_SECONDS)  # another process may be appending that line right now
        if not _ends_a_line(path):
            warnings.warn(DataWarning(f"journal {path}: line {number} was cut off mid-write (no end of line): the "
                                      "operation it held is lost and is ignored"), stacklevel=2)


def _ends_a_line(path: Path) -> bool:
    with open(path, "rb") as file:
        file.seek(-1, os.SEEK_END)
        return file.read(1) == b"\n"


def storage_file(url: Optional[str]) -> Optional[Path]:
    """The local file a SQLite or journal storage lives in (None for a server or in-memory storage)."""
    url = url or DEFAULT_SQLITE
    if url.startswith("journal://"):
        return Path(url[len("journal://"):]) if url[len("journal://"):] else None
    if url.startswith("sqlite"):
        try:
            database = make_url(url).database
        except (ArgumentError, ValueError):
            return None
        return Path(database) if database and database != ":memory:" else None
    return None


def heartbeat_timing() -> tuple[int, int]:
    """(seconds between heartbeats, seconds of silence after which a trial is dead): `HEARTBEAT_ENV` and
    `GRACE_ENV` when set (short ones rehearse a fleet's failures in seconds), else the defaults."""
    timing = []
    for env, default in ((HEARTBEAT_ENV, HEARTBEAT_SECONDS), (GRACE_ENV, GRACE_SECONDS)):
        text = os.environ.get(env, "").strip()
        if text and not (text.isdigit() and int(text) > 0):
            raise UserError(f"{env}={text!r}: give whole seconds, a number > 0")
        timing.append(int(text) if text else default)
    if timing[1] <= timing[0]:
        raise UserError(f"heartbeat grace {timing[1]} s is not longer than the heartbeat interval {timing[0]} s: a live "
                        f"trial would be taken as dead ({GRACE_ENV}, {HEARTBEAT_ENV})")
    return timing[0], timing[1]


def open_storage(url: Optional[str], workers: int = 1, retry: Optional[float] = None,
                 outage_lines: bool = True, pool_size: int = POOL_SIZE) -> optuna.storages.BaseStorage:
    """An Optuna storage for ``url``; a bad or unreachable URL is a `UserError`. A server's storage retries
    a call through an outage for ``retry`` seconds (`resilient.retry_seconds`), printing a line as each
    outage starts and ends unless ``outage_lines`` is false (a local worker: its coordinator prints them).
    ``grpc://HOST:PORT`` is Optuna's storage proxy (`trickstack.ablations.proxy`). ``pool_size``: database
    connections kept open (a proxy serving many threads keeps more)."""
    if url is not None and not url.strip():
        raise UserError("storage is empty: give a URL (sqlite:///FILE, postgresql://..., journal:///FILE) or leave "
                        f"the option out for the default ({default_url(workers)})")
    url = url or default_url(workers)
    shown = shown_url(url)  # every message below names the storage without its password
    if url == MEMORY or url.startswith(MEMORY + "://"):  # one storage per URL for the life of the process
        if workers > 1:
            raise UserError(f"storage {shown} lives inside one process: it cannot serve {workers} worker processes")
        return _MEMORY.setdefault(url, optuna.storages.InMemoryStorage())
    if url.startswith("journal://"):
        path = url[len("journal://"):]
        if not path:
            raise UserError(f"storage {shown}: give a file, e.g. journal:///runs/study.log")
        try:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise UserError(f"storage {shown}: cannot make the folder {Path(path).parent} ({error.strerror or error})") from None
        check_journal(Path(path))
        return JournalStorage(JournalFile(path))  # a failed append: one message, the file as it was
    if url.startswith(GRPC):
        return open_proxy(url)
    if workers > 1 and url.startswith("sqlite"):
        raise UserError(f"storage {shown}: SQLite is not safe for {workers} concurrent workers; use "
                        f"journal:///path/to/file.log (local) or postgresql://... (several machines)")
    if "://" not in url:
        raise UserError(f"storage {shown!r} is not a URL: use sqlite:///FILE, postgresql://..., or journal:///FILE")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)  # heartbeat_interval
            interval, grace = heartbeat_timing()
            with _schema_lock(url):
                rdb = RDBStorage(url, heartbeat_interval=interval, grace_period=grace,
                                 heartbeat_stale_trial_callback=requeue, engine_kwargs=_engine_kwargs(url, pool_size))
    except Exception as error:  # SQLAlchemy raises many kinds: driver missing, refused, bad URL
        hint = " (install the driver: pip install 'trickstack[postgres]')" if "import DB access module" in str(error) else ""
        problem = storage_problem(error) or read_only_file(storage_file(url))
        reason = advice(problem) if problem else _without_password(str(error).splitlines()[0], url)
        raise UserError(f"storage {shown}: cannot open the storage: {reason}{hint}") from None
    if url.startswith("sqlite"):
        return rdb  # a local file: no server to come back (its errors are reported at once)
    # Optuna caches an RDB storage's finished trials (`_CachedStorage`) when handed one; so does this.
    policy = RetryPolicy(seconds=retry_seconds(retry))
    if not outage_lines:
        policy.say = _silent
    return Resilient(_CachedStorage(rdb), shown, policy, scrub=lambda text: _without_password(text, url))


def _silent(line: str) -> None:
    pass


@contextlib.contextmanager
def _schema_lock(url: str) -> Iterator[None]:
    """For a SQLite file, hold an exclusive lock on its folder while Optuna creates (or checks) its tables:
    two processes opening a new file at once would both create them ("table ... already exists").
    The folder is locked, not the database file, so SQLite's own locks on that file are left alone."""
    path = storage_file(url) if url.startswith("sqlite") else None
    if path is None or fcntl is None or not path.parent.is_dir():
        yield
        return
    handle = os.open(path.parent, os.O_RDONLY)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield
    finally:
        os.close(handle)  # releases the lock


def _engine_kwargs(url: str, pool_size: int = POOL_SIZE) -> dict:
    """SQLAlchemy's pool for a database server, bounded: a fleet of N worker processes holds about N
    connections, at most N * (`POOL_SIZE` + `MAX_OVERFLOW`) (SQLAlchemy's default would keep up to 15 each)."""
    if url.startswith("sqlite"):
        return {}
    bounded = {"pool_size": pool_size, "max_overflow": MAX_OVERFLOW}
    return {**bounded, "pool_pre_ping": True} if url.startswith("postgresql") else bounded


def requeue(study: optuna.Study, trial: FrozenTrial, reason: str = "heartbeat") -> None:
    """Put a dead trial's job back in the queue as a new WAITING trial (its params and job attrs); the new
    trial's ``retry_reason`` says why (a key of `REAPED`: Optuna's heartbeat callback passes none)."""
    study.enqueue_trial(trial.params | _fixed_params(trial), user_attrs=JobTrial(trial).retry_attrs(reason))


def _fixed_params(trial: FrozenTrial) -> dict:
    return dict(trial.system_attrs.get("fixed_params", {}))


def pid_namespace() -> Optional[str]:
    """This process's PID namespace (``pid:[4026531836]``; None where /proc has none): pids compare only inside one."""
    try:
        return os.readlink("/proc/self/ns/pid")
    except OSError:
        return None


def worker_identity() -> dict:
    me = psutil.Process()
    return {"host": socket.gethostname(), "pidns": pid_namespace(), "pid": me.pid, "started": me.create_time()}


def _alive(identity: dict) -> bool:
    try:
        return psutil.Process(identity["pid"]).create_time() == identity["started"]
    except (psutil.NoSuchProcess, psutil.AccessDenied, KeyError):
        return False


def reap_dead_trials(study: optuna.Study, storage: optuna.storages.BaseStorage) -> int:
    """Fail and requeue RUNNING trials whose worker is gone; return how many were found."""
    if not isinstance(storage, Resilient) or storage.quiet_seconds() > heartbeat_timing()[1]:
        with warnings.catch_warnings():  # (just after an outage, a live trial's heartbeat may be stale: wait)
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            optuna.storages.fail_stale_trials(study)  # RDB heartbeats (its callback requeues)
    here, now, found = (socket.gethostname(), pid_namespace()), datetime.now(), 0
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        worker = JobTrial(trial).worker
        if worker is None:
            dead = trial.datetime_start is not None and now - trial.datetime_start > timedelta(seconds=UNCLAIMED_SECONDS)
        else:  # (a worker recorded before pid namespaces were: never judged by its pid, only by its heartbeat)
            dead = (worker.get("host"), worker.get("pidns")) == here and not _alive(worker)
        if dead:
            try:
                if storage.set_trial_state_values(trial._trial_id, state=TrialState.FAIL):
                    requeue(study, trial, "pid" if worker else "unclaimed")
                    found += 1
            except optuna.exceptions.UpdateFinishedTrialError:
                pass  # another process got there first
    return found


class Heartbeat:
    """Records an RDB heartbeat for a trial while it runs (Optuna only does this inside optimize())."""

    def __init__(self, storage: optuna.storages.BaseStorage, trial_id: int):
        self.storage, self.trial_id = storage, trial_id
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None

    def __enter__(self) -> "Heartbeat":
        if isinstance(self.storage, (RDBStorage, Resilient)):
            self._beat_once()
            self._thread = threading.Thread(target=self._beat, daemon=True)
            self._thread.start()
        return self

    def _beat(self) -> None:
        while not self._stop.wait(heartbeat_timing()[0]):
            self._beat_once()

    def _beat_once(self) -> None:
        try:
            self.storage.record_heartbeat(self.trial_id)
        except Exception:  # noqa: BLE001 -- a passing database error must not silence the heartbeat for good
            pass

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
