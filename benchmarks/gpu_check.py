"""What trickstack does on this machine's accelerator, in one run (sized for a few minutes on one GPU; not yet run on one).

Prints, for ``--device`` (default ``auto``: a CUDA GPU when there is one):

1. the device and the versions (torch, CUDA, Composer, trickstack; the GPU's model and count);
2. two identical runs of the workload (default ``cifar10``, the speedrun) in deterministic mode, and whether their
   metrics are identical bit for bit;
3. the FLOP budget error of those runs (spent / budget - 1);
4. trickstack's time per step over a hand-written PyTorch loop on the same device (the approach of
   `trickstack.benchmarks.overhead`: the MNIST-1D model, the same batches, interleaved repeats);
5. a baseline's metric and wall time at the workload's reference budget (for ``cifar10``: airbench94's network
   and recipe without its tricks, 9.9 epochs).
6. a run under a budget in seconds: the time its budget controller charged (the device's clock: CUDA events) beside
   the same steps timed by synchronizing the device at each step's end (`clock_check`).

``--device cpu --tiny`` is the dry path (seconds; the test suite runs it): every step, at a few training steps,
on the workload's CPU-sized variant where it names one (``cifar10-tiny`` for ``cifar10``).

``--data synthetic`` trains on generated data in the workloads' shapes (`trickstack.benchmarks.synthetic_data`), for a
machine without the real data (no network, no CIFAR-10): the steps, FLOPs and times are the workload's, its metric
values mean nothing, and the output says so. ``auto`` (the default) takes the real data and falls back to
synthetic data with a message when it is absent; ``real`` never falls back.

    python -m trickstack.benchmarks.gpu_check [--device auto] [--workload cifar10] [--tiny] [--data auto|real|synthetic]
        [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from typing import Optional, Sequence

import torch
from composer.core import Callback

from trickstack.benchmarks.overhead import hand_written, trickstack_trial
from trickstack.benchmarks.synthetic_data import MODES, TIMING_ONLY, with_data
from trickstack.core.budget import Budget
from trickstack.core.errors import UserError
from trickstack.core.records import provenance
from trickstack.trial.clocks import Clock, synchronizing_clock
from trickstack.trial.devices import accelerator, resolve_device
from trickstack.trial.flops import BudgetController
from trickstack.trial.runner import baseline_step_flops, reference_budget, run_trial
from trickstack.workloads import get_workload

# (full, tiny): training steps of the determinism runs, of each timed loop, and the timing repeats.
REPEAT_STEPS = (1000, 10)
OVERHEAD_STEPS = (1000, 20)
REPEATS = (3, 1)
TINY_REFERENCE = 0.1  # --tiny: the "reference" run spends this fraction of the reference budget (cifar10-tiny: 4 of its 40 steps)
DEFAULT_WORKLOAD = "cifar10"
CLOCK_SECONDS = (5.0, 0.3)  # (full, tiny): the budget in seconds of the clock check's run


def check(device: str = "auto", workload: str = DEFAULT_WORKLOAD, tiny: bool = False, data: str = "auto") -> dict:
    """Run the five checks (see the module doc); return their results as a dict of plain values.

    ``tiny``: a few steps of each, on the workload's ``cpu_variant`` when it has one (the dry path). ``data``:
    ``auto``, ``real`` or ``synthetic`` (`trickstack.benchmarks.synthetic_data.with_data`)."""
    device = resolve_device(device)
    wl = get_workload(workload)
    if tiny and wl.cpu_variant:
        wl = get_workload(wl.cpu_variant)
    wl, source = with_data(wl, data)
    mnist, mnist_source = with_data(get_workload("mnist1d"), data)
    size = int(tiny)
    prov = provenance(accelerator(device), True)
    result: dict = {"device": device, "accelerator": prov.accelerator, "accelerator_count": prov.accelerator_count,
                    "cuda": prov.cuda, "torch": prov.torch, "composer": prov.composer,
                    "trickstack": prov.trickstack_version, "git_commit": prov.git_commit, "workload": wl.name,
                    "data": {wl.name: source, mnist.name: mnist_source}}

    steps = min(REPEAT_STEPS[size], wl.reference_steps)  # never longer than the reference run (cifar10: 476 steps)
    budget = Budget("flops", float(steps * baseline_step_flops(wl)))
    a, b = (run_trial(wl, [], seed=0, budget=budget, device=device, deterministic=True) for _ in range(2))
    result["repeat"] = {"steps": a.steps, "metric": wl.metric, "values": [a.metrics.eval_value, b.metrics.eval_value],
                        "identical": a.metrics.eval_value == b.metrics.eval_value
                        and a.metrics.train_loss == b.metrics.train_loss}
    result["budget_error"] = [r.flops / r.budget.value - 1 for r in (a, b)]

    steps = OVERHEAD_STEPS[size]
    trickstack_trial(mnist, 5, 0, device), hand_written(mnist, 5, 0, device)  # warm up: kernels, allocator, data
    ours, floor = [], []
    for repeat in range(REPEATS[size]):  # interleaved, so drifts in load hit both alike
        ours.append(trickstack_trial(mnist, steps, repeat, device)[0])  # wall-clock seconds
        floor.append(hand_written(mnist, steps, repeat, device)[0])
    result["overhead"] = {"steps": steps, "repeats": REPEATS[size], "trickstack_seconds": statistics.median(ours),
                          "hand_written_seconds": statistics.median(floor),
                          "ratio": statistics.median(ours) / statistics.median(floor)}

    reference = reference_budget(wl).scaled(TINY_REFERENCE) if tiny else reference_budget(wl)
    start = time.perf_counter()
    run = run_trial(wl, [], seed=0, budget=reference, device=device)
    result["reference"] = {"fraction": TINY_REFERENCE if tiny else 1.0, "steps": run.steps, "metric": wl.metric,
                           "value": run.metrics.eval_value, "wall_seconds": time.perf_counter() - start,
                           "train_seconds": run.train_seconds}
    result["seconds_clock"] = clock_check(device, wl, CLOCK_SECONDS[size])
    return result


def show(r: dict) -> None:
    gpu = f", {r['accelerator']} x{r['accelerator_count']}, CUDA {r['cuda']}" if r["accelerator"] else ""
    print(f"device {r['device']}{gpu}; torch {r['torch']}, composer {r['composer']}, trickstack {r['trickstack']} "
          f"@ {(r['git_commit'] or 'wheel')[:10]}")
    generated = [name for name, source in r["data"].items() if source == "synthetic"]
    if generated:
        print(f"data of {', '.join(generated)}: {TIMING_ONLY.upper()}")
    rep = r["repeat"]
    print(f"{r['workload']}: two deterministic runs of {rep['steps']} steps, seed 0: {rep['metric']} "
          f"{rep['values'][0]!r} and {rep['values'][1]!r}: {'identical' if rep['identical'] else 'DIFFERENT'}")
    print(f"FLOP budget error (spent / budget - 1): {', '.join(f'{e:+.2e}' for e in r['budget_error'])}")
    o = r["overhead"]
    print(f"time per step, mnist1d, {o['steps']} steps, median of {o['repeats']}: trickstack "
          f"{o['trickstack_seconds'] / o['steps'] * 1e3:.3f} ms, "
          f"hand-written {o['hand_written_seconds'] / o['steps'] * 1e3:.3f} ms: "
          f"ratio {o['ratio']:.2f}")
    ref = r["reference"]
    label = "the reference budget" if ref["fraction"] == 1 else f"{ref['fraction']:g} x the reference budget (--tiny)"
    print(f"baseline at {label}: {ref['steps']} steps, {ref['metric']} {ref['value']!r}, "
          f"{ref['wall_seconds']:.1f} s wall ({ref['train_seconds']:.1f} s training)")
    show_clock(r["seconds_clock"])


class _SyncedSteps(Callback):
    """Times training by a synchronizing clock, beside what the budget controller charged: from the first step's
    start to each step's end, read after the controller's own readings of those boundaries."""

    def __init__(self, clock: Clock):
        self.clock, self.marks, self.charged = clock, [], []
        self.controller: Optional[BudgetController] = None

    def before_dataloader(self, state, logger) -> None:
        if not self.marks:
            self.controller = next(cb for cb in state.callbacks if isinstance(cb, BudgetController))
            self._mark()

    def batch_end(self, state, logger) -> None:
        self._mark()

    def _mark(self) -> None:
        self.marks.append(self.clock.now())
        self.charged.append(self.controller.spent)  # type: ignore[union-attr]


def clock_check(device: str, wl, seconds: float) -> dict:
    """Item 3 of the GPU check: a baseline run of ``wl`` under a budget of ``seconds``; the seconds its controller
    charged by the device's clock (on CUDA: events) against the same steps timed by synchronizing the device."""
    synced = _SyncedSteps(synchronizing_clock(device))
    run = run_trial(wl, [], seed=0, budget=Budget("seconds", seconds), device=device, callbacks=[synced])
    charged, timed = synced.charged[-1] - synced.charged[0], synced.marks[-1] - synced.marks[0]
    steps = [(c1 - c0) / (t1 - t0) for c0, c1, t0, t1 in
             zip(synced.charged, synced.charged[1:], synced.marks, synced.marks[1:]) if t1 > t0]
    return {"budget_seconds": seconds, "steps": run.steps, "charged_seconds": charged, "synchronized_seconds": timed,
            "ratio": charged / timed, "step_ratio_median": statistics.median(steps)}


def show_clock(c: dict) -> None:
    print(f"budget of {c['budget_seconds']:g} s: {c['steps']} steps charged {c['charged_seconds']:.3f} s by the device's "
          f"clock, {c['synchronized_seconds']:.3f} s timed by synchronizing: ratio {c['ratio']:.3f} "
          f"(median per step {c['step_ratio_median']:.3f})")


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    parser.add_argument("--workload", default=DEFAULT_WORKLOAD)
    parser.add_argument("--tiny", action="store_true",
                        help="a few steps of each check, on the workload's CPU-sized variant: the dry path, seconds")
    parser.add_argument("--data", choices=MODES, default="auto",
                        help="synthetic: generated data in the workloads' shapes, timing only (for a machine without "
                             "the real data); auto (default): the real data, else synthetic with a message")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args(argv)
    try:
        result = check(args.device, args.workload, args.tiny, args.data)
    except UserError as error:  # a device this machine lacks: one line, exit code 2 (as the CLI)
        print(f"gpu_check: {error}", file=sys.stderr)
        sys.exit(2)
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        show(result)
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
