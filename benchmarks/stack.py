"""A stack of tricks against a workload's baseline at the same FLOP budget, over paired seeds.

Seed i is the same initialisation and data order in both arms, so the comparison is the seed-by-seed
difference: its mean, 95% CI and one-sided paired t-test p ("the stack is better"), from
`trickstack.stats.analysis.paired_differences`. Every number printed is measured in this run.

    python -m trickstack.benchmarks.stack --workload shakespeare-char \\
        --stack rmsnorm,rope --set lr=3e-3 [--seeds 5] [--budget-fraction 1.0] [--records runs.jsonl]
    python -m trickstack.benchmarks.stack --recipe shakespeare-char/2026 [--budget-fraction 1.0]

``--recipe`` (a file or WORKLOAD/YEAR) makes the stack's arm that recipe: its tricks, parameters and
nuisance values (``--stack`` adds tricks on top of it). ``--set`` applies to the stack's arm only (its
re-tuned nuisance values and trick parameters, as TRICK.PARAM); the baseline runs its workload's
recipe unchanged. ``--records`` appends every run record to a JSON-lines file, so the figures can be
re-derived from the records, and reads back the runs already there (`trickstack.benchmarks.reuse`):
an interrupted comparison resumes, and the baseline's runs can come from the baseline benchmark.
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path
from typing import Any, Optional, Sequence

import pandas as pd

from trickstack.benchmarks.reuse import RecordFile, run_or_reuse
from trickstack.core.budget import Budget
from trickstack.core.errors import UserError
from trickstack.core.records import ResolvedRecipe, RunRecord
from trickstack.core.stacks import arm_name
from trickstack.recipes.recipe import open_recipe, resolve
from trickstack.stats.analysis import paired_differences
from trickstack.trial.runner import parse_overrides, reference_budget
from trickstack.workloads import get_workload, list_workloads


def row(arm: str, record: RunRecord) -> dict[str, Any]:
    return {"arm": arm, "seed": record.seed, "value": record.metrics.eval_value, "diverged": record.diverged,
            "seconds": record.train_seconds + record.eval_seconds}


def compare(workload: str, stack: list[str], overrides: dict[str, Any], seeds: int, fraction: float,
            records: Optional[Path] = None, recipe: Optional[ResolvedRecipe] = None) -> pd.DataFrame:
    wl = get_workload(workload)
    budget = Budget("flops", reference_budget(wl).value * fraction)
    label = arm_name(stack)
    if recipe is not None:
        label = f"{recipe.name} ({'+'.join(recipe.stack) or 'no tricks'}{''.join('+' + t for t in stack)})"
    print(f"{wl.name}: baseline vs {label} {overrides or ''} at {budget.value:.4g} FLOPs "
          f"({fraction:g} x reference), seeds 0..{seeds - 1}", flush=True)
    kept, rows = RecordFile(records), []
    for seed in range(seeds):
        for arm, tricks, sets, base in (("baseline", [], {}, None), (label, stack, overrides, recipe)):
            r, reused = run_or_reuse(kept, wl, tricks, seed, budget, sets, base)
            rows.append(row(arm, r))
            value = "diverged" if r.diverged else f"{r.metrics.eval_value:.4f}"
            print(f"  seed {seed} {arm}: {wl.metric} {value} ({r.steps} steps, {rows[-1]['seconds']:.0f} s"
                  f"{', read back from ' + str(records) if reused else ''})", flush=True)
    table = pd.DataFrame(rows)
    for arm, group in table.groupby("arm", sort=False):
        values = group.value.dropna()
        sd = statistics.stdev(values) if len(values) > 1 else float("nan")
        print(f"{arm}: {wl.metric} mean {values.mean():.4f}, sd {sd:.4f} over {len(values)} seeds; "
              f"{group.seconds.mean():.0f} s per run")
    diff = paired_differences(table, "baseline", wl.direction).iloc[0]
    better = "lower" if wl.direction == "minimize" else "higher"
    print(f"paired gain of {label} over baseline ({better} is better): {diff.mean_gain:.4f} "
          f"[95% CI {diff.ci_low:.4f}, {diff.ci_high:.4f}], n={int(diff.n_pairs)}, one-sided p = {diff.p_value:.2g}")
    return table


def main(argv: Optional[Sequence[str]] = None, workload: Optional[str] = None, stack: Sequence[str] = (),
         overrides: Sequence[str] = (), recipe: Optional[str] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workload", default=workload, choices=list_workloads(), help="default: the recipe's, else mnist1d")
    parser.add_argument("--recipe", default=recipe, metavar="FILE|WORKLOAD/YEAR", help="the stack's arm starts from this recipe")
    parser.add_argument("--stack", default=",".join(stack), help="comma-separated tricks")
    parser.add_argument("--set", action="append", default=list(overrides), metavar="KEY=VALUE",
                        help="nuisance (lr=3e-3) or TRICK.PARAM value for the stack's arm; repeatable")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--budget-fraction", type=float, default=1.0, help="of the workload's reference budget")
    parser.add_argument("--records", type=Path, help="append every run record to this JSON-lines file; runs already "
                        "in it are read back, not trained again")
    args = parser.parse_args(argv)
    try:
        resolved = resolve(open_recipe(args.recipe)) if args.recipe else None
    except UserError as error:
        parser.error(str(error))
    name = resolved.workload if resolved else args.workload or "mnist1d"
    if resolved and args.workload not in (None, name):
        parser.error(f"--workload {args.workload} differs from recipe {resolved.name}'s workload")
    tricks = [t for t in args.stack.split(",") if t]
    stack = [*resolved.stack, *tricks] if resolved else tricks
    sets = parse_overrides(args.set, get_workload(name), stack, "--stack or --recipe")
    compare(name, tricks, sets, args.seeds, args.budget_fraction, args.records, resolved)


if __name__ == "__main__":
    main()
