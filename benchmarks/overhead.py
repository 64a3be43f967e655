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

The learning curve's cost (`trickstack.trial.curves`) is measured in the same run, two ways: trickstack with
and without recording it (``curve=False``), interleaved with the others, as a ratio; and the time spent inside
the recorder's callback, summed over the steps, as a share of a step -- the steadier figure on a shared machine,
as it does not depend on two separate runs. The workload's curve eval points are left out of both (evaluation
is excluded) and measured once after: their seconds, outside the budget and the record's train_seconds, as a
share of the run's training time.

    python -m trickstack.benchmarks.overhead [--workloads mnist1d digits shakespeare-char]
        [--steps 2000] [--repeats 3] [--threads N]
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import time
from typing import Callable, Optional
from unittest import mock

import torch
from composer import Trainer
from composer.core import Callback
from composer.utils import reproducibility

from trickstack.core.budget import Budget
from trickstack.core.errors import UserError
from trickstack.trial.composer_patches import apply_patches
from trickstack.trial.curves import CurveRecorder
from trickstack.trial.runner import baseline_step_flops, run_trial
from trickstack.workloads import Workload, get_workload, list_workloads
from trickstack.workloads.data import batched_loader


def _loader(wl: Workload, seed: int):
    return batched_loader((wl.splits.train_x, wl.splits.train_y), wl.batch_size, seed=seed)


def hand_written(wl: Workload, steps: int, seed: int, device: str = "cpu",
                 between_steps: Optional[Callable[[], object]] = None) -> tuple[float, float]:
    """(wall, CPU) seconds of ``steps`` steps of a plain PyTorch loop on ``device`` (a resolved one); with
    ``between_steps``, that called before each step (`trickstack.benchmarks.interference`'s other work)."""
    hp = wl.resolve_nuisance()
    reproducibility.seed_all(seed)
    model = wl.build_model().to(device)
    optimizer = wl.make_optimizer(model, hp)
    loader = _loader(wl, seed)
    start, cpu = time.perf_counter(), time.process_time()
    done = 0
    while done < steps:
        for batch in loader:
            if between_steps is not None:
                between_steps()
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


def trickstack_trial(wl: Workload, steps: int, seed: int, device: str = "cpu", curve: bool = True,
                     callbacks: tuple = ()) -> tuple[float, float]:
    budget = Budget("flops", steps * baseline_step_flops(wl))
    end = _FitEnd()
    start, cpu = time.perf_counter(), time.process_time()
    record = run_trial(wl, [], seed=seed, budget=budget, device=device, callbacks=[*callbacks, end], curve=curve)
    assert record.steps == steps, (record.steps, steps)
    return end.wall - start, end.cpu - cpu  # construction and training; evaluation excluded


class RecorderClock:
    """Sums the wall and CPU time spent inside `CurveRecorder.batch_end` (the curve's whole per-step work). Its CPU
    time is this thread's (`time.thread_time`): another thread of the process working meanwhile is not counted."""

    def __init__(self) -> None:
        self.wall = self.cpu = 0.0
        self.calls = 0
        self._original = CurveRecorder.batch_end

    def __call__(self, recorder, state, logger) -> None:
        wall, cpu = time.perf_counter(), time.thread_time()
        self._original(recorder, state, logger)
        self.wall += time.perf_counter() - wall
        self.cpu += time.thread_time() - cpu
        self.calls += 1


class ClockFloor(Callback):
    """The same clock around nothing, where the recorder would run (first after the budget controller, in a run
    without a curve): what the clock reads there for no work. On a loaded machine it is tens of microseconds (the
    first instructions after the controller's step end), and the recorder's figure is given less this floor."""

    def __init__(self) -> None:
        self.wall = self.cpu = 0.0

    def batch_end(self, state, logger) -> None:
        wall, cpu = time.perf_counter(), time.thread_time()
        self.wall += time.perf_counter() - wall
        self.cpu += time.thread_time() - cpu


def without_curve_evals(wl: Workload) -> Workload:
    """``wl`` whose curve measures no eval point: evaluation is excluded from the timings (`eval_points`)."""
    return dataclasses.replace(wl, curve_evals=()) if wl.curve_evals else wl


def eval_points(wl: Workload, steps: int) -> tuple[int, float, float]:
    """One run of ``wl`` with its curve's eval points: (points, their wall seconds, the run's train_seconds)."""
    record = run_trial(wl, [], seed=0, budget=Budget("flops", steps * baseline_step_flops(wl)))
    return len(record.curve.eval_points), record.curve.eval_seconds, record.train_seconds


def measure(wl: Workload, steps: int, repeats: int) -> dict[str, tuple[float, float]]:
    """Median (wall, CPU) seconds of each of the four over ``repeats`` interleaved repetitions, and the time inside
    the curve recorder summed over the curve-recording runs (``recorder``: wall, CPU; ``recorder_calls``)."""
    wl = without_curve_evals(wl)
    trickstack_trial(wl, 20, 0), bare_composer(wl, 20, 0), hand_written(wl, 20, 0)  # warm up: data, allocator
    ours, no_curve, bare, floor = [], [], [], []
    clock, floor_clock = RecorderClock(), ClockFloor()
    for repeat in range(repeats):  # interleaved, so drifts in machine load hit all four alike
        for curve in (True, False) if repeat % 2 == 0 else (False, True):  # which goes first alternates
            if curve:
                with mock.patch.object(CurveRecorder, "batch_end", lambda self, state, logger: clock(self, state, logger)):
                    ours.append(trickstack_trial(wl, steps, repeat))
            else:
                no_curve.append(trickstack_trial(wl, steps, repeat, curve=False, callbacks=(floor_clock,)))
        bare.append(bare_composer(wl, steps, repeat))
        floor.append(hand_written(wl, steps, repeat))
        print(f"  repeat {repeat} (wall s, CPU s): trickstack {ours[-1][0]:.2f}, {ours[-1][1]:.2f}; without its curve "
              f"{no_curve[-1][0]:.2f}, {no_curve[-1][1]:.2f}; bare Composer {bare[-1][0]:.2f}, {bare[-1][1]:.2f}; "
              f"hand-written {floor[-1][0]:.2f}, {floor[-1][1]:.2f}", flush=True)

    def med(runs: list[tuple[float, float]]) -> tuple[float, float]:
        return statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)

    return {"trickstack": med(ours), "no_curve": med(no_curve), "bare": med(bare), "floor": med(floor),
            "recorder": (clock.wall - floor_clock.wall, clock.cpu - floor_clock.cpu),
            "clock_floor": (floor_clock.wall, floor_clock.cpu), "recorder_calls": (clock.calls, clock.calls),
            "curve_runs": (sum(r[0] for r in ours), sum(r[1] for r in ours))}


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
            inside, calls, total = t["recorder"][i], t["recorder_calls"][i], t["curve_runs"][i]
            print(f"  {clock}: learning curve: trickstack with / without recording it {ours / t['no_curve'][i]:.4f}; "
                  f"time inside the recorder, less the clock's floor there ({t['clock_floor'][i] / calls * 1e6:.1f} us), "
                  f"{inside / calls * 1e6:.1f} us per step = {inside / total:.3%} of a step (goal <= 1%)", flush=True)
        if wl.curve_evals:
            points, seconds, train = eval_points(wl, args.steps)
            print(f"  curve eval points: {points} evaluations took {seconds:.2f} s wall, {seconds / train:.1%} of the "
                  "run's train_seconds (outside the budget and train_seconds)", flush=True)


if __name__ == "__main__":
    main()
