"""Files a command writes: checked before any work is done, never overwritten by surprise, never half written.

A command that trains or loads a study first checks where its results go, so a bad path costs a
message, not a wasted run. An existing file is replaced only when the caller says so (``overwrite``),
and a protected file (the study's own storage) never is.

Every output is written atomically (`write_file`, `replacing`; a folder of files: `staged_folder`): to a
temporary file in the same folder, then renamed into place (``os.replace``), so a write that fails (a full
disk, a read-only folder) leaves the previous file as it was, and the same command run again succeeds.
Such a failure is a `UserError` naming the file and saying what happened.

>>> import tempfile
>>> folder = Path(tempfile.mkdtemp())
>>> check_new_file(folder / "runs.csv") == folder / "runs.csv"
True
>>> _ = (folder / "runs.csv").write_text("seed\\n0\\n")
>>> check_new_file(folder / "runs.csv")  # doctest: +IGNORE_EXCEPTION_DETAIL
Traceback (most recent call last):
OutputExists: /tmp/.../runs.csv exists: not overwritten
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import shutil
import tempfile
from pathlib import Path
from typing import Iterable, Iterator, Optional, Union

from trickstack.core.errors import UserError

PathLike = Union[str, os.PathLike]


class OutputExists(UserError):
    """An output file exists and the caller did not ask to replace it."""


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def _probe(folder: Path, failure: str = "") -> None:
    """Raise a `UserError` unless a file can be created in ``folder`` (os.access is blind for root)."""
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as error:
        raise UserError((failure or f"{folder}: cannot write there") + f" ({error.strerror or error})") from None


def check_folder(folder: PathLike, what: str = "output folder", empty: bool = False) -> Path:
    """``folder`` checked to receive files, without creating it: a folder that exists and is writable, or
    one that can be created (its nearest existing parent is a writable folder); a file is refused, and with
    ``empty`` a folder that holds anything (`OutputExists`: what is written there could replace it)."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise UserError(f"{folder}: the {what} is a file, not a folder")
    if empty and folder.is_dir() and any(folder.iterdir()):
        raise OutputExists(f"{folder} is not empty: files written there may replace files in it")
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise UserError(f"{folder}: cannot create the {what}: {existing} is a file")
    _probe(existing, "" if existing == folder else f"{folder}: cannot create the {what} in {existing}")
    return folder


def check_new_file(path: PathLike, overwrite: bool = False, protected: Iterable[Optional[PathLike]] = (),
                   what: str = "output file") -> Path:
    """``path`` checked for writing a file: its folder exists and is writable; it is not a folder; an
    existing file is refused (`OutputExists`) unless ``overwrite``; a ``protected`` file always is."""
    path = Path(path)
    for keep in protected:
        if keep is not None and _same_file(path, Path(keep)):
            raise UserError(f"{path} is the study's own storage: it is never overwritten")
    if path.is_dir():
        raise UserError(f"{path}: the {what} is a folder")
    parent = path.parent
    if not parent.is_dir():
        raise UserError(f"{path}: no folder {parent} to write the {what} in")
    if len(path.name.encode()) > 255:
        raise UserError(f"{path}: the file name is longer than 255 bytes")
    if path.exists() and not overwrite:
        raise OutputExists(f"{path} exists: not overwritten")
    _probe(parent)
    return path


DISK_FULL = frozenset({errno.ENOSPC, errno.EDQUOT})
READ_ONLY = frozenset({errno.EROFS, errno.EACCES, errno.EPERM})
FULL = "the disk is full"


def write_problem(error: BaseException) -> Optional[str]:
    """What a failed write says about the place written to: ``"the disk is full"``, ``"it is read-only"``
    (or not writable) or None (another failure, not this module's to word).

    >>> write_problem(OSError(errno.ENOSPC, "No space left on device")), write_problem(ValueError("x"))
    ('the disk is full', None)
    """
    if isinstance(error, OSError) and error.errno in DISK_FULL:
        return FULL
    if isinstance(error, OSError) and error.errno in READ_ONLY:
        return "it is read-only" if error.errno == errno.EROFS else "it is not writable (permission denied)"
    return None


def remedy(problem: str) -> str:
    """What to do about a `write_problem`, after which the same command succeeds."""
    return ("free some space" if problem == FULL else "make it writable") + ", then run the same command again"


