"""Benchmark workloads: a fixed contract of data, model, metric and budget, registered by name.

As in AlgoPerf, a workload is never changed by a trick or a submission. Its nuisance
hyperparameters (learning rate, weight decay, ...) are the ones a study may re-tune per arm.

>>> from trickstack.workloads import get_workload, list_workloads
>>> "mnist1d" in list_workloads()
True
>>> get_workload("mnist1d").direction
'maximize'
"""

from __future__ import annotations

import fnmatch
import functools
import importlib
from dataclasses import dataclass, field
from typing import Any, Callable, Literal, Mapping

import torch
from composer.core import Time
from composer.models import ComposerModel
from composer.optim import ComposerScheduler

from trickstack.workloads.data import Splits
from trickstack.core.errors import RegistryError, UserError, close_matches
from trickstack.core.params import Param, Value

BUILTIN = ("digits", "mnist1d", "shakespeare_char")
# Workloads that train nothing (``synthetic``: runs simulated from a known truth, see
# `trickstack.workloads.synthetic`). Loaded by name like the built-ins, but not benchmarks, so
# `list_workloads` leaves them out unless asked (``testing=True``).
TESTING = ("synthetic",)


@dataclass(frozen=True)
class Workload:
    name: str
    domain: str
    summary: str
    # Capabilities a trick's `requires` may name. ``logits``: the model's outputs are unnormalised
    # class scores in the last dimension (integer targets, -100 = not scored), and the network
    # names the child module producing them in an ``output_layer`` attribute (z_loss, logit_softcap).
    provides: tuple[str, ...]
    metric: str  # the final eval metric, as recorded
    metric_key: str  # its name among the Composer model's eval metrics
    direction: Literal["maximize", "minimize"]
    batch_size: int  # samples per training step
    eval_batch_size: int
    reference_steps: int  # reference budget: the FLOPs of this many baseline steps
    reference_note: str  # what a run at the reference budget reaches, and where that is measured
    nuisance: tuple[Param, ...]  # default optimizer and schedule settings, tunable per arm
    build_model: Callable[[], ComposerModel]
    load_splits: Callable[[], Splits]
    make_optimizer: Callable[[torch.nn.Module, Mapping[str, Value]], torch.optim.Optimizer]
    make_schedule: Callable[[Mapping[str, Value]], ComposerScheduler]
    # Tricks the baseline recipe already contains -> how it does them (e.g. its own warm-up). Such a
    # trick is not stacked again on this workload: `check_compatible` refuses it, studies exclude it.
    includes: Mapping[str, str] = field(default_factory=dict)
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for p in self.nuisance:
            p.validate(p.default, owner=self.name)  # a bad default names this workload

    def nuisance_param(self, name: str) -> Param:
        for p in self.nuisance:
            if p.name == name:
                return p
        known = [p.name for p in self.nuisance]
        raise UserError(
            f"workload {self.name!r} has no nuisance hyperparameter {name!r}{close_matches(name, known)}"
            f" (it has: {', '.join(known)}; trick parameters are written TRICK.PARAM)"
        )

    def resolve_nuisance(self, overrides: Mapping[str, Any] | None = None) -> dict[str, Value]:
        values = {p.name: p.default for p in self.nuisance}
        for key, value in (overrides or {}).items():
            values[key] = self.nuisance_param(key).validate(value, owner=self.name)
        return values

    @functools.cached_property
    def splits(self) -> Splits:
        return self.load_splits()


_REGISTRY: dict[str, Workload] = {}
_loaded = False


def register_workload(workload: Workload) -> Workload:
    if workload.name in _REGISTRY:
        raise RegistryError(f"workload {workload.name!r} is registered twice")
    _REGISTRY[workload.name] = workload
    return workload


def _load() -> None:
    global _loaded
    if not _loaded:
        _loaded = True
        for name in BUILTIN:
            importlib.import_module(f"trickstack.workloads.{name}")


def list_workloads(pattern: str = "*", testing: bool = False) -> list[str]:
    """Registered workload names matching ``pattern``; with ``testing``, the `TESTING` ones too."""
    _load()
    for name in TESTING if testing else ():
        get_workload(name)
    return sorted(n for n in _REGISTRY if fnmatch.fnmatchcase(n, pattern) and (testing or n not in TESTING))


def get_workload(name: str) -> Workload:
    _load()
    if name in TESTING and name not in _REGISTRY:
        importlib.import_module(f"trickstack.workloads.{name}")
    try:
        return _REGISTRY[name]
    except KeyError:
        raise RegistryError(f"unknown workload {name!r}{close_matches(name, _REGISTRY)}") from None


def time_string(value: str) -> Time:
    """Check a Composer time string such as ``"50ba"`` or ``"0.1dur"`` (raises ValueError)."""
    return Time.from_timestring(value)
