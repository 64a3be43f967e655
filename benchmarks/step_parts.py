"""Where the time of a step goes, in trickstack's trial and in the hand-written loop (``step_cost --breakdown``).

The same functions are timed in both, by wrappers whose own small cost every call pays alike in both loops: the
loader's next batch, the model's forward and loss, the backward pass, SGD's update, ``zero_grad``, and (trickstack
only) Composer's events with every algorithm and callback they run. What is left of a step's time is "the rest":
for trickstack, Composer's per-batch code and its timestamps, the schedule and the optimizer's wrappers. The two
loops run the same operations on the same tensors, so a part that takes longer in trickstack is not more work but
(a) the FLOP counter's steps (the first and one audited step in a hundred, whose every operation goes through
Python), (b) the budget's forward hook on the model (one call per forward) and (c) the same operations running slower
among more code (caches and branch history shared with it; `trickstack.benchmarks.interference` measures this
on the hand-written loop alone, with other Python work added between its steps).
"""

from __future__ import annotations

import importlib
import statistics
import time
import warnings
from collections import Counter
from contextlib import contextmanager
from typing import Any, Iterator

import torch
from composer.core import Callback
from composer.core.engine import Engine
from composer.models import ComposerClassifier
from torch.utils.data import dataloader

PARTS = (  # (what is timed, its owner, the attribute wrapped)
    ("next batch", dataloader._BaseDataLoaderIter, "__next__"),
    ("forward", ComposerClassifier, "forward"),
    ("loss", ComposerClassifier, "loss"),
    ("backward", torch.autograd, "backward"),
    ("SGD update", importlib.import_module("torch.optim.sgd"), "sgd"),  # torch.optim hides the module's name
    ("zero_grad", torch.optim.Optimizer, "zero_grad"),
    ("events", Engine, "run_event"),
)
REST = "the rest"


class Gate(Callback):
    """Times parts only between FIT_START and FIT_END, the span a trial's steps are timed over."""

    def __init__(self, open_: bool):
        self.open = open_

    def fit_start(self, state: Any, logger: Any) -> None:
        self.open = True

    def fit_end(self, state: Any, logger: Any) -> None:
        self.open = False


@contextmanager
def timed_parts(gate: Gate) -> Iterator[Counter]:
    """Time `PARTS` while the block runs and ``gate`` is open: seconds by part, summed over calls (an inner call of
    a part already being timed, such as an event run from within an event, is not counted twice)."""
    seconds: Counter = Counter()
    saved = [(owner, name, owner.__dict__[name]) for _, owner, name in PARTS]
    running: set[str] = set()

    def wrap(part: str, function: Any) -> Any:
        def timed(*args: Any, **kwargs: Any) -> Any:
            if part in running or not gate.open:
                return function(*args, **kwargs)
            running.add(part)
            start = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                seconds[part] += time.perf_counter() - start
                running.discard(part)
        return timed

    for (part, owner, name), (_, _, function) in zip(PARTS, saved):
        setattr(owner, name, wrap(part, function))
    try:
        with warnings.catch_warnings():  # the run's apply_patches finds Engine.run_event wrapped (patched beneath)
            warnings.filterwarnings("ignore", message="Composer's Engine.run_event is not the one")
            yield seconds
    finally:
        for owner, name, function in saved:
            setattr(owner, name, function)


def breakdown(wl: Any, steps: int, repeats: int, trial: Any, hand_written: Any) -> dict[str, tuple[float, float]]:
    """Median microseconds per step of each part (and `REST`) over ``repeats`` alternating runs: (hand-written,
    trickstack). ``hand_written(wl, steps, seed)`` and ``trial(wl, steps, seed, callbacks)`` run ``steps`` steps
    and return the (wall, CPU) seconds of their steps (a trial's, from FIT_START to FIT_END: the span its
    callback `Gate` times parts over)."""
    runs: dict[str, list[tuple[float, float]]] = {part: [] for part, _, _ in PARTS + ((REST, None, None),)}
    for repeat in range(repeats):
        figures = []
        for ours in (False, True):
            gate = Gate(open_=not ours)  # the hand-written loop's run is all steps
            with timed_parts(gate) as seconds:
                wall = trial(wl, steps, repeat, [gate])[0] if ours else hand_written(wl, steps, repeat)[0]
            figures.append({**seconds, REST: wall - sum(seconds.values())})
        for part in runs:
            runs[part].append((figures[0].get(part, 0.0), figures[1].get(part, 0.0)))
    return {part: (statistics.median(h for h, _ in r) / steps * 1e6, statistics.median(t for _, t in r) / steps * 1e6)
            for part, r in runs.items()}
