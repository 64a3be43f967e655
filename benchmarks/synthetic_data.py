"""Generated data in a workload's shapes, for timing where the real data is absent (``gpu_check --data``).

A bare GPU machine has no network, so no CIFAR-10, and may lack the packages that load or generate the real
data (Hugging Face ``datasets``, ``mnist1d``). `with_data` gives the workload back with random inputs and
labels of the real splits' shapes in place of its data: the same network, batches, optimizer and budget, so
steps, FLOPs and time per step are those of the real workload; its metric values mean nothing (timing only).

>>> from trickstack.workloads import get_workload
>>> wl, source = with_data(get_workload("mnist1d"), "synthetic")
>>> source, tuple(wl.splits.train_x.shape), tuple(wl.splits.eval_x.shape)
('synthetic', (4000, 1, 40), (1000, 1, 40))
"""

from __future__ import annotations

import dataclasses
import sys

import torch

from trickstack.core.errors import UserError
from trickstack.workloads import Workload
from trickstack.workloads.cifar10 import TINY_EVAL, TINY_TRAIN
from trickstack.workloads.cifar10_data import CLASSES
from trickstack.workloads.data import Splits
from trickstack.workloads.mnist1d import SIGNAL_LENGTH

MODES = ("auto", "real", "synthetic")  # auto: the real data when it loads, else synthetic (with a message)
TIMING_ONLY = "synthetic data in the workload's shapes: timing only, its metric values mean nothing"
SEED = 0  # the generated data is the same every run

# workload -> (train examples, eval examples, one input's shape, classes), as the real splits have them
SHAPES = {
    "cifar10": (50_000, 10_000, (3, 32, 32), len(CLASSES)),
    "cifar10-tiny": (TINY_TRAIN, TINY_EVAL, (3, 32, 32), len(CLASSES)),
    "mnist1d": (4_000, 1_000, (1, SIGNAL_LENGTH), 10),  # mnist1d's default 5,000 examples, split 80/20; one channel
}


def synthetic_splits(name: str) -> Splits:
    """Normal inputs and uniform labels in the shapes of workload ``name``'s splits (seeded: the same each call)."""
    if name not in SHAPES:
        raise UserError(f"workload {name!r} has no synthetic data (it exists for {', '.join(SHAPES)})")
    train, evaluate, shape, classes = SHAPES[name]
    rng = torch.Generator().manual_seed(SEED)
    x = torch.randn(train + evaluate, *shape, generator=rng)
    y = torch.randint(0, classes, (train + evaluate,), generator=rng)
    return Splits(x[:train], y[:train], x[train:], y[train:])


def with_data(wl: Workload, mode: str) -> tuple[Workload, str]:
    """``wl`` with the data ``mode`` asks for, and which it got: ``"real"`` or ``"synthetic"``.

    ``auto`` loads the real data and falls back to synthetic data with a message on stderr when it cannot
    (absent, not downloadable, or a package that loads it not installed)."""
    if mode not in MODES:
        raise UserError(f"data {mode!r} is not one of {', '.join(MODES)}")
    if mode == "real":
        return wl, "real"
    if mode == "auto":
        try:
            wl.splits  # noqa: B018 -- loaded now, so a machine without the data says so before any timing
            return wl, "real"
        except (UserError, ImportError, OSError) as error:  # OSError: a download refused, a file absent
            first_line = (str(error).splitlines() or [type(error).__name__])[0]
            print(f"gpu_check: the real data of {wl.name} is not available ({first_line}); using {TIMING_ONLY}",
                  file=sys.stderr)
    splits = synthetic_splits(wl.name)
    return dataclasses.replace(wl, load_splits=lambda: splits), "synthetic"
