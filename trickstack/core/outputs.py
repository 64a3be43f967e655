"""Files a command writes: checked before any work is done, never overwritten by surprise.

A command that trains or loads a study first checks where its results go, so a bad path costs a
message, not a wasted run. An existing file is replaced only when the caller says so (``overwrite``),
and a protected file (the study's own storage) never is.

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

import os
import tempfile
from pathlib import Path
from typing import Iterable, Optional, Union

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
