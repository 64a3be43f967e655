"""Whether other Python work between steps slows a step's own operations: the hand-written loop of ``step_cost``, with
and without that work, its forward (with the loss) and backward timed.

``step_cost --breakdown`` finds the same operations slower in trickstack's step than in the hand-written loop. This
tests the explanation offered there (caches and branch history shared with more code) without trickstack: the
work added between steps walks a random sample of a large set of small dicts and lists, as a framework's bookkeeping
touches its objects, and trains nothing. Printed: the microseconds per step of that work, of forward and loss, and
of backward, each the median of alternating repetitions.

    python -m trickstack.benchmarks.interference [--tensors 10] [--work 0 400] [--steps 3000] [--repeats 5]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

import torch
from composer.utils import reproducibility

from trickstack.benchmarks.overhead import _loader
from trickstack.benchmarks.step_cost import workload

HEAP = 20_000  # small dicts the added work picks from


def _heap() -> list[dict]:
    rng = random.Random(0)
    return [{f"k{i}": [rng.random() for _ in range(8)], "o": object()} for i in range(HEAP)]


def _work(heap: list[dict], n: int, rng: random.Random) -> float:
    total = 0.0
    for entry in rng.sample(heap, n):
        for value in entry.values():
            if type(value) is list:
                total += value[3]
    return total


def run(n_tensors: int, work: int, steps: int, heap: list[dict]) -> dict[str, float]:
    """Microseconds per step of the added work, of forward with the loss, and of backward."""
    wl = workload(n_tensors)
    torch.manual_seed(0)
    model = wl.build_model()
    optimizer = wl.make_optimizer(model, wl.resolve_nuisance())
    rng, seconds, done = random.Random(1), {"work": 0.0, "forward": 0.0, "backward": 0.0}, 0
    while done < steps:
        for batch in _loader(wl, 0):
            start = time.perf_counter()
            _work(heap, work, rng)
            forward = time.perf_counter()
            optimizer.zero_grad(set_to_none=True)
            forward_start = time.perf_counter()
            loss = model.loss(model(batch), batch)
            backward = time.perf_counter()
            loss.backward()
            end = time.perf_counter()
            optimizer.step()
            loss.item()
            seconds["work"] += forward - start
            seconds["forward"] += backward - forward_start
            seconds["backward"] += end - backward
            done += 1
            if done == steps:
                break
    return {part: s / steps * 1e6 for part, s in seconds.items()}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tensors", type=int, default=10, help="parameter tensors of step_cost's trivial model")
    parser.add_argument("--work", type=int, nargs="+", default=[0, 400], help="dicts walked between steps")
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    reproducibility.configure_deterministic_mode()
    heap = _heap()
    run(args.tensors, 0, min(args.steps, 200), heap)  # warm up
    runs: dict[int, list[dict[str, float]]] = {n: [] for n in args.work}
    for _ in range(args.repeats):
        for n in args.work:
            runs[n].append(run(args.tensors, n, args.steps, heap))
    print(f"{args.tensors} tensors, {args.steps} steps, median of {args.repeats} alternating repetitions; "
          f"microseconds per step")
    print(f"{'dicts walked':>12} {'their time':>11} {'forward+loss':>13} {'backward':>9}")
    for n, rs in runs.items():
        work, forward, backward = (statistics.median(r[k] for r in rs) for k in ("work", "forward", "backward"))
        print(f"{n:>12} {work:11.1f} {forward:13.1f} {backward:9.1f}", flush=True)


if __name__ == "__main__":
    main()
