"""Per-step overhead of trickstack over a hand-written PyTorch loop on the MNIST-1D model.

Both train the same model (same initialisation) for the same number of steps on the same batches
with the same optimizer; the hand-written loop is the floor. Prints the time ratio
(trickstack `run_trial` wall time / hand-written loop wall time); the goal is <= 1.3.

    python -m trickstack.benchmarks.overhead [--steps 2000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F
from composer.utils import reproducibility

from trickstack.budget import Budget
from trickstack.data import batched_loader
from trickstack.runner import baseline_step_flops, run_trial
from trickstack.workloads import get_workload


def hand_written(steps: int, seed: int) -> float:
    wl = get_workload("mnist1d")
    hp = wl.resolve_nuisance()
    reproducibility.seed_all(seed)
    model = wl.build_model().module  # the bare nn.Module
    optimizer = torch.optim.AdamW(model.parameters(), lr=hp["lr"], weight_decay=hp["weight_decay"])
    loader = batched_loader((wl.splits.train_x, wl.splits.train_y), wl.batch_size, seed=seed)
    start = time.perf_counter()
    done = 0
    while done < steps:
        for x, y in loader:
            optimizer.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            optimizer.step()
            loss.item()  # the trainer reads the loss every step too
            done += 1
            if done == steps:
                break
    return time.perf_counter() - start


def trickstack_trial(steps: int, seed: int) -> float:
    wl = get_workload("mnist1d")
    budget = Budget("flops", steps * baseline_step_flops(wl))
    start = time.perf_counter()
    record = run_trial(wl, [], seed=seed, budget=budget)
    assert record.steps == steps, (record.steps, steps)
    return time.perf_counter() - start - record.eval_seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    trickstack_trial(50, 0), hand_written(50, 0)  # warm up: imports, data, allocator
    ratios = []
    for repeat in range(args.repeats):
        ours, floor = trickstack_trial(args.steps, repeat), hand_written(args.steps, repeat)
        ratios.append(ours / floor)
        print(f"repeat {repeat}: trickstack {ours:.2f} s, hand-written {floor:.2f} s, ratio {ours / floor:.3f}")
    print(f"overhead ratio (median of {args.repeats}, {args.steps} steps, torch threads {torch.get_num_threads()}): "
          f"{statistics.median(ratios):.3f}  (goal <= 1.3)")


if __name__ == "__main__":
    main()
