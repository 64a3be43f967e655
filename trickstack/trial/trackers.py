"""Trackers: each trial also a run in TensorBoard, MLflow or Weights & Biases (offline), through Composer's own loggers.

>>> Tracker.parse("mlflow:sqlite:///runs.db")
Tracker(kind='mlflow', target='sqlite:///runs.db')
>>> Tracker.parse("wandb:runs")
Traceback (most recent call last):
...
trickstack.core.errors.UserError: unknown tracker 'wandb'; give tensorboard:DIR, mlflow:URI or wandb-offline:DIR

A tracker is a setting of the process that trains (a worker on another machine names its own), like its
device: it is not part of a study's identity and no record mentions it. Without a tracker the trainer gets no
logger at all, as before trackers existed: nothing is logged and no time is spent. Each tracker's package is
an optional extra; `Tracker.require` names the extra before any training.

What a tracked run holds: Composer's own metrics (the training loss of every batch and the eval metric; not its
time counters, `COUNTERS`), the tags (`run_tags`: workload, arm, tricks, seed, budget, and the study and its phase
where the trial is a study's) and the hyperparameters (`hyperparameters`: every trick parameter as
``TRICK.PARAM`` and every nuisance value, as the run used them). MLflow and W&B store the tags as tags;
TensorBoard has none, so they go to its hyperparameters (the HParams tab) beside the others.

Curves must not slow training: TensorBoard's and MLflow's metrics are kept in memory while the trial trains and
written when its trainer closes: a list append per batch, where writing each point as it came made a 400-step
MNIST-1D run train 1.19x (TensorBoard) and 1.48x (MLflow) as long on a loaded machine. A trial's curve therefore
appears when the trial ends.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

from composer.core import State
from composer.loggers import Logger, LoggerDestination, MLFlowLogger, TensorboardLogger, WandBLogger
from composer.utils import dist

from trickstack.core.errors import UserError
from trickstack.core.outputs import check_folder

# kind -> (what follows the colon, the module it needs, the extra that installs it)
KINDS = {
    "tensorboard": ("DIR", "tensorboard", "tensorboard"),
    "mlflow": ("URI", "mlflow", "mlflow"),
    "wandb-offline": ("DIR", "wandb", "wandb"),
}
SPELLINGS = ", ".join(f"{kind}:{what}" for kind, (what, _, _) in KINDS.items()).replace(", w", " or w")
PROJECT = "trickstack"  # the MLflow experiment and W&B project of a run outside any study
# Composer's counters (batch, sample, epoch...), logged every batch beside the loss: not written, the step is each
# point's x already (6 points a batch would become 1)
COUNTERS = ("time/", "trainer/")


@dataclass(frozen=True)
class Tracker:
    kind: str  # one of KINDS
    target: str  # an absolute folder (tensorboard, wandb-offline) or an MLflow tracking URI

    @classmethod
    def parse(cls, text: str, local: bool = True) -> "Tracker":
        """``KIND:TARGET``: ``tensorboard:DIR``, ``mlflow:URI`` (e.g. ``mlflow:sqlite:///runs.db``) or
        ``wandb-offline:DIR``; a folder is made absolute and checked, so every worker process writes to the same
        one. Not ``local`` (for workers on other machines, in containers): a folder must be absolute already, and
        is not checked here."""
        kind, _, target = text.partition(":")
        if kind not in KINDS:
            raise UserError(f"unknown tracker {kind!r}; give {SPELLINGS}")
        what = KINDS[kind][0]
        if not target.strip():
            raise UserError(f"tracker {kind} needs a {'folder' if what == 'DIR' else 'tracking URI'}: {kind}:{what}")
        if what == "DIR" and not local:
            if not target.startswith("/"):
                raise UserError(f"give the {kind} folder's absolute path as the workers see it")
        elif what == "DIR":
            target = str(check_folder(Path(target).expanduser().absolute(), f"{kind} folder"))
        return cls(kind, target)

    def __str__(self) -> str:
        return f"{self.kind}:{self.target}"  # as `parse` reads it

    @property
    def extra(self) -> str:
        return KINDS[self.kind][2]

    def require(self) -> None:
        """Raise a `UserError` naming the extra to install where this tracker's package is missing (not imported
        here: MLflow takes seconds to import)."""
        if importlib.util.find_spec(KINDS[self.kind][1]) is None:
            raise UserError(f"tracker {self.kind} needs the {KINDS[self.kind][1]} package: "
                            f"pip install 'trickstack[{self.extra}]'")

    def prepare(self, project: str) -> None:
        """Make what the runs of ``project`` share, once, before several workers start: MLflow's tables (a new
        SQLite store) and its experiment. Two workers that both found neither would race to make them."""
        if self.kind == "mlflow":
            self.require()
            _experiment(self.target, project)

    def logger(self, run_name: str, project: str, tags: Mapping[str, str]) -> LoggerDestination:
        """Composer's logger that writes run ``run_name`` of ``project`` (an MLflow experiment, a W&B project;
        TensorBoard: a folder of ``target``) with ``tags``."""
        self.require()
        if self.kind == "tensorboard":  # events under DIR/PROJECT/RUN_NAME: `tensorboard --logdir DIR`
            return TrialTensorboardLogger(log_dir=str(Path(self.target) / project))
        if self.kind == "mlflow":
            _experiment(self.target, project)  # made here, not in MLFlowLogger: another worker may make it meanwhile
            return TrialMLFlowLogger(experiment_name=project, run_name=run_name, tags=dict(tags), tracking_uri=self.target,
                                     log_system_metrics=False)  # no sampling thread beside the training
        os.environ["WANDB_MODE"] = "offline"  # nothing leaves the machine; `wandb sync DIR/wandb/...` uploads later
        Path(self.target).mkdir(parents=True, exist_ok=True)
        return TrialWandBLogger(project=project, name=run_name, tags=[f"{k}:{v}" for k, v in tags.items()],
                                init_kwargs={"dir": self.target, "mode": "offline", "config": dict(tags)})


def _experiment(uri: str, name: str) -> None:
    """MLflow experiment ``name`` at ``uri``, made unless it exists; where another process made it first (the
    same name refused), it is there to use."""
    from mlflow import MlflowClient  # here: MLflow takes seconds to import, and only its tracker needs it
    from mlflow.exceptions import MlflowException

    logging.getLogger("mlflow").setLevel(logging.WARNING)  # after its import (which sets INFO): no lines about its tables

    client = MlflowClient(uri)
    if client.get_experiment_by_name(name) is None:
        try:
            client.create_experiment(name)
        except MlflowException:
            if client.get_experiment_by_name(name) is None:
                raise


def prepared(trackers: Sequence[Tracker], project: str) -> tuple[Tracker, ...]:
    """``trackers``, each prepared for ``project`` (`Tracker.prepare`) by the one process that starts several
    workers, before they start: two that found a new store empty would race to make it."""
    for tracker in trackers:
        tracker.prepare(project)
    return tuple(trackers)


def kept(metrics: dict[str, Any]) -> dict[str, Any]:
    """``metrics`` less Composer's time counters (`COUNTERS`).

    >>> kept({"loss/train/total": 0.5, "time/batch": 3, "trainer/device_train_microbatch_size": 100})
    {'loss/train/total': 0.5}
    """
    return {k: v for k, v in metrics.items() if not k.startswith(COUNTERS)}


class TrialMLFlowLogger(MLFlowLogger):
    """Composer's MLflow logger, with two changes. Metrics are kept in memory and stored in one batch when the
    trainer closes, after training and evaluation: Composer's makes one ``mlflow.log_metrics`` call for each metric
    as it comes, and each call builds two MLflow clients (a millisecond or more, every batch, inside the training
    time). And ``sys.excepthook`` is left as it was found: Composer's wraps it at every run's start and never
    unwraps it, so a worker's thousandth trial would have a chain of a thousand hooks."""

    def init(self, state: State, logger: Logger) -> None:
        self._excepthook, self._pending = sys.excepthook, []
        super().init(state, logger)

    def log_metrics(self, metrics: dict[str, Any], step: Optional[int] = None) -> None:
        if self._enabled:
            stamp = int(time.time() * 1000)  # milliseconds, as MLflow stamps a metric
            self._pending.extend((k, float(v), stamp, step or 0) for k, v in kept(metrics).items())

    def post_close(self) -> None:
        try:
            if self._enabled and self._pending:
                from mlflow.entities import Metric

                metrics = [Metric(*m) for m in self._pending]
                self._mlflow_client.log_batch(self._run_id, metrics=metrics, synchronous=True)  # MLflow splits it
            super().post_close()
        finally:
            sys.excepthook = self._excepthook