class WriteFailed(UserError):
    """A file could not be written (a full disk, a read-only place); what was there before is unchanged."""


@contextlib.contextmanager
def write_failures(target: PathLike, what: str = "") -> Iterator[None]:
    """Turn a full disk or a read-only place met inside the block into a `WriteFailed` naming ``target``."""
    try:
        yield
    except OSError as error:
        problem = write_problem(error)
        if problem is None:
            raise
        raise WriteFailed(f"{target}: cannot write {what or 'it'}: {problem}; nothing there was changed "
                          f"({remedy(problem)})") from None


def _temporary(path: Path) -> Path:
    return path.with_name(f".{path.name[:200]}.{secrets.token_hex(4)}.tmp")  # hidden, in the same folder


@contextlib.contextmanager
def replacing(path: PathLike, overwrite: bool = True) -> Iterator[Path]:
    """A temporary path beside ``path`` for the block to write; when the block ends without error it
    replaces ``path`` in one step (``os.replace``), otherwise it is removed and ``path`` is as it was.
    Without ``overwrite`` an existing ``path`` is never replaced (`FileExistsError`)."""
    path = Path(path)
    temporary = _temporary(path)
    try:
        with write_failures(path):
            yield temporary
            if overwrite:
                os.replace(temporary, path)
            else:
                os.link(temporary, path)  # fails if path exists, whoever made it meanwhile
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)


def write_file(path: PathLike, data: Union[str, bytes], overwrite: bool = True) -> Path:
    """Write ``data`` (text as UTF-8) to ``path`` atomically (see `replacing`); return ``path``.

    >>> folder = Path(tempfile.mkdtemp())
    >>> write_file(folder / "a.txt", "one\\n").read_text(), sorted(p.name for p in folder.iterdir())
    ('one\\n', ['a.txt'])
    """
    path = Path(path)
    with replacing(path, overwrite) as temporary:
        with open(temporary, "xb") as file:
            file.write(data.encode("utf-8") if isinstance(data, str) else data)
            file.flush()
            os.fsync(file.fileno())  # the bytes are on disk before the name points at them
    return path


@contextlib.contextmanager
def staged_folder(folder: PathLike) -> Iterator[Path]:
    """An empty temporary folder for the block to write ``folder``'s files in. When the block ends without
    error they are moved into ``folder`` (created if missing; a file replaces one of the same name, other
    files stay); otherwise they are removed and ``folder`` is as it was. The stage is on the same file
    system as ``folder`` (inside it, or beside it when it does not exist yet), so each move is a rename."""
    folder = Path(folder)
    exists = folder.is_dir()
    with write_failures(folder, "into it"):
        if not exists:
            folder.parent.mkdir(parents=True, exist_ok=True)
        stage = Path(tempfile.mkdtemp(prefix=f".{folder.name}.staging-" if not exists else ".staging-",
                                      dir=folder if exists else folder.parent))
    try:
        with write_failures(folder, "into it"):
            yield stage
            if exists:
                _move_into(stage, folder)
            else:
                os.rename(stage, folder)
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def _move_into(source: Path, target: Path) -> None:
    for entry in source.iterdir():
        if entry.is_dir():
            (target / entry.name).mkdir(exist_ok=True)
            _move_into(entry, target / entry.name)
        else:
            os.replace(entry, target / entry.name)


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")  # a spreadsheet reads a cell starting so as a formula


def spreadsheet_safe(value):
    """A CSV cell that a spreadsheet shows as text: a string starting like a formula gets a leading ``'``
    (OWASP's CSV-injection rule); numbers and other strings are returned unchanged.

    >>> spreadsheet_safe('=HYPERLINK("http://x")'), spreadsheet_safe(-0.5), spreadsheet_safe("ema")
    ('\\'=HYPERLINK("http://x")', -0.5, 'ema')
    """
    return "'" + value if isinstance(value, str) and value.startswith(FORMULA_STARTS) else value


def spreadsheet_safe_frame(frame):
    """A copy of a pandas DataFrame with every cell passed through `spreadsheet_safe` (headers too)."""
    safe = (frame.map if hasattr(frame, "map") else frame.applymap)(spreadsheet_safe)  # map: pandas >= 2.1
    safe.columns = [spreadsheet_safe(c) for c in safe.columns]
    return safe
