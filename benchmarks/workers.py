"""Throughput of the ablation engine: trials per hour with 1 and 2 local workers on the same study,
counted from the start of the `trickstack ablate` command (its imports and the workers' start-up
included), and the fixed per-trial overhead inside a warm worker (a trial's wall time minus its
training and evaluation time: queueing, Optuna, building the Trainer).

Each run is the command `trickstack ablate SPEC --workers N` in a new process, on a fresh study of the
same jobs in a journal file in a temporary folder; one worker gets all CPU threads, two workers get half
each. Goals: 2 workers / 1 worker >= 1.7 end to end; overhead <= 0.3 s. On a machine shared with other
work, or with fewer than 2 free cores, two workers cannot reach the goal: read the figures with the load.

Both commands pay the same start-up before their first trial (importing torch and Composer, and timing
the plan's estimate) and the same analysis after the last; no number of workers shortens those. With S
seconds of them and W seconds of training on one worker, two workers can reach at most
(S + W) / (S + W / 2) end to end. The start-up seconds are printed beside the ratios. On the 2-core
machine this was written on, S was about 8.5 s: the default study (32 runs of about 5 s at 2e10 FLOPs on
MNIST-1D) is long enough for trials per hour to say what a study gets, while with `--flops 2e9` (0.5 s
runs, W about 16 s) the bound was about 1.5.

    python -m trickstack.benchmarks.workers [--seeds 8] [--flops 2e10]
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


def run(workers: int, seeds: int, flops: float, folder: Path) -> dict:
    """Seconds of the whole command (``wall``), from the first trial's start to the last one's end
    (``busy``), before the first trial (``before``) and after the last (``after``); trials completed
    (``trials``) and each trial's fixed overhead (``overheads``)."""
    spec = folder / f"w{workers}.toml"
    spec.write_text(SPEC.format(name=f"w{workers}", flops=flops, seeds=seeds))
    url = f"journal:///{folder}/w{workers}.log"
    start, started = time.perf_counter(), time.time()
    subprocess.run([sys.executable, "-m", "trickstack.cli", "ablate", str(spec), "--storage", url, "--workers", str(workers)],
                   check=True, stdout=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    study = optuna.load_study(study_name=f"w{workers}", storage=open_storage(url, workers))
    trials = [t for t in study.get_trials() if t.state == TrialState.COMPLETE]
    overheads = [(t.datetime_complete - t.datetime_start).total_seconds()
                 - sum(r["train_seconds"] + r["eval_seconds"] for r in JobTrial(t).records) for t in trials]
    first = min(t.datetime_start for t in trials).timestamp()  # Optuna's local times, as time.time()
    last = max(t.datetime_complete for t in trials).timestamp()
    return {"wall": wall, "busy": last - first, "before": first - started, "after": started + wall - last,
            "trials": len(trials), "overheads": overheads}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=8, help="paired seeds: 4 arms x seeds trials per run")
    parser.add_argument("--flops", type=float, default=2e10, help="budget per trial (2e10: about 1,000 MNIST-1D steps)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        one = run(1, args.seeds, args.flops, Path(tmp))
        two = run(2, args.seeds, args.flops, Path(tmp))
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the end")
    for n, r in ((1, one), (2, two)):
        print(f"{n} worker(s): {r['trials']} trials in {r['wall']:.1f} s from the command's start = "
              f"{r['trials'] / r['wall'] * 3600:.0f} trials/hour; steady state {r['trials'] / r['busy'] * 3600:.0f}/hour; "
              f"start-up {r['before']:.1f} s before the first trial and {r['after']:.1f} s after the last")
    end_to_end = (two["trials"] / two["wall"]) / (one["trials"] / one["wall"])
    steady = (two["trials"] / two["busy"]) / (one["trials"] / one["busy"])
    print(f"throughput ratio 2 workers / 1 worker: {end_to_end:.2f} end to end, {steady:.2f} in steady state  "
          f"(goal >= 1.7 end to end)")
    print(f"fixed per-trial overhead in a warm worker: median {statistics.median(one['overheads']):.3f} s "
          f"(max {max(one['overheads']):.3f} s)  (goal <= 0.3 s)")


if __name__ == "__main__":
    main()
