"""Whether other Python work between steps slows a step's own operations: the hand-written loop of ``step_cost``, with
and without that work, its parts timed as ``step_cost --breakdown`` times them (`trickstack.benchmarks.step_parts`).

``step_cost --breakdown`` finds the same operations slower in trickstack's step than in the hand-written loop. This
tests the explanation offered there (caches and branch history shared with more code) without trickstack: the
work added before each step walks a random sample of a large set of small dicts and lists, as a framework's
bookkeeping touches its objects, and trains nothing. Printed: the microseconds per step of that work, of forward
with the loss, and of backward, each the median of alternating repetitions.

    python -m trickstack.benchmarks.interference [--tensors 10] [--work 0 400] [--steps 3000] [--repeats 5]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

import torch
from composer.utils import reproducibility

from trickstack.benchmarks import step_parts
from trickstack.benchmarks.overhead import hand_written
from trickstack.benchmarks.step_cost import workload

HEAP = 20_000  # small dicts the added work picks from


class Work:
    """Walks ``n`` random dicts of a fixed heap at each call; keeps the seconds it took."""

    def __init__(self, n: int):
        rng = random.Random(0)
        self.heap = [{f"k{i}": [rng.random() for _ in range(8)], "o": object()} for i in range(HEAP)]
        self.n, self.rng, self.seconds = n, random.Random(1), 0.0

    def __call__(self) -> float:
        start, total = time.perf_counter(), 0.0
        for entry in self.rng.sample(self.heap, self.n):
            for value in entry.values():
                if type(value) is list:
                    total += value[3]
        self.seconds += time.perf_counter() - start
        return total


def run(n_tensors: int, work: int, steps: int) -> dict[str, float]:
    """Microseconds per step of the added work, of forward with the loss, and of backward."""
    added = Work(work)
    with step_parts.timed_parts(step_parts.Gate(True)) as seconds:
        hand_written(workload(n_tensors), steps, 0, between_steps=added)
    return {part: s / steps * 1e6 for part, s in (("work", added.seconds), ("forward+loss", seconds["forward"] +
                                                  seconds["loss"]), ("backward", seconds["backward"]))}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tensors", type=int, default=10, help="parameter tensors of step_cost's trivial model")
    parser.add_argument("--work", type=int, nargs="+", default=[0, 400], help="dicts walked before each step")
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    reproducibility.configure_deterministic_mode()
    run(args.tensors, 0, min(args.steps, 200))  # warm up
    runs: dict[int, list[dict[str, float]]] = {n: [] for n in args.work}
    for _ in range(args.repeats):
        for n in args.work:
            runs[n].append(run(args.tensors, n, args.steps))
    print(f"{args.tensors} tensors, {args.steps} steps, median of {args.repeats} alternating repetitions; "
          f"microseconds per step")
    print(f"{'dicts walked':>12} {'their time':>11} {'forward+loss':>13} {'backward':>9}")
    for n, rs in runs.items():
        work, forward, backward = (statistics.median(r[k] for r in rs) for k in ("work", "forward+loss", "backward"))
        print(f"{n:>12} {work:11.1f} {forward:13.1f} {backward:9.1f}", flush=True)


if __name__ == "__main__":
    main()
