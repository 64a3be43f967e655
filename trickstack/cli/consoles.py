"""The command line's two consoles (results on stdout, progress and errors on stderr) and the progress
of a long job's phases."""

from __future__ import annotations

import contextlib
import os
import time
from typing import Callable, Iterator

from rich.console import Console

PIPE_WIDTH = 10_000  # columns of output that goes to a pipe or a file: tables keep every column, lines are not cut


def _console(stderr: bool = False) -> Console:
    """A console that wraps to the terminal's width on a terminal, and elsewhere (a pipe, a file, CI) not at all,
    unless COLUMNS says otherwise: rich's default of 80 columns cut tables and emptied their narrow columns."""
    console = Console(stderr=stderr, emoji=False)  # user text such as "kind:x:" printed as given, not as an emoji
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console.width = PIPE_WIDTH
    return console


out = _console()
err = _console(stderr=True)

Report = Callable[[str, int, int], None]  # (phase label, done, total), as the engine reports


@contextlib.contextmanager
def phase_progress(prefix: str, console: Console = err) -> Iterator[Report]:
    """A callback for the engine's progress reports: one bar per phase on a terminal; elsewhere (a log
    file, CI) a line when a phase starts, at every tenth of it and when it ends, with the elapsed time."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    if console.is_terminal:
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      console=console) as bar:
            tasks: dict[str, int] = {}

            def draw(label: str, done: int, total: int) -> None:
                if label not in tasks:
                    tasks[label] = bar.add_task(f"{prefix}: {label}", total=total)
                bar.update(tasks[label], completed=done, total=total)

            yield draw
        return
    start, last = time.monotonic(), {}

    def log(label: str, done: int, total: int) -> None:
        tenth = done * 10 // total if total else 10
        if last.get(label) == tenth:
            return
        last[label] = tenth
        console.print(f"{prefix}: {label} {done}/{total} ({time.monotonic() - start:.0f} s)", highlight=False)

    yield log
