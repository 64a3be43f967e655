"""The GPU check's CPU dry path (``--device cpu --tiny``): every step runs, in seconds."""

from __future__ import annotations

import json
import math

import pytest
from cifar_fixture import generated_cifar

from trickstack.benchmarks import gpu_check
from trickstack.trial import devices


def test_the_dry_path_runs_every_check_on_the_cpu(capsys, tmp_path):
    with generated_cifar(tmp_path):  # cifar10 by default; --tiny trains its CPU variant, on a generated set here
        gpu_check.main(["--device", "cpu", "--tiny", "--json"])
    r = json.loads(capsys.readouterr().out)
    assert r["device"] == "cpu" and r["accelerator"] is None and r["workload"] == "cifar10-tiny"
    assert r["repeat"]["identical"] is True and r["repeat"]["steps"] == gpu_check.REPEAT_STEPS[1]
    assert all(abs(e) <= 0.02 for e in r["budget_error"])
    o = r["overhead"]
    assert o["steps"] == gpu_check.OVERHEAD_STEPS[1] and o["ratio"] == o["trickstack_seconds"] / o["hand_written_seconds"]
    assert math.isfinite(r["reference"]["value"]) and r["reference"]["fraction"] == gpu_check.TINY_REFERENCE
    c = r["seconds_clock"]
    assert c["budget_seconds"] == gpu_check.CLOCK_SECONDS[1] and c["steps"] >= 1 and c["synchronized_seconds"] > 0
    assert c["ratio"] == c["charged_seconds"] / c["synchronized_seconds"] and c["step_ratio_median"] > 0
    gpu_check.show(r)
    text = capsys.readouterr().out
    assert "two deterministic runs" in text and "identical" in text and "FLOP budget error" in text
    assert "hand-written" in text and f"baseline at {gpu_check.TINY_REFERENCE:g} x the reference budget" in text
    assert text.startswith("device cpu") and "cifar10-tiny: two deterministic runs" in text
    assert "timed by synchronizing: ratio" in text


def test_a_device_the_machine_lacks_exits_2_with_one_line(monkeypatch, capsys):
    monkeypatch.setattr(devices, "_cuda_count", lambda: 0)
    with pytest.raises(SystemExit) as exit:
        gpu_check.main(["--device", "cuda", "--tiny"])
    assert exit.value.code == 2
    assert capsys.readouterr().err.startswith("gpu_check: device 'cuda' is not available")
