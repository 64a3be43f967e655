"""A study's storage on a full disk or a read-only file system: one message naming the storage, not a traceback.

Two kinds of storage live in a local file, and each fails in its own words:

- Optuna's journal file writes with plain file calls. `JournalFile` is Optuna's `JournalFileBackend`
  whose append, when it fails, cuts the file back to where it was (an entry cut off mid-write would
  corrupt the next one appended after it), and raises a `UserError` naming the journal.
- SQLite (through SQLAlchemy) says ``database or disk is full`` or ``attempt to write a readonly
  database``, wrapped by Optuna in a `StorageInternalError`. `storage_errors` turns exactly those (and a
  server's ``No space left on device``) into a `UserError` naming the storage; any other error passes.

A failed write changes nothing that was stored: after space is freed, the same command continues the study.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any, Iterator, Optional

from optuna.exceptions import StorageInternalError
from optuna.storages.journal import JournalFileBackend, JournalFileSymlinkLock
from sqlalchemy.exc import SQLAlchemyError

from trickstack.core.errors import UserError
from trickstack.core.outputs import FULL, remedy, write_problem

# What a database driver says (SQLite's own messages; PostgreSQL quotes the OS's), and what it means.
DRIVER_MESSAGES = {
    "database or disk is full": FULL,
    "No space left on device": FULL,
    "attempt to write a readonly database": "it is read-only",
}


def advice(problem: str) -> str:
    return f"{problem}; nothing stored was lost ({remedy(problem)})"


def storage_problem(error: BaseException) -> Optional[str]:
    """``"the disk is full"`` or ``"it is read-only"`` when ``error`` (or an error it was raised from) is a
    storage's write failing for that reason; None for anything else.

    >>> import errno
    >>> storage_problem(StorageInternalError("commit failed")) is None
    True
    >>> storage_problem(OSError(errno.EROFS, "Read-only file system"))
    'it is read-only'
    """
    seen: Optional[BaseException] = error
    while seen is not None:
        problem = write_problem(seen)
        if problem is None and isinstance(seen, (SQLAlchemyError, StorageInternalError)):
            problem = next((p for text, p in DRIVER_MESSAGES.items() if text in str(seen)), None)
        if problem is not None:
            return problem
        seen = seen.__cause__ or seen.__context__
    return None


def read_only_file(path: Optional[Path]) -> Optional[str]:
    """``"it is read-only"`` when a storage file (or the folder it would be made in, where SQLite also keeps
    its journal) cannot be written: what SQLite's "unable to open database file" often means."""
    if path is None:
        return None
    folder = path.parent if str(path.parent) else Path(".")
    if (path.exists() and not os.access(path, os.W_OK)) or (folder.is_dir() and not os.access(folder, os.W_OK)):
        return "it is read-only"
    return None


@contextlib.contextmanager
def storage_errors(shown: str) -> Iterator[None]:
    """Inside the block, a database storage (``shown``: its URL fit to print) that cannot write because its
    disk is full or it is read-only is a `UserError` naming it; every other error passes unchanged."""
    try:
        yield
    except (SQLAlchemyError, StorageInternalError) as error:
        problem = storage_problem(error)
        if problem is None:
            raise
        raise UserError(f"storage {shown}: cannot write to it: {advice(problem)}") from None


class JournalFile(JournalFileBackend):
    """Optuna's journal file backend, whose failed append leaves the file as it was and says why, naming it."""

    def __init__(self, path: str) -> None:
        self._path = path
        self._guard = JournalFileSymlinkLock(path)  # Optuna's default lock, kept here to append under it
        with self._failures():
            super().__init__(path, lock_obj=self._guard)

    @contextlib.contextmanager
    def _failures(self) -> Iterator[None]:
        try:
            yield
        except OSError as error:
            problem = write_problem(error)
            if problem is None:
                raise
            raise UserError(f"journal {self._path}: cannot write to it: {advice(problem)}") from None

    def append_logs(self, logs: list[dict[str, Any]]) -> None:
        """As Optuna appends (one JSON line per entry, under the lock, synced); on failure, cut back."""
        # Exactly Optuna's entries: compact JSON, one a line (`storage.JOURNAL_LINE_START` relies on it).
        text = "".join(json.dumps(log, separators=(",", ":")) + "\n" for log in logs).encode("utf-8")
        with self._failures():
            self._guard.acquire()
            try:
                handle = os.open(self._path, os.O_WRONLY | os.O_APPEND)
                try:
                    size = os.fstat(handle).st_size
                    try:
                        view = memoryview(text)
                        while view:
                            view = view[os.write(handle, view):]
                        os.fsync(handle)
                    except OSError:
                        os.ftruncate(handle, size)  # no entry cut off mid-line; frees, so it needs no space
                        raise
                finally:
                    os.close(handle)
            finally:
                self._guard.release()

