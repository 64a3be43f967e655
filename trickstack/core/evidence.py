"""Evidence files: run records as JSON lines (``<year>.runs.jsonl``, a benchmark's ``--records``).

The one reader and writer of such files. Reading checks every line and names the file and line of the
first bad one; writing is atomic (a reader never sees half a file, a failed write leaves the file as it
was); appending adds one whole line or, when it fails (a full disk), nothing.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Iterable, Optional

from pydantic import ValidationError

from trickstack.core.datafiles import check_regular
from trickstack.core.errors import UserError
from trickstack.core.outputs import write_failures, write_file
from trickstack.core.records import RunRecord


def read_runs(path: Path, what: str = "evidence",
              check: Optional[Callable[[RunRecord, int], Optional[str]]] = None) -> list[RunRecord]:
    """The run records of ``path``, in order; `UserError` naming the file (and line) if it cannot be
    read, a line is not a valid run record, or ``check(record, line_number)`` returns a problem. Blank
    lines are skipped."""
    check_regular(path, what)
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        why = "it does not exist" if isinstance(error, FileNotFoundError) else f"it cannot be read ({error})"
        raise UserError(f"{path}: {what} is missing: {why}") from None
    records = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = RunRecord.model_validate_json(line)
        except ValidationError as error:
            first = error.errors()[0]
            where = ".".join(map(str, first["loc"])) or "the line"
            raise UserError(f"{path}:{number}: not a run record ({where}: {first['msg']})") from None
        problem = check(record, number) if check else None
        if problem:
            raise UserError(f"{path}:{number}: {problem}")
        records.append(record)
    return records


def runs_text(records: Iterable[RunRecord]) -> str:
    """The text of an evidence file holding ``records``: one JSON line each."""
    return "".join(r.to_json(indent=None) + "\n" for r in records)


def write_runs(path: Path, records: Iterable[RunRecord]) -> None:
    """Write ``records`` to ``path``, replacing it atomically."""
    write_file(path, runs_text(records))


def append_run(path: Path, record: RunRecord) -> None:
    """Add ``record`` to the end of ``path`` (created if missing) as one line; a write that fails is cut
    back off, so the file never ends in half a line (`trickstack.core.outputs.WriteFailed`)."""
    line = (record.to_json(indent=None) + "\n").encode("utf-8")
    with write_failures(path), open(path, "ab", buffering=0) as handle:
        size = handle.seek(0, os.SEEK_END)
        try:
            view = memoryview(line)
            while view:
                view = view[handle.write(view):]
        except OSError:
            handle.truncate(size)
            raise
