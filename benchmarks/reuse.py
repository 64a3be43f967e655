"""Benchmarks resume from their ``--records`` file: a run recorded there with the same workload,
tricks and parameters, nuisance values, seed, budget, recipe and torch thread count is read back
instead of trained again (the numbers depend on the thread count), and every new run is appended.

So an interrupted benchmark continues where it stopped, and two benchmarks that share an arm (the
baseline benchmark and a stack's comparison with the baseline) can share its runs through one file.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

import torch

from trickstack.core.budget import Budget
from trickstack.core.evidence import append_run, read_runs
from trickstack.core.records import ResolvedRecipe, RunRecord, TrickRecord
from trickstack.trial.runner import (
    resolve_stack,
    run_trial,
    split_overrides,
    with_recipe,
)
from trickstack.workloads import Workload


def _same_tricks(stored: Sequence[TrickRecord], wanted: Sequence[TrickRecord]) -> bool:
    """Same tricks and parameters, from the same distribution version (a record older than that field matches any)."""
    return len(stored) == len(wanted) and all(
        s.name == w.name and s.params == w.params and s.distribution in (None, w.distribution) for s, w in zip(stored, wanted))


class RecordFile:
    """The JSON-lines file of a benchmark's run records (absent: nothing to reuse, nothing kept)."""

    def __init__(self, path: Optional[Path]):
        self.path = path
        self.records: list[RunRecord] = []
        if path is not None and path.exists():
            self.records = read_runs(path, "records file")

    def find(self, wl: Workload, stack: Sequence[str], seed: int, budget: Budget,
             overrides: Mapping[str, Any], recipe: Optional[ResolvedRecipe]) -> Optional[RunRecord]:
        names, values = with_recipe(recipe, wl, stack, overrides)
        tricks = [TrickRecord(name=t.info.name, params=t.params, distribution=t.info.distribution)
                  for t in resolve_stack(wl, names, values)]
        nuisance = wl.resolve_nuisance(split_overrides(values)[1])
        for r in self.records:
            if (r.workload == wl.name and r.seed == seed and _same_tricks(r.tricks, tricks) and r.nuisance == nuisance
                    and r.budget.unit == budget.unit and math.isclose(r.budget.value, budget.value, rel_tol=1e-12)
                    and r.recipe == recipe and r.provenance.torch_threads == torch.get_num_threads()):
                return r
        return None

    def add(self, record: RunRecord) -> None:
        self.records.append(record)
        if self.path is not None:
            append_run(self.path, record)


def run_or_reuse(records: RecordFile, wl: Workload, stack: Sequence[str], seed: int, budget: Budget,
                 overrides: Optional[Mapping[str, Any]] = None, recipe: Optional[ResolvedRecipe] = None
                 ) -> tuple[RunRecord, bool]:
    """The run's record from ``records`` (and True), else trained now and appended (and False)."""
    found = records.find(wl, stack, seed, budget, overrides or {}, recipe)
    if found is not None:
        return found, True
    record = run_trial(wl, stack, seed=seed, budget=budget, overrides=overrides, recipe=recipe)
    records.add(record)
    return record, False
