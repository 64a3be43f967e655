"""Throughput of the ablation engine: trials per hour with 1 and 2 local workers on the same study,
counted from the start of the `trickstack ablate` command (its imports and the workers' start-up
included), and the fixed per-trial overhead inside a warm worker (a trial's wall time minus its
training and evaluation time: queueing, Optuna, building the Trainer).

Each run is the command `trickstack ablate SPEC --workers N` in a new process, on a fresh study of the
same jobs in a journal file in a temporary folder; one worker gets all CPU threads, two workers get half
each. Goals: 2 workers / 1 worker >= 1.7 end to end; overhead <= 0.3 s. On a machine shared with other
work, or with fewer than 2 free cores, two workers cannot reach the goal: read the figures with the load.

    python -m trickstack.benchmarks.workers [--seeds 8] [--flops 2e9]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import optuna
from optuna.trial import TrialState

from trickstack.ablations.state import JobTrial
from trickstack.ablations.storage import open_storage

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
    """Seconds of the whole command, seconds from the first trial's start to the last one's end, trials
    completed, and each trial's fixed overhead."""
    spec = folder / f"w{workers}.toml"
    spec.write_text(SPEC.format(name=f"w{workers}", flops=flops, seeds=seeds))
    url = f"journal:///{folder}/w{workers}.log"
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "trickstack.cli", "ablate", str(spec), "--storage", url, "--workers", str(workers)],
                   check=True, stdout=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    study = optuna.load_study(study_name=f"w{workers}", storage=open_storage(url, workers))
    trials = [t for t in study.get_trials() if t.state == TrialState.COMPLETE]
    overheads = [(t.datetime_complete - t.datetime_start).total_seconds()
                 - sum(r["train_seconds"] + r["eval_seconds"] for r in JobTrial(t).records) for t in trials]
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
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the end")
    print(f"1 worker:  {n} trials in {one:.1f} s from the command's start = {per_hour_1:.0f} trials/hour; "
          f"steady state {steady_1:.0f}/hour")
    print(f"2 workers: {n2} trials in {two:.1f} s from the command's start = {per_hour_2:.0f} trials/hour; "
          f"steady state {steady_2:.0f}/hour")
    print(f"throughput ratio 2 workers / 1 worker: {per_hour_2 / per_hour_1:.2f} end to end, "
          f"{steady_2 / steady_1:.2f} in steady state  (goal >= 1.7 end to end)")
    print(f"fixed per-trial overhead in a warm worker: median {statistics.median(overheads):.3f} s "
          f"(max {max(overheads):.3f} s)  (goal <= 0.3 s)")


if __name__ == "__main__":
    main()
