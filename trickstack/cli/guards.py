"""Checks the CLI makes before any work: where outputs go, and the wording that names the flags; a study's
storage that cannot be written (a full disk, read-only) named in one message."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Iterator, Optional

from trickstack.core.errors import UserError
from trickstack.core.outputs import OutputExists, check_folder, check_new_file


@contextlib.contextmanager
def out_flag() -> Iterator[None]:
    """Name ``--out`` (and ``--force`` where it helps) in the output errors raised inside the block."""
    try:
        yield
    except OutputExists as error:
        raise UserError(f"--out: {error}; pass --force to write anyway") from None
    except UserError as error:
        raise UserError(f"--out: {error}") from None


def out_file(path: Path, force: bool, storage: Optional[str]) -> Path:
    """``--out FILE`` checked before the study is read: never an existing file without ``--force``,
    never the study's own storage file (even with ``--force``)."""
    from trickstack.ablations.storage import storage_file

    with out_flag():
        return check_new_file(path, overwrite=force, protected=[storage_file(storage)])


def out_folder(path: Path, empty: bool = False) -> Path:
    """``--out FOLDER`` checked before any training or reading: a folder (or one that can be made) that is
    writable, and with ``empty`` one holding nothing yet unless ``--force`` (the caller passes ``not force``)."""
    with out_flag():
        return check_folder(path, empty=empty)


def storage_writes(storage: Optional[str], workers: int = 1) -> contextlib.AbstractContextManager:
    """A block in which ``--storage`` (or the default storage for ``workers``) failing to write because its
    disk is full or it is read-only is one message naming it (`trickstack.ablations.diskfaults`)."""
    from trickstack.ablations.diskfaults import storage_errors
    from trickstack.ablations.storage import default_url, shown_url

    return storage_errors(shown_url(storage or default_url(workers)))
