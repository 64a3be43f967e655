"""Throughput of the ablation engine: trials per hour with 1 and 2 local workers on the same study,
and the fixed per-trial overhead inside a warm worker (a trial's wall time minus its training and
evaluation time: queueing, Optuna, building the Trainer).

Both runs use a fresh study of the same jobs on a journal file in a temporary folder; one worker
gets all CPU threads, two workers get half each. Goals: 2 workers / 1 worker >= 1.7; overhead <= 0.3 s.

    python -m trickstack.benchmarks.workers [--seeds 8] [--flops 2e9]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from optuna.trial import TrialState

from trickstack.ablations.engine import ablate
from trickstack.ablations.spec import StudySpec
from trickstack.ablations.state import JobTrial

SPEC = """
[study]
name = "{name}"
workload = "mnist1d"
budget = {{ flops = {flops} }}
seeds = {seeds}
design = "factorial"
tricks = ["label_smoothing", "ema"]
"""


def run(workers: int, seeds: int, flops: float, folder: Path) -> tuple[float, float, int, list[float]]:
    spec = StudySpec.from_toml_text(SPEC.format(name=f"w{workers}", flops=flops, seeds=seeds), source="bench.toml")
    start = time.perf_counter()
    study = ablate(spec, f"journal:///{folder}/w{workers}.log", workers=workers).study
    wall = time.perf_counter() - start
    trials = [t for t in study.get_trials() if t.state == TrialState.COMPLETE]
    overheads = [(t.datetime_complete - t.datetime_start).total_seconds()
                 - sum(r["train_seconds"] + r["eval_seconds"] for r in JobTrial(t).records) for t in trials]
    # steady state: from the first trial's start to the last one's end (process start-up excluded)
    busy = (max(t.datetime_complete for t in trials) - min(t.datetime_start for t in trials)).total_seconds()
    return wall, busy, len(trials), overheads


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=8, help="paired seeds: 4 arms x seeds trials per run")
    parser.add_argument("--flops", type=float, default=2e9, help="budget per trial (2e9: about 100 MNIST-1D steps)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        one, busy1, n, overheads = run(1, args.seeds, args.flops, Path(tmp))
        two, busy2, n2, _ = run(2, args.seeds, args.flops, Path(tmp))
    per_hour_1, per_hour_2 = n / one * 3600, n2 / two * 3600
    steady_1, steady_2 = n / busy1 * 3600, n2 / busy2 * 3600
    print(f"1 worker:  {n} trials in {one:.1f} s = {per_hour_1:.0f} trials/hour; steady state {steady_1:.0f}/hour")
    print(f"2 workers: {n2} trials in {two:.1f} s = {per_hour_2:.0f} trials/hour (with starting 2 processes, "
          f"each importing Composer); steady state {steady_2:.0f}/hour")
    print(f"throughput ratio 2 workers / 1 worker: {per_hour_2 / per_hour_1:.2f} end to end, "
          f"{steady_2 / steady_1:.2f} in steady state  (goal >= 1.7)")
    print(f"fixed per-trial overhead in a warm worker: median {statistics.median(overheads):.3f} s "
          f"(max {max(overheads):.3f} s)  (goal <= 0.3 s)")


if __name__ == "__main__":
    main()
