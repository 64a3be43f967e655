"""Microseconds per step that trickstack adds to a hand-written loop, at 10, 100 and 1,000 parameter tensors.

The model is trivial on purpose, so that what is measured is the training loop's own cost: ``n`` modules of
one parameter tensor each (16 numbers: an 8x2 weight), summed into the weight of one linear map of 8 features
to 2 classes, trained with SGD (torch's ``foreach`` implementation: one op per step for all tensors) on
batches of 32. The hand-written loop and `run_trial` train the same model from the same initialisation on
the same batches for the same number of steps; each is timed from its first step to its last (for
trickstack: FIT_START to FIT_END, so the trainer's construction and the evaluation are left out; its first
step, whose FLOPs are counted, and its audited steps are in). The two alternate within one process,
repetition by repetition, and the median of each is taken, so drifts in machine load hit both alike.
Printed per tensor count: the hand-written loop's and trickstack's microseconds per step, and the
difference (the goal: at most 150 us, flat from 10 to 1,000 tensors), and the difference on trickstack's
steps whose FLOPs were not counted (the rest of the difference is the first step's and the audited steps'
FLOP count, a cost in proportion to a step's ops), each in wall-clock and in this process's CPU time (the
steadier of the two on a shared machine).

With ``--breakdown``, then, where a step's time goes in each loop (`trickstack.benchmarks.step_parts`): the
loader, forward, loss, backward, SGD's update, ``zero_grad`` and, in trickstack, Composer's events with their
algorithms and callbacks; and the rest.

    python -m trickstack.benchmarks.step_cost [--tensors 10 100 1000] [--steps 1000] [--repeats 5] [--threads 1]
                                              [--breakdown]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from composer.core import Callback
from composer.utils import reproducibility
from torch import nn

from trickstack.benchmarks import step_parts
from trickstack.benchmarks.overhead import hand_written  # the same plain loop (moving batches as Composer does)
from trickstack.core.budget import Budget
from trickstack.core.params import Param
from trickstack.trial.composer_patches import apply_patches
from trickstack.trial.flops import AUDIT_WINDOW, BudgetController
from trickstack.trial.runner import run_trial
from trickstack.workloads import Workload
from trickstack.workloads.data import Splits
from trickstack.workloads.small_classifier import classifier, make_schedule

FEATURES, CLASSES = 8, 2  # each parameter tensor is one 8x2 weight: 16 numbers
BATCH = 32
TRAIN_SIZE = 32 * 64  # 64 steps an epoch: epoch ends are part of both loops
GOAL_US = 150  # trickstack's cost per step over the hand-written loop (issue 24)


class SummedWeights(nn.Module):
    """``n`` modules of one (8, 2) weight each; the logits are ``x @ (w_1 + ... + w_n)``."""

    output_layer = None

    def __init__(self, n: int):
        super().__init__()
        self.parts = nn.ModuleList(nn.Linear(FEATURES, CLASSES, bias=False) for _ in range(n))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x @ torch.stack([part.weight for part in self.parts]).sum(0).T


def _splits() -> Splits:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(TRAIN_SIZE + BATCH, FEATURES, generator=g)
    y = (x[:, 0] > 0).long()
    return Splits(x[:TRAIN_SIZE], y[:TRAIN_SIZE], x[TRAIN_SIZE:], y[TRAIN_SIZE:])


def _sgd(model: nn.Module, hp) -> torch.optim.Optimizer:
    return torch.optim.SGD(model.parameters(), lr=hp["lr"], foreach=True)  # one op for all tensors, also on CPU


def workload(n: int) -> Workload:
    """A trivial workload whose model has ``n`` parameter tensors."""
    splits = _splits()
    return Workload(
        name=f"step-cost-{n}", domain="benchmark", summary=f"{n} parameter tensors summed into one linear map",
        provides=("classification",), metric="accuracy", metric_key="MulticlassAccuracy", direction="maximize",
        batch_size=BATCH, eval_batch_size=BATCH, reference_steps=1, reference_note="a benchmark's, not a reference",
        nuisance=(Param("lr", 0.01, low=1e-4, high=1.0, log=True, help="SGD's learning rate"),),
        build_model=lambda: classifier(SummedWeights(n), num_classes=CLASSES), load_splits=lambda: splits,
        make_optimizer=_sgd, make_schedule=make_schedule,
    )


def _clocks() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


class _Fit(Callback):
    """Notes both clocks when training starts and ends, and the time of the steps whose FLOPs the budget
    controller counted (read after the controller's own handlers: it is the first callback)."""

    def fit_start(self, state, logger) -> None:
        self.start, self.counted, self.counted_steps = _clocks(), (0.0, 0.0), 0
        self.controller = next(cb for cb in state.callbacks if isinstance(cb, BudgetController))

    def before_dataloader(self, state, logger) -> None:
        self.step_start, self.measured = _clocks(), self.controller.measured_steps

    def batch_end(self, state, logger) -> None:
        if self.controller.measured_steps > self.measured:  # this step ran under torch's FLOP counter
            end = _clocks()
            self.counted = tuple(c + e - s for c, e, s in zip(self.counted, end, self.step_start))
            self.counted_steps += 1

    def fit_end(self, state, logger) -> None:
        self.end = _clocks()


def trickstack_trial(wl: Workload, steps: int, seed: int, callbacks=()) -> tuple[tuple[float, float], tuple[float, float]]:
    """(wall, CPU) seconds of ``steps`` steps of `run_trial` from FIT_START to FIT_END, and (wall, CPU) seconds per
    step of the steps whose FLOPs were not counted (the first step and the audited ones are)."""
    fit = _Fit()
    record = run_trial(wl, [], seed=seed, budget=Budget("samples", steps * wl.batch_size), callbacks=[fit, *callbacks])
    assert record.steps == steps, (record.steps, steps)
    total = fit.end[0] - fit.start[0], fit.end[1] - fit.start[1]
    left = steps - fit.counted_steps
    uncounted = tuple((t - c) / left * steps if left else float("nan") for t, c in zip(total, fit.counted))
    return total, uncounted  # type: ignore[return-value]


def measure(n: int, steps: int, repeats: int) -> dict[str, tuple[float, float]]:
    """Median (wall, CPU) microseconds per step over ``repeats`` alternating repetitions: of the hand-written loop,
    of trickstack, and of trickstack's steps whose FLOPs were not counted."""
    wl = workload(n)
    trickstack_trial(wl, 20, 0), hand_written(wl, 20, 0)  # warm up: allocator, first calls
    runs: dict[str, list[tuple[float, float]]] = {"hand-written": [], "trickstack": [], "uncounted": []}
    for repeat in range(repeats):
        total, uncounted = trickstack_trial(wl, steps, repeat)
        runs["trickstack"].append(total)
        runs["uncounted"].append(uncounted)
        runs["hand-written"].append(hand_written(wl, steps, repeat))
    return {name: (statistics.median(r[0] for r in rs) / steps * 1e6, statistics.median(r[1] for r in rs) / steps * 1e6)
            for name, rs in runs.items()}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tensors", type=int, nargs="+", default=[10, 100, 1000])
    parser.add_argument("--steps", type=int, default=1000, help="training steps per repetition")
    parser.add_argument("--repeats", type=int, default=5, help="alternating repetitions (the median is printed)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--breakdown", action="store_true",
                        help="then, per tensor count, where a step's time goes in each loop (step_parts)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    reproducibility.configure_deterministic_mode()  # for both, as run_trial sets it
    print(f"Composer patches applied: {len(apply_patches())}; {args.steps} steps of {BATCH}, median of {args.repeats} "
          f"alternating repetitions, torch threads {torch.get_num_threads()}; microseconds per step (wall, CPU)")
    print(f"{'tensors':>8} {'hand-written':>16} {'trickstack':>16} {'difference':>16} {'uncounted steps':>16}")
    for n in args.tensors:
        t = measure(n, args.steps, args.repeats)
        floor = t["hand-written"]
        cells = [floor, t["trickstack"], *((t[k][0] - floor[0], t[k][1] - floor[1]) for k in ("trickstack", "uncounted"))]
        print(f"{n:>8} " + " ".join(f"{w:8.1f}{c:8.1f}" for w, c in cells), flush=True)
    print(f"goal: a difference of at most {GOAL_US} us per step, flat from the fewest tensors to the most. 'uncounted "
          f"steps': the difference on the steps whose FLOPs were not counted (torch's FLOP counter, which runs every op "
          f"through Python, measures the first step and one audited step in {AUDIT_WINDOW}: a cost in proportion to a "
          f"step's ops, included in 'difference')")
    if args.breakdown:
        for n in args.tensors:
            print_breakdown(n, args.steps, args.repeats)


def print_breakdown(n: int, steps: int, repeats: int) -> None:
    wl = workload(n)
    parts = step_parts.breakdown(wl, steps, repeats, lambda *a: trickstack_trial(*a)[0], hand_written)
    print(f"\n{n} tensors: microseconds per step by part, wall-clock, each the median of {repeats} alternating runs "
          f"(each part includes its timing wrapper's own cost, alike in both loops)")
    print(f"{'part':>12} {'hand-written':>13} {'trickstack':>11} {'difference':>11}")
    for part, (hand, ours) in parts.items():
        print(f"{part:>12} {hand:13.1f} {ours:11.1f} {ours - hand:11.1f}")
    hand, ours = (sum(figures[i] for figures in parts.values()) for i in (0, 1))
    print(f"{'step':>12} {hand:13.1f} {ours:11.1f} {ours - hand:11.1f}", flush=True)


if __name__ == "__main__":
    main()
