"""A report written out: to standard output or to files, in any of `FORMATS`."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Iterable, Optional

from rich.console import Console

from trickstack.core.errors import UserError
from trickstack.core.outputs import (
    check_new_file,
    spreadsheet_safe_frame,
    staged_folder,
    write_failures,
    write_file,
)
from trickstack.reports.html import render_html
from trickstack.reports.model import Report
from trickstack.reports.render import (
    csv_tables,
    render_csv,
    render_json,
    render_markdown,
    render_text,
)

FORMATS = ("text", "md", "html", "json", "csv")


def safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)


def write(report: Report, fmt_: str, out_dir: Optional[Path], overwrite: bool = False,
          protected: Iterable[Optional[Path]] = ()) -> tuple[Optional[str], list[Path]]:
    """Render ``report``; return (text for standard output or None, files written). An existing file
    is replaced only with ``overwrite``, a ``protected`` one (the study's storage) never."""
    if fmt_ not in FORMATS:
        raise UserError(f"report format must be one of {', '.join(FORMATS)}, got {fmt_!r}")
    stem = safe_name(report.info.name)
    if fmt_ == "csv" and out_dir is not None:
        with write_failures(out_dir, "the report into it"):
            out_dir.mkdir(parents=True, exist_ok=True)
        tables = csv_tables(report)
        paths = [check_new_file(out_dir / f"{stem}-{key}.csv", overwrite, protected) for key in tables]
        with staged_folder(out_dir) as stage:  # all the tables or none: a failed write leaves the folder as it was
            for path, t in zip(paths, tables.values()):
                spreadsheet_safe_frame(t).to_csv(stage / path.name, index=False)
        return None, paths
    if fmt_ == "text":
        buffer = io.StringIO()
        render_text(report, Console(file=buffer, width=140, color_system=None))
        text = buffer.getvalue()
    elif fmt_ == "html":
        text, out_dir = render_html(report), out_dir or Path(".")
    else:
        text = {"md": render_markdown, "json": render_json, "csv": render_csv}[fmt_](report)
    if out_dir is None:
        return text, []
    with write_failures(out_dir, "the report into it"):
        out_dir.mkdir(parents=True, exist_ok=True)
    path = check_new_file(out_dir / f"{stem}-report.{'txt' if fmt_ == 'text' else fmt_}", overwrite, protected)
    return None, [write_file(path, text)]
