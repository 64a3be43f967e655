"""Devices: a device the machine lacks is one message and exit 2; records say where and how a run trained."""

from __future__ import annotations

import multiprocessing
import os

import pytest
import torch

from trickstack.core.errors import UserError
from trickstack.trial import devices
from trickstack.trial.devices import resolve_device, set_deterministic, worker_devices
from trickstack.trial.runner import run_trial


@pytest.mark.parametrize("name, count, mps, expected", [
    ("auto", 0, False, "cpu"), ("auto", 2, False, "cuda:0"), ("cpu", 4, True, "cpu"), ("CUDA", 1, False, "cuda:0"),
    ("cuda:1", 2, False, "cuda:1"), ("mps", 0, True, "mps"),
])
def test_a_device_resolves_against_the_machine(name, count, mps, expected):
    assert resolve_device(name, cuda_count=count, mps=mps) == expected


@pytest.mark.parametrize("name, count, mps, message", [
    ("cuda", 0, False, r"device 'cuda' is not available: .*; use cpu or auto"),
    ("cuda:2", 2, False, r"device 'cuda:2' does not exist: this machine has 2 CUDA GPUs \(cuda:0 to cuda:1\)"),
    ("cuda:1", 1, False, r"this machine has 1 CUDA GPU \(cuda:0\)"),
    ("mps", 0, False, r"device 'mps' is not available"),
    ("gpu", 1, False, r"unknown device 'gpu'; expected one of auto, cpu, cuda, cuda:N, mps"),
])
def test_a_device_the_machine_lacks_is_a_user_error(name, count, mps, message):
    with pytest.raises(UserError, match=message):
        resolve_device(name, cuda_count=count, mps=mps)


def test_each_worker_gets_its_own_gpu_and_more_workers_share_them_in_turn():
    assert worker_devices("auto", 4, cuda_count=4) == ["cuda:0", "cuda:1", "cuda:2", "cuda:3"]
    assert worker_devices("cuda", 5, cuda_count=2) == ["cuda:0", "cuda:1", "cuda:0", "cuda:1", "cuda:0"]
    assert worker_devices("cuda:1", 3, cuda_count=2) == ["cuda:1"] * 3  # a named GPU: every worker on it
    assert worker_devices("auto", 3, cuda_count=0) == ["cpu"] * 3
    assert worker_devices("cpu", 2, cuda_count=8) == ["cpu", "cpu"]


def test_the_study_engine_starts_each_worker_on_its_device(monkeypatch):
    """`ablate --workers 3` on a machine with 2 GPUs (a fake count): workers on cuda:0, cuda:1, cuda:0."""
    from trickstack.ablations import engine

    started = []

    class FakeProcess:
        exitcode = 0  # ended well: the coordinator reads it

        def __init__(self, target, args, kwargs=None):
            started.append(args)

        def start(self):
            pass

        def is_alive(self):
            return False

        def join(self):
            pass

    class FakeContext:
        Process = FakeProcess
        SimpleQueue = multiprocessing.SimpleQueue  # the workers' stop messages (none here)

    monkeypatch.setattr(devices, "_cuda_count", lambda: 2)
    monkeypatch.setattr(engine, "worker_context", lambda: FakeContext())
    monkeypatch.setattr(engine, "stop_if_stopped", lambda ctx: None)  # no study here to have been stopped
    servers = []
    monkeypatch.setattr(engine, "start_worker_server", lambda workers, workloads: servers.append((workers, workloads)))
    spec = type("Spec", (), {"study": type("Study", (), {"name": "s", "workload": "mnist1d"})()})()
    ctx = engine.Context(spec, "journal:///x", 3, study=None, order=[], device="auto", deterministic=False)
    engine._run_workers(ctx, set(), "evaluation")
    assert [(a[4], a[5]) for a in started] == [("cuda:0", False), ("cuda:1", False), ("cuda:0", False)]
    assert servers == [(3, ["mnist1d"])]  # the fork server, with the study's workload preloaded


@pytest.mark.parametrize("command", [["run"], ["worker", "some-study"], ["ablate", "ablations/mnist1d-demo.toml"],
                                     ["recipe", "derive", "--workload", "mnist1d", "--year", "2016"]])
def test_the_cli_refuses_a_missing_device_with_exit_2(cli, monkeypatch, command):
    monkeypatch.setattr(devices, "_cuda_count", lambda: 0)  # this machine, whatever it really has
    code, _, err = cli(*command, "--device", "cuda")
    assert code == 2, err
    assert "--device cuda: device 'cuda' is not available" in " ".join(err.split()) and "Traceback" not in err


def test_the_record_says_the_device_and_whether_the_run_was_deterministic(workload, small_budget):
    record = run_trial(workload, [], seed=0, budget=small_budget.scaled(0.1), device="cpu")
    p = record.provenance
    assert (p.device, p.accelerator, p.accelerator_count, p.cuda, p.deterministic) == ("cpu", None, None, None, True)
    loose = run_trial(workload, [], seed=0, budget=small_budget.scaled(0.1), device="cpu", deterministic=False)
    assert loose.provenance.deterministic is False and not torch.are_deterministic_algorithms_enabled()
    # On the CPU the deterministic switch changes no bits of these models.
    assert loose.metrics.eval_value == record.metrics.eval_value
    set_deterministic(True)


def test_deterministic_mode_sets_cublas_workspace(monkeypatch):
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    set_deterministic(True)
    assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8" and torch.are_deterministic_algorithms_enabled()


def test_old_records_without_device_fields_stay_valid(workload, small_budget):
    from trickstack.core.records import RunRecord

    record = run_trial(workload, [], seed=0, budget=small_budget.scaled(0.1))
    data = record.model_dump(mode="json")
    for key in ("device", "accelerator", "accelerator_count", "cuda", "deterministic"):
        del data["provenance"][key]
    assert RunRecord.model_validate(data).provenance.device is None