class TrialTensorboardLogger(TensorboardLogger):
    """Composer's TensorBoard logger, with metrics kept in memory and written when the trainer closes, after
    training and evaluation: its writer computes each event's CRC in Python, on a thread that takes the
    interpreter from training at every event. Its hyperparameters are kept as they are: Composer's formats a
    float with four decimals (a learning rate of 1e-5 would show as 0.0000)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, flush_interval=2**62, **kwargs)  # no flush while training: nothing is written then
        self._pending: list[tuple[dict[str, Any], Optional[int]]] = []
        self._paired = False  # whether Composer's wrote the hyperparameters (it does at the end of an evaluation)

    def log_metrics(self, metrics: dict[str, Any], step: Optional[int] = None) -> None:
        metrics = kept(metrics)
        if metrics and not (self.rank_zero_only and dist.get_global_rank() != 0):
            self.current_metrics.update(metrics)  # what Composer's pairs with the hyperparameters at evaluation
            self._pending.append((metrics, step))

    def eval_end(self, state: State, logger: Logger) -> None:
        self._paired = True
        super().eval_end(state, logger)

    def close(self, state: State, logger: Logger) -> None:
        pending, self._pending = self._pending, []
        if self.writer is not None:
            for metrics, step in pending:
                super().log_metrics(metrics, step)
            if not self._paired:  # no evaluation (a diverged run): its tags and values all the same
                self.writer.add_hparams(self.hyperparameters, {f"hparams/{k}": v for k, v in self.current_metrics.items()
                                                               if "loss" in k}, run_name=self.run_name)
        super().close(state, logger)

    def log_hyperparameters(self, hyperparameters: dict[str, Any]) -> None:
        if self.rank_zero_only and dist.get_global_rank() != 0:
            return
        self.hyperparameters.update({k: v if isinstance(v, (bool, int, float, str)) else str(v)
                                     for k, v in hyperparameters.items()})


class TrialWandBLogger(WandBLogger):
    """Composer's W&B logger without the time counters (`kept`); W&B's own process writes its files."""

    def log_metrics(self, metrics: dict[str, Any], step: Optional[int] = None) -> None:
        metrics = kept(metrics)
        if metrics:
            super().log_metrics(metrics, step)


def run_tags(workload: str, arm: str, tricks: list[str], seed: int, budget: Any,
             extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The tags of a tracked trial: what a user filters runs by. ``extra``: the study's (``study``, ``phase``)."""
    return {"workload": workload, "arm": arm, "tricks": ",".join(tricks) or "none", "seed": str(seed),
            "budget": str(budget), **(extra or {})}


