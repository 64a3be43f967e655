"""A progress bar for one trial: how much of the budget is spent, drawn only on a terminal."""

from __future__ import annotations

from composer.core import Callback, State
from composer.loggers import Logger
from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)

from trickstack.trial.flops import BudgetController


class BudgetProgress(Callback):
    """Shows ``controller.spent / budget`` after every step (rich throttles the redraws)."""

    def __init__(self, description: str, console: Console | None = None):
        self.description = description
        self._progress = Progress(
            TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(),
            TextColumn("step {task.fields[step]}"), TimeElapsedColumn(), transient=True, console=console,
        )
        self._task = None
        self._controller: BudgetController | None = None

    def fit_start(self, state: State, logger: Logger) -> None:
        self._controller = next(cb for cb in state.callbacks if isinstance(cb, BudgetController))
        self._progress.start()
        self._task = self._progress.add_task(self.description, total=1.0, step=0)

    def batch_end(self, state: State, logger: Logger) -> None:
        spent = self._controller.spent / self._controller.budget.value
        self._progress.update(self._task, completed=min(1.0, spent), step=self._controller.steps)

    def fit_end(self, state: State, logger: Logger) -> None:
        self._progress.stop()

    @property
    def completed(self) -> float:
        """Fraction of the budget shown as spent."""
        return self._progress.tasks[0].completed if self._progress.tasks else 0.0

    def close(self, state: State, logger: Logger) -> None:
        self._progress.stop()
