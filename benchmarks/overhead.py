"""Per-step overhead of trickstack over a hand-written PyTorch loop, on each shipped workload.

All three train the workload's model (same initialisation) for the same number of steps on the same
batches with the workload's own optimizer, under the same deterministic settings: a hand-written loop
(the floor), a bare Composer `Trainer` (no trickstack callbacks), and trickstack's `run_trial`. Prints
per workload the time ratios trickstack / hand-written (the goal on MNIST-1D is <= 1.3), bare
Composer / hand-written (what Composer's event engine costs by itself) and trickstack / bare Composer
(what trickstack adds), and trickstack's overhead per step in milliseconds over the hand-written loop.
Evaluation is excluded; trainer construction is included. The three are interleaved within one
process, so drifts in machine load hit all three alike. Each figure is given in wall-clock seconds and
in this process's CPU seconds: on a machine shared with other work the CPU figures are the steadier
(waiting for a core does not count), the wall-clock ones are what a user waits.

    python -m trickstack.benchmarks.overhead [--workloads mnist1d digits shakespeare-char]
        [--steps 2000] [--repeats 3] [--threads N]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from composer import Trainer
from composer.core import Callback
from composer.utils import reproducibility

from trickstack.core.budget import Budget
from trickstack.core.errors import UserError
from trickstack.trial.composer_patches import apply_patches
from trickstack.trial.runner import baseline_step_flops, run_trial
from trickstack.workloads import Workload, get_workload, list_workloads
from trickstack.workloads.data import batched_loader


def _loader(wl: Workload, seed: int):
    return batched_loader((wl.splits.train_x, wl.splits.train_y), wl.batch_size, seed=seed)


def hand_written(wl: Workload, steps: int, seed: int, device: str = "cpu") -> tuple[float, float]:
    """(wall, CPU) seconds of ``steps`` steps of a plain PyTorch loop on ``device`` (a resolved one)."""
    hp = wl.resolve_nuisance()
    reproducibility.seed_all(seed)
    model = wl.build_model().to(device)
    optimizer = wl.make_optimizer(model, hp)
    loader = _loader(wl, seed)
    start, cpu = time.perf_counter(), time.process_time()
    done = 0
    while done < steps:
        for batch in loader:
            batch = [part.to(device) for part in batch]  # as Composer moves each batch
            optimizer.zero_grad(set_to_none=True)
            loss = model.loss(model(batch), batch)
            loss.backward()
            optimizer.step()
            loss.item()  # the trainer reads the loss every step too
            done += 1
            if done == steps:
                break
    return time.perf_counter() - start, time.process_time() - cpu


def bare_composer(wl: Workload, steps: int, seed: int) -> tuple[float, float]:
    hp = wl.resolve_nuisance()
    reproducibility.seed_all(seed)
    model = wl.build_model()
    start, cpu = time.perf_counter(), time.process_time()
    trainer = Trainer(
        model=model, train_dataloader=_loader(wl, seed), max_duration=f"{steps}ba", optimizers=wl.make_optimizer(model, hp),
        loggers=[], progress_bar=False, log_to_console=False, log_traces=False, auto_log_hparams=False, device="cpu",
        device_train_microbatch_size=wl.batch_size, seed=seed, deterministic_mode=True, python_log_level=None,
    )
    trainer.fit()
    elapsed = time.perf_counter() - start, time.process_time() - cpu
    trainer.close()
    return elapsed


class _FitEnd(Callback):
    """Notes both clocks when training ends, so evaluation is left out of each by its own clock (on a loaded
    machine an evaluation's wall time is many times its CPU time)."""

    def fit_end(self, state, logger) -> None:
        self.wall, self.cpu = time.perf_counter(), time.process_time()


def trickstack_trial(wl: Workload, steps: int, seed: int, device: str = "cpu") -> tuple[float, float]:
    budget = Budget("flops", steps * baseline_step_flops(wl))
    end = _FitEnd()
    start, cpu = time.perf_counter(), time.process_time()
    record = run_trial(wl, [], seed=seed, budget=budget, device=device, callbacks=[end])
    assert record.steps == steps, (record.steps, steps)
    return end.wall - start, end.cpu - cpu  # construction and training; evaluation excluded


def measure(wl: Workload, steps: int, repeats: int) -> dict[str, tuple[float, float]]:
    """Median (wall, CPU) seconds of each of the three over ``repeats`` interleaved repetitions."""
    trickstack_trial(wl, 20, 0), bare_composer(wl, 20, 0), hand_written(wl, 20, 0)  # warm up: data, allocator
    ours, bare, floor = [], [], []
    for repeat in range(repeats):  # interleaved, so drifts in machine load hit all three alike
        ours.append(trickstack_trial(wl, steps, repeat))
        bare.append(bare_composer(wl, steps, repeat))
        floor.append(hand_written(wl, steps, repeat))
        print(f"  repeat {repeat} (wall s, CPU s): trickstack {ours[-1][0]:.2f}, {ours[-1][1]:.2f}; bare Composer "
              f"{bare[-1][0]:.2f}, {bare[-1][1]:.2f}; hand-written {floor[-1][0]:.2f}, {floor[-1][1]:.2f}", flush=True)

    def med(runs: list[tuple[float, float]]) -> tuple[float, float]:
        return statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)

    return {"trickstack": med(ours), "bare": med(bare), "floor": med(floor)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    cpu_sized = [w for w in list_workloads() if get_workload(w).cpu_variant is None]  # cifar10: its cifar10-tiny
    parser.add_argument("--workloads", nargs="+", default=None, choices=list_workloads(),
                        help=f"default: {' '.join(cpu_sized)} (a workload whose data this machine lacks is skipped, saying why)")
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    reproducibility.configure_deterministic_mode()  # for all three, as run_trial sets it
    print(f"Composer patches applied (trickstack.trial.composer_patches): {', '.join(apply_patches()) or 'none'}")
    for name in args.workloads or cpu_sized:
        wl = get_workload(name)
        try:
            wl.splits  # noqa: B018 -- its data, before any timing: a machine without it says so here
        except UserError as error:
            if args.workloads:
                raise SystemExit(f"error: {error}") from None
            print(f"{name}: skipped: {error}", flush=True)
            continue
        print(f"{name}: {args.steps} steps of {wl.batch_size}, median of {args.repeats}, torch threads {torch.get_num_threads()}")
        t = measure(wl, args.steps, args.repeats)
        for i, clock in enumerate(("wall-clock", "CPU")):
            ours, bare, floor = t["trickstack"][i], t["bare"][i], t["floor"][i]
            goal = "  (goal <= 1.3)" if name == "mnist1d" else ""
            print(f"  {clock}: trickstack / hand-written {ours / floor:.3f}{goal}, bare Composer / hand-written "
                  f"{bare / floor:.3f}, trickstack / bare Composer {ours / bare:.3f}")
            print(f"  {clock}: overhead per step over hand-written: trickstack {(ours - floor) / args.steps * 1e3:.2f} ms, "
                  f"bare Composer {(bare - floor) / args.steps * 1e3:.2f} ms (hand-written step "
                  f"{floor / args.steps * 1e3:.2f} ms)", flush=True)


if __name__ == "__main__":
    main()