def hyperparameters(tricks: Mapping[str, Mapping[str, Any]], nuisance: Mapping[str, Any]) -> dict[str, Any]:
    """Every trick parameter as ``TRICK.PARAM`` and every nuisance value, as the run used them.

    >>> hyperparameters({"ema": {"half_life": "50ba"}}, {"lr": 0.003})
    {'ema.half_life': '50ba', 'lr': 0.003}
    """
    flat = {f"{trick}.{name}": value for trick, params in tricks.items() for name, value in params.items()}
    return {**flat, **nuisance}


def run_name(tags: Mapping[str, str]) -> str:
    """A run's name: its arm and seed, then a random suffix (two runs of one arm and seed stay apart). The suffix
    comes from os.urandom, not from the generators the seed fixes."""
    return f"{tags['arm']}-seed{tags['seed']}-{uuid.uuid4().hex[:8]}"


def run_loggers(trackers: Sequence[Tracker], tags: Mapping[str, str]) -> tuple[str, list[LoggerDestination]]:
    """(the run's name, one Composer logger per tracker); the project is the study, else `PROJECT`."""
    name = run_name(tags)
    project = tags.get("study", PROJECT)
    return name, [tracker.logger(name, project, tags) for tracker in trackers]


def log_hyperparameters(logger: Logger, hparams: Mapping[str, Any], tags: Mapping[str, str]) -> None:
    """Log ``hparams`` to every tracker of the trainer's ``logger``, and ``tags`` too to TensorBoard's (it has no
    tags: its HParams tab shows them beside the hyperparameters)."""
    logger.log_hyperparameters(dict(hparams))
    for destination in logger.destinations:
        if isinstance(destination, TrialTensorboardLogger):
            destination.log_hyperparameters(dict(tags))
