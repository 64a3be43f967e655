"""Fresh-seed replications on the leaderboard: every replication of a recipe read, checked and compared.

A replication (`trickstack replicate`, `trickstack.recipes.replication`) ran the recipe and the stack its
claim is measured against (the previous recipe, or the baseline) on seeds its derivation never used. Each
is checked before a number is shown: its manifest names this recipe and its budget; its runs file is sealed
by the manifest's SHA-256; every record is of the workload, the budget and the manifest's seeds; no seed was
used by the derivation (its evidence and provenance); a time-track replication ran on the recipe's hardware.
Anything else is refused with one message naming the file.

Several replications are pooled: their pairs together, a seed counted once (the earliest replication's),
with the spread of the single replications' gains shown beside. A recipe is marked when its pooled fresh-seed
gain is not significant at the board's alpha, or its interval excludes the gain the recipe claims.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from trickstack.core.errors import UserError
from trickstack.leaderboard.evidence import _describe, read_evidence, runs_of
from trickstack.recipes.replication import digest, load_replication, manifests
from trickstack.stats import rules
from trickstack.stats.compare import compare

REPLICATED = "replicated"
NOT_SIGNIFICANT = f"not replicated: not significant on fresh seeds (p >= {rules.LEADERBOARD_ALPHA})"
EXCLUDES_CLAIM = "not replicated: the fresh-seed interval excludes the claimed gain"
COLUMNS = ["replications", "replicated_n_pairs", "replicated_gain", "replicated_low", "replicated_high", "replicated_p",
           "replicated_ratio", "replicated_spread_low", "replicated_spread_high", "replicated_hardware",
           "replicated_verdict"]


@dataclass
class Replication:
    """One replication file of a recipe, checked, with its paired comparison."""

    manifest: Path
    runs_path: Path
    date: str
    hardware: str
    runs: list  # the recipe's runs, one per seed
    reference: list  # the runs of what the claim is measured against, one per seed
    test: dict


def read_replications(entry, wl, reference_stack: dict, reference_nuisance: dict, budget: tuple[str, float],
                      used_seeds: set[int]) -> list[Replication]:
    """Every replication of ``entry`` (a `trickstack.leaderboard.board.Entry`), checked (module docstring)."""
    recipe = entry.recipe
    out = []
    for path in manifests(recipe.path):
        m = load_replication(path)
        if m.recipe != recipe.name:
            raise UserError(f"{path}: a replication of {m.recipe} among those of {recipe.name}")
        if (m.budget.unit, m.budget.value) != budget:
            raise UserError(f"{path}: replicated at {m.budget.value:g} {m.budget.unit}, but {recipe.name}'s budget is "
                            f"{budget[1]:g} {budget[0]}: a replication runs at the recipe's budget")
        reused = sorted(set(m.seeds) & used_seeds)
        if reused:
            raise UserError(f"{path}: seeds {', '.join(map(str, reused[:5]))} were used by the derivation of "
                            f"{recipe.name}: a replication is evidence only on fresh seeds")
        timed_on = recipe.provenance.get("hardware")
        if recipe.track == "seconds" and m.hardware != timed_on:
            raise UserError(f"{path}: timed on {m.hardware}, but {recipe.name} was timed on {timed_on}: "
                            f"{rules.TIME_TRACK}")
        runs_path = path.parent / m.evidence
        if runs_path.parent != path.parent or not runs_path.is_file():
            raise UserError(f"{path}: evidence = {m.evidence!r}: not a file beside the manifest")
        if m.evidence_sha256 != digest(runs_path):
            raise UserError(f"{runs_path}: its SHA-256 is {digest(runs_path)}, but {path} records evidence_sha256 = "
                            f"{m.evidence_sha256}: the replication was edited after it was written")
        records = read_evidence(runs_path, recipe, wl.metric, wl.direction, replication=True)
        for r in records:
            if r.seed not in m.seeds or (r.budget.unit, r.budget.value) != budget:
                raise UserError(f"{runs_path}: a run of seed {r.seed} at {r.budget.value:g} {r.budget.unit}, but the "
                                f"manifest lists seeds {m.seeds} at {budget[1]:g} {budget[0]}")
            if (recipe.track == "seconds" and timed_on != rules.SIMULATED_HARDWARE
                    and r.provenance.hardware_class != timed_on):  # simulated runs were not timed
                raise UserError(f"{runs_path}: a run timed on {r.provenance.hardware_class}, not {timed_on}: "
                                f"{rules.TIME_TRACK}")
        runs = runs_of(records, recipe.stack, recipe.nuisance, strict=True, where=str(runs_path))
        reference = runs_of(records, reference_stack, reference_nuisance, strict=True, where=str(runs_path))
        if not runs or not reference:
            missing = _describe(recipe.stack) if not runs else _describe(reference_stack) or "the baseline"
            raise UserError(f"{runs_path}: no run of {missing}: a replication runs the recipe and what its claim "
                            "is measured against")
        out.append(Replication(path, runs_path, str(m.date), m.hardware, runs, reference,
                               compare(runs, reference, wl.direction)))
    return out


def pooled(replications: list[Replication], claimed: float, direction: str) -> dict[str, Any]:
    """The row's replication columns: the pooled fresh-seed gain (a seed counted once), its interval, p, its
    ratio to the claimed gain, the spread of the single replications' gains, the hardware and the verdict;
    empty values without a replication."""
    if not replications:
        return {c: (0 if c == "replications" else None) for c in COLUMNS}
    runs, reference = {}, {}
    for rep in replications:
        for r in rep.runs:
            runs.setdefault(r.seed, r)
        for r in rep.reference:
            reference.setdefault(r.seed, r)
    test = compare(list(runs.values()), list(reference.values()), direction)
    gains = [rep.test["gain"] for rep in replications]
    significant = rules.passes(test)
    covers = test["low"] <= claimed <= test["high"]
    return {"replications": len(replications), "replicated_n_pairs": test["n_pairs"], "replicated_gain": test["gain"],
            "replicated_low": test["low"], "replicated_high": test["high"], "replicated_p": test["p"],
            "replicated_ratio": test["gain"] / claimed if claimed else math.nan,
            "replicated_spread_low": min(gains), "replicated_spread_high": max(gains),
            "replicated_hardware": "; ".join(sorted({rep.hardware for rep in replications})),
            "replicated_verdict": REPLICATED if significant and covers else NOT_SIGNIFICANT if not significant
            else EXCLUDES_CLAIM}


def used_seeds(entry) -> set[int]:
    """Every seed the derivation of ``entry`` used: its evidence's runs (search and estimation too) and
    provenance.seeds."""
    used = [*entry.records, *entry.search, *entry.estimation]
    return {r.seed for r in used} | set(entry.recipe.provenance.get("seeds") or [])


def claimed_gain(entry) -> Optional[float]:
    gain = entry.recipe.provenance.get("gain")
    return None if gain is None else float(gain)
