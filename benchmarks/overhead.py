"""Per-step overhead of trickstack over a hand-written PyTorch loop on the MNIST-1D model.

All three train the same model (same initialisation) for the same number of steps on the same
batches with the same optimizer, under the same deterministic settings: a hand-written loop (the
floor), a bare Composer `Trainer` (no trickstack callbacks), and trickstack's `run_trial`. Prints
the time ratios trickstack / hand-written (the goal is <= 1.3), bare Composer / hand-written (what
Composer's event engine costs by itself) and trickstack / bare Composer (what trickstack adds).
Evaluation is excluded; trainer construction is included.

    python -m trickstack.benchmarks.overhead [--steps 2000] [--repeats 3] [--threads N]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F
from composer import Trainer
from composer.utils import reproducibility

from trickstack.core.budget import Budget
from trickstack.trial.runner import baseline_step_flops, run_trial
from trickstack.workloads import get_workload
from trickstack.workloads.data import batched_loader


def hand_written(steps: int, seed: int, device: str = "cpu") -> float:
    """Seconds of ``steps`` steps of a plain PyTorch loop on ``device`` (a resolved one: cpu, cuda:N, mps)."""
    wl = get_workload("mnist1d")
    hp = wl.resolve_nuisance()
    reproducibility.seed_all(seed)
    model = wl.build_model().module.to(device)  # the bare nn.Module
    optimizer = torch.optim.AdamW(model.parameters(), lr=hp["lr"], weight_decay=hp["weight_decay"])
    loader = batched_loader((wl.splits.train_x, wl.splits.train_y), wl.batch_size, seed=seed)
    start = time.perf_counter()
    done = 0
    while done < steps:
        for x, y in loader:
            x, y = x.to(device), y.to(device)  # as Composer moves each batch
            optimizer.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            optimizer.step()
            loss.item()  # the trainer reads the loss every step too (on a GPU: waits for the step)
            done += 1
            if done == steps:
                break
    return time.perf_counter() - start


def bare_composer(steps: int, seed: int) -> float:
    wl = get_workload("mnist1d")
    hp = wl.resolve_nuisance()
    reproducibility.seed_all(seed)
    model = wl.build_model()
    start = time.perf_counter()
    trainer = Trainer(
        model=model, train_dataloader=batched_loader((wl.splits.train_x, wl.splits.train_y), wl.batch_size, seed=seed),
        max_duration=f"{steps}ba", optimizers=torch.optim.AdamW(model.parameters(), lr=hp["lr"], weight_decay=hp["weight_decay"]),
        loggers=[], progress_bar=False, log_to_console=False, log_traces=False, auto_log_hparams=False, device="cpu",
        device_train_microbatch_size=wl.batch_size, seed=seed, deterministic_mode=True, python_log_level=None,
    )
    trainer.fit()
    elapsed = time.perf_counter() - start
    trainer.close()
    return elapsed


def trickstack_trial(steps: int, seed: int, device: str = "cpu") -> float:
    wl = get_workload("mnist1d")
    budget = Budget("flops", steps * baseline_step_flops(wl))
    start = time.perf_counter()
    record = run_trial(wl, [], seed=seed, budget=budget, device=device)
    assert record.steps == steps, (record.steps, steps)
    return time.perf_counter() - start - record.eval_seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    reproducibility.configure_deterministic_mode()  # for all three, as run_trial sets it
    trickstack_trial(50, 0), bare_composer(50, 0), hand_written(50, 0)  # warm up: imports, data, allocator
    ours, bare, floor = [], [], []
    for repeat in range(args.repeats):  # interleaved, so drifts in machine load hit all three alike
        ours.append(trickstack_trial(args.steps, repeat))
        bare.append(bare_composer(args.steps, repeat))
        floor.append(hand_written(args.steps, repeat))
        print(f"repeat {repeat}: trickstack {ours[-1]:.2f} s, bare Composer {bare[-1]:.2f} s, hand-written {floor[-1]:.2f} s")
    med = statistics.median
    print(f"{args.steps} steps, median of {args.repeats}, torch threads {torch.get_num_threads()}:")
    print(f"  trickstack / hand-written    {med(ours) / med(floor):.3f}  (goal <= 1.3)")
    print(f"  bare Composer / hand-written {med(bare) / med(floor):.3f}")
    print(f"  trickstack / bare Composer   {med(ours) / med(bare):.3f}")


if __name__ == "__main__":
    main()
