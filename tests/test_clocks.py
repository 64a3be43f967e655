"""The clock of a budget in seconds (`trickstack.trial.clocks`): on CUDA a step is charged the GPU's time, read
from events it waits for, not the time Python took to queue the step. Checked with a fake GPU whose kernels take
the time the test says, so the charges are exact whatever the machine's load."""

from __future__ import annotations

import pytest
import torch
from composer.core import Callback

from trickstack.core.budget import Budget
from trickstack.trial import clocks, runner
from trickstack.trial.clocks import CudaClock, SyncClock, WallClock, device_clock
from trickstack.trial.runner import run_trial


class FakeCuda:
    """`torch.cuda` as the clock uses it, on a GPU whose time advances only by the work queued on it (``queue``):
    an event is reached when the work queued before it is done; ``elapsed_time`` needs both events waited for."""

    def __init__(self):
        self.gpu_ms = 0.0  # when the work queued so far is done, on the GPU's clock
        self.log: list[tuple] = []
        fake = self

        class Event:
            def __init__(self, enable_timing=False):
                assert enable_timing, "an event without timing has no elapsed_time"
                self.at, self.waited = None, False

            def record(self, stream):
                fake.log.append(("record", stream))
                self.at = fake.gpu_ms

            def synchronize(self):
                assert self.at is not None
                fake.log.append(("synchronize",))
                self.waited = True

            def elapsed_time(self, end):
                assert self.waited and end.waited, "torch refuses the time of an event not yet reached"
                return end.at - self.at

        self.Event = Event

    def current_stream(self, device):
        return f"stream of {device}"

    def queue(self, seconds: float) -> None:
        self.gpu_ms += seconds * 1e3


def test_a_cuda_reading_is_the_gpus_time_at_an_event_it_waited_for():
    fake = FakeCuda()
    clock = CudaClock("cuda:1", cuda=fake)
    assert clock.now() == 0.0
    fake.queue(0.25)  # kernels queued: Python returns at once, the GPU takes 0.25 s
    assert clock.now() == pytest.approx(0.25)
    assert fake.log[-2:] == [("record", f"stream of {torch.device('cuda:1')}"), ("synchronize",)]
    assert clock.now() == pytest.approx(0.25)  # nothing queued since: no GPU time passed


def test_a_sync_clock_waits_for_the_device_before_reading():
    calls = []
    clock = SyncClock(lambda: calls.append("synchronize"))
    first = clock.now()
    assert calls == ["synchronize"] and clock.now() >= first and calls == ["synchronize"] * 2


def test_each_device_has_its_clock():
    assert isinstance(device_clock("cpu"), WallClock)
    cuda = device_clock("cuda:2")
    assert isinstance(cuda, CudaClock) and cuda.device == torch.device("cuda:2")
    assert isinstance(device_clock("mps"), SyncClock)


class QueueWork(Callback):
    """Queues fake GPU work: ``between`` seconds at FIT_START (between steps), ``per_step`` in every backward."""

    def __init__(self, fake: FakeCuda, per_step: float, between: float):
        self.fake, self.per_step, self.between = fake, per_step, between

    def fit_start(self, state, logger):
        self.fake.queue(self.between)

    def after_backward(self, state, logger):
        self.fake.queue(self.per_step)


def test_a_budget_in_seconds_is_charged_the_gpus_time(monkeypatch):
    # Each step takes 50 ms on the fake GPU and FIT_START 200 ms: a budget of 1 s buys (1 - 0.2) / 0.05 = 16 steps,
    # however fast Python queues them (a step on this CPU takes a few ms, so its wall time would buy hundreds).
    fake = FakeCuda()
    monkeypatch.setattr(runner, "device_clock", lambda device: CudaClock("cuda:0", cuda=fake))
    record = run_trial("digits", seed=0, budget=Budget("seconds", 1.0), callbacks=[QueueWork(fake, 0.05, 0.2)])
    assert record.steps == 16
    assert fake.gpu_ms == pytest.approx(200 + 16 * 50)


class NoClock:
    def now(self) -> float:
        raise AssertionError("a budget in FLOPs read the clock (on CUDA: a wait for the GPU at every step)")


def test_a_budget_in_flops_or_samples_reads_no_clock(monkeypatch):
    monkeypatch.setattr(runner, "device_clock", lambda device: NoClock())
    for budget in (Budget("flops", 5 * runner.baseline_step_flops(runner.get_workload("digits"))), Budget("samples", 320)):
        assert run_trial("digits", seed=0, budget=budget).steps == 5


def test_the_cpu_clock_is_perf_counter(monkeypatch):
    monkeypatch.setattr(clocks.time, "perf_counter", lambda: 42.0)
    assert WallClock().now() == 42.0
