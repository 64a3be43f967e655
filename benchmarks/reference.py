"""What a workload's reference budget buys: its baseline trained at that budget for several seeds.

Prints each seed's final eval metric and time, then the mean, standard deviation and range of the
metric and the seconds per run, all measured now. Workload READMEs and notes point here instead of
quoting numbers.

    python -m trickstack.benchmarks.reference --workload digits [--seeds 5] [--records runs.jsonl]

``--records`` appends every run record to a JSON-lines file and reads back the runs already there
(`trickstack.benchmarks.reuse`), so an interrupted run resumes and a stack's comparison with the
baseline (`trickstack.benchmarks.stack --records` on the same file) reuses these runs.
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path
from typing import Optional, Sequence

from trickstack.benchmarks.reuse import RecordFile, run_or_reuse
from trickstack.core.budget import Budget
from trickstack.trial.runner import reference_budget
from trickstack.workloads import get_workload, list_workloads


def run(workload: str, seeds: int, path: Optional[Path] = None, fraction: float = 1.0) -> None:
    wl = get_workload(workload)
    budget = Budget("flops", reference_budget(wl).value * fraction)
    kept, records = RecordFile(path), []
    for seed in range(seeds):
        r, reused = run_or_reuse(kept, wl, [], seed, budget)
        records.append(r)
        value = "diverged" if r.diverged else f"{r.metrics.eval_value:.4f}"
        print(f"  seed {r.seed}: {wl.metric} {value} after {r.steps} steps, {r.train_seconds:.1f} s train + "
              f"{r.eval_seconds:.1f} s eval{', read back from ' + str(path) if reused else ''}", flush=True)
    values = [r.metrics.eval_value for r in records if not r.diverged]
    seconds = [r.train_seconds + r.eval_seconds for r in records]
    print(f"{wl.name} at {fraction:g} x its reference budget: {budget.value:.4g} FLOPs = {records[0].steps} baseline "
          f"steps of {wl.batch_size}")
    if values:
        print(f"{wl.metric} over {len(values)} seeds ({len(records) - len(values)} diverged): "
              f"mean {statistics.mean(values):.4f}, "
              f"sd {statistics.stdev(values) if len(values) > 1 else 0:.4f}, range [{min(values):.4f}, {max(values):.4f}]; "
              f"{statistics.mean(seconds):.1f} s per run")


def main(argv: Optional[Sequence[str]] = None, workload: Optional[str] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    if workload is None:
        parser.add_argument("--workload", default="mnist1d", choices=list_workloads())
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--records", type=Path, help="append every run record to this JSON-lines file; runs already "
                                                     "in it are read back, not trained again")
    parser.add_argument("--budget-fraction", type=float, default=1.0, help="of the workload's reference budget")
    args = parser.parse_args(argv)
    run(workload or args.workload, args.seeds, args.records, args.budget_fraction)


if __name__ == "__main__":
    main()
