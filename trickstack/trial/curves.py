"""A run's learning curve (`trickstack.core.records.Curve`), recorded while it trains without changing it.

`CurveRecorder` is a Composer callback placed after the `BudgetController`: at the end of each step it adds
the step's loss -- the float the controller already read to detect divergence, so no extra device sync --
and, each time another 1/`CURVE_POINTS` of the budget is spent (the controller's own count, in the budget's
unit), writes a point: the mean loss of the steps since the previous point, with the FLOPs, samples, steps and
training seconds so far. A run shorter than `CURVE_POINTS` steps has a point per step.

A workload whose evaluation is cheap next to training names fractions of the budget in
``Workload.curve_evals``; there the recorder measures the eval metric on the eval split, with a fresh copy of
the model's eval metric, in eval mode and without gradients, with the controller's counters paused
(`BudgetController.outside_budget`): its FLOPs are not charged to the budget and its seconds are not in the
record's ``train_seconds`` (`EVAL_NOTE`). It draws no random number and changes no weight or buffer, so the
run's metric is bit for bit the same as without it (``tests/test_curves.py`` checks this on CPU).
"""

from __future__ import annotations

import copy
import math
import time
from typing import Any, Optional, Sequence

import torch
from composer.core import Callback, State, get_precision_context
from composer.loggers import Logger

from trickstack.core.records import Curve, CurvePoint, EvalPoint
from trickstack.trial.flops import BudgetController

CURVE_POINTS = 64  # points per curve, spaced by the share of the budget spent
SMOOTHING = "mean training loss of the steps since the previous point"
EVAL_NOTE = ("the eval metric on the eval split at these points of training; its FLOPs are not charged to the budget "
             "and its wall time is in neither train_seconds nor eval_seconds (curve.eval_seconds)")


class CurveRecorder(Callback):
    """Records the learning curve of a run spending ``controller``'s budget. ``eval_fractions``: the shares of
    the budget at which ``eval_loader`` is evaluated with the model's eval metric ``metric_key``."""

    def __init__(self, controller: BudgetController, points: int = CURVE_POINTS,
                 eval_fractions: Sequence[float] = (), eval_loader: Any = None, metric_key: Optional[str] = None):
        self.controller = controller
        self.points = points
        self.eval_fractions = sorted(eval_fractions) if eval_loader is not None else []
        self.eval_loader, self.metric_key = eval_loader, metric_key
        self._points: list[tuple] = []  # CurvePoint's fields, made into models once, at the end (no work in the loop)
        self.eval_points: list[EvalPoint] = []
        self.eval_seconds = 0.0  # wall time of the eval points (outside train_seconds)
        self.eval_cpu_seconds = 0.0  # their CPU time (outside train_cpu_seconds)
        self._next = 1  # index of the next point: written when the fraction spent reaches _next / points
        self._loss_sum, self._loss_steps, self._finite = 0.0, 0, True
        self._start = 0.0

    def fit_start(self, state: State, logger: Logger) -> None:
        self._start = time.perf_counter()

    def batch_end(self, state: State, logger: Logger) -> None:
        loss = self.controller.step_loss
        if loss is None or not math.isfinite(loss):
            self._finite = False
        else:
            self._loss_sum += loss
        self._loss_steps += 1
        fraction = self.fraction()
        if fraction * self.points >= self._next:
            self._point(state)
            self._next = math.floor(fraction * self.points) + 1
        if self.eval_fractions and fraction >= self.eval_fractions[0] and not self.controller.diverged:
            while self.eval_fractions and fraction >= self.eval_fractions[0]:
                self.eval_fractions.pop(0)  # one evaluation for the fractions passed in one step
            self._evaluate(state)

    def fit_end(self, state: State, logger: Logger) -> None:
        if self._loss_steps:  # the steps after the last point (the budget ends a little before or after 1)
            self._point(state)

    def fraction(self) -> float:
        return self.controller.spent / self.controller.budget.value

    def curve(self) -> Curve:
        points = [CurvePoint(fraction=f, steps=n, flops=flops, samples=samples, seconds=seconds, train_loss=loss)
                  for f, n, flops, samples, seconds, loss in self._points]
        return Curve(smoothing=SMOOTHING, points=points, eval_points=self.eval_points,
                     eval_note=EVAL_NOTE if self.eval_points else None, eval_seconds=self.eval_seconds)

    def _where(self, state: State) -> tuple:
        return (self.fraction(), self.controller.steps, float(self.controller.flops), int(state.timestamp.sample),
                time.perf_counter() - self._start - self.eval_seconds)

    def _point(self, state: State) -> None:
        self._points.append((*self._where(state), self._loss_sum / self._loss_steps if self._finite else None))
        self._loss_sum, self._loss_steps, self._finite = 0.0, 0, True

    def _evaluate(self, state: State) -> None:
        where = dict(zip(("fraction", "steps", "flops", "samples", "seconds"), self._where(state)))
        model = state.model
        modes = [(m, m.training) for m in model.modules()]  # restored as they were (a trick may keep a part in eval)
        with self.controller.outside_budget(), torch.no_grad(), get_precision_context(state.precision):
            # timed inside the span the budget does not charge, so train_seconds loses no more than the budget does
            start, cpu_start = time.perf_counter(), time.process_time()
            # a fresh copy of the eval metric: the trainer's own stays untouched
            metric = state.device.module_to_device(copy.deepcopy(model.get_metrics(is_train=False)[self.metric_key]))
            model.eval()
            try:
                for batch in self.eval_loader:
                    batch = state.device.batch_to_device(batch)
                    model.update_metric(batch, model.eval_forward(batch), metric)
            finally:
                for module, training in modes:
                    module.training = training
            value = float(metric.compute())
            self.eval_seconds += time.perf_counter() - start
            self.eval_cpu_seconds += time.process_time() - cpu_start
        self.eval_points.append(EvalPoint(**where, value=value if math.isfinite(value) else None))
