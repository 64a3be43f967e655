"""Recipes and evidence files of the ``synthetic`` workload, simulated from a known truth in milliseconds,
for the leaderboard tests. `make_recipes` writes ``<root>/synthetic/<year>.toml`` and ``<year>.runs.jsonl``
as `trickstack recipe derive` would: confirmation runs (recipe, previous recipe, baseline), attribution
runs (subsets of the recipe's tricks), the runs of a candidate not kept and a few search runs (one seed
outside the evaluation seeds, not evidence).

Truth: label_smoothing +0.03, cosine_schedule +0.01, mixup +0.02 with label_smoothing:mixup -0.01 (they
overlap), gradient_clipping, swa and lookahead 0. So 2016 (cosine_schedule + label_smoothing) gains
0.04 over the baseline, 2018 (+ mixup) gains 0.01 over 2016, and 2019 (+ lookahead, no gain) is not
kept: 2018 is carried forward.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from pathlib import Path

import numpy as np
from scipy import stats

from trickstack.simulator.workload import simulate_run

TRUTH = {"baseline": 0.5, "effects": {"label_smoothing": 0.03, "cosine_schedule": 0.01, "mixup": 0.02},
         "interactions": {"label_smoothing:mixup": -0.01}, "seed_noise": 0.02, "run_noise": 0.002}
SEEDS = [0, 1, 2, 3, 4, 5]
NUISANCE = {"lr": 0.02}  # the recipes' (the baseline runs with the workload's default, lr=0.01)
PARAMS = {"label_smoothing": {"smoothing": 0.15}, "mixup": {"alpha": 0.4}}  # other tricks: defaults
STACKS = {2016: ["cosine_schedule", "label_smoothing"], 2018: ["cosine_schedule", "label_smoothing", "mixup"],
          2019: ["cosine_schedule", "label_smoothing", "mixup"]}
CANDIDATES = {2016: "gradient_clipping", 2018: "swa", 2019: "lookahead"}  # tried on top of the recipe, not kept
# 2016 and 2018: a full factorial of the recipe's tricks; 2019: the prefixes of two orders (sampled Shapley)
# What derive appends to a reason: a Shapley value from its own sampled orders (here one the site must not show)
DERIVE_TIME = "; Shapley +9.876 score in the recipe (95% CI +9.5 to +10.2)"
SEARCH_SEED = 1000  # the search runs one seed, outside the evaluation seeds
SEARCHED = {2016: [("ema",), ("cosine_schedule", "ema")], 2018: [("ema", "mixup")], 2019: [("ema", "lookahead")]}
ORDERS_2019 = [["cosine_schedule", "label_smoothing", "mixup"], ["mixup", "label_smoothing", "cosine_schedule"]]


def simulate(stack, seed: int, nuisance=True, budget=None, curves: bool = False):
    """A run of the truth; ``curves``: with a simulated learning curve (the same scores)."""
    overrides = {f"{t}.{k}": v for t in stack for k, v in PARAMS.get(t, {}).items()}
    if nuisance:
        overrides.update(NUISANCE)
    return simulate_run({**TRUTH, "curves": curves}, "synthetic", list(stack), seed, budget=budget, overrides=overrides)


def _arms(year: int) -> list[tuple[str, ...]]:
    stack = STACKS[year]
    if year == 2019:
        subsets = {tuple(sorted(o[:i])) for o in ORDERS_2019 for i in range(1, len(o) + 1)}
    else:
        subsets = {c for r in range(1, len(stack) + 1) for c in itertools.combinations(stack, r)}
    previous = {2016: (), 2018: tuple(STACKS[2016]), 2019: tuple(STACKS[2018])}[year]
    # () here is the baseline at the recipe's nuisance values (the attribution's empty subset); the records
    # also hold it at the workload's defaults (the baseline row's)
    return sorted(subsets | {(), previous, tuple(sorted([*stack, CANDIDATES[year]]))})


def _value(record) -> float:
    return record.metrics.eval_value


def _toml_value(value) -> str:
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + " }"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return json.dumps(value)


def make_recipes(root: Path, years=(2016, 2018, 2019), curves_from: int | None = None) -> Path:
    """Write the recipes of ``years`` and their evidence into ``root/synthetic``; return ``root``. ``curves_from``:
    the runs of that year's evidence and later ones have learning curves (earlier ones, like records of schema 1,
    have none)."""
    folder = root / "synthetic"
    folder.mkdir(parents=True, exist_ok=True)
    previous = None
    for year in years:
        curves = curves_from is not None and year >= curves_from
        records = [simulate((), s, nuisance=False, curves=curves) for s in SEEDS]
        runs = {arm: [simulate(arm, s, curves=curves) for s in SEEDS] for arm in _arms(year)}
        records += [r for arm in runs.values() for r in arm]
        records += [simulate(stack, SEARCH_SEED, curves=curves) for stack in SEARCHED[year]]  # the search's runs: not evidence
        (folder / f"{year}.runs.jsonl").write_text("".join(r.to_json(indent=None) + "\n" for r in records))
        this = runs[tuple(STACKS[year])]
        ref = runs[tuple(STACKS[previous])] if previous else records[:len(SEEDS)]
        d = np.array([_value(a) - _value(b) for a, b in zip(this, ref)])
        accepted = year != 2019
        if not accepted:  # the candidate's test, which failed: the recipe carries 2018 forward
            d = np.array([_value(a) - _value(b) for a, b in zip(runs[tuple(sorted([*STACKS[year], CANDIDATES[year]]))], this)])
        half = stats.t.ppf(0.975, len(d) - 1) * d.std(ddof=1) / np.sqrt(len(d))
        added = [t for t in STACKS[year] if previous is None or t not in STACKS[previous]]
        lines = ["[recipe]", 'workload = "synthetic"', f"year = {year}"]
        lines += [f'base = "{previous}"'] if previous else []
        lines += [f'summary = "the best stack known by {year}"', ""]
        for t in added:
            lines += [f"[tricks.{t}]", f'reason = "added in {year}{DERIVE_TIME}"']
            lines += [f"params = {_toml_value(PARAMS[t])}"] if t in PARAMS else []
            lines.append("")
        lines += ["[nuisance]", *(f"{k} = {_toml_value(v)}" for k, v in NUISANCE.items()), ""]
        made = max(r.created for r in records).date().isoformat()  # a recipe is derived after its runs
        provenance = {"study": f"derive-synthetic-{year}", "date": made, "commit": "abc1234",
                      "budget": {"unit": "flops", "value": 1e9}, "seeds": SEEDS,
                      "previous": str(previous) if previous else "baseline", "gain": float(d.mean()),
                      "ci": [float(d.mean() - half), float(d.mean() + half)],
                      "p_value": float(stats.ttest_1samp(d, 0, alternative="greater").pvalue),
                      "accepted": accepted, "evidence": f"{year}.runs.jsonl",
                      "evidence_sha256": hashlib.sha256((folder / f"{year}.runs.jsonl").read_bytes()).hexdigest()}
        lines += ["[provenance]", *(f"{k} = {_toml_value(v)}" for k, v in provenance.items())]
        (folder / f"{year}.toml").write_text("\n".join(lines) + "\n")
        previous = year if accepted else previous
    return root
