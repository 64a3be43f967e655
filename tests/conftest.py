"""Shared fixtures: small budgets (seconds of training) and an in-process CLI runner."""

from __future__ import annotations

import sys

import pytest

from trickstack.core.budget import Budget

collect_ignore = ["workload_import_raises.py"]  # a plugin module that raises on import, on purpose (a test imports it)

pytest_plugins = ["plugin_fixtures", "disk_fixture"]  # `plugins`: fake trick entry points; `disk`: a small real disk


@pytest.fixture(autouse=True)
def _workload_registry_restored():
    """A workload a test makes (``module:factory`` references register theirs) does not outlive the test."""
    from trickstack import workloads

    workloads.list_workloads(testing=True)  # built-ins, plugins and the simulated one loaded before the snapshot
    saved = dict(workloads._REGISTRY), dict(workloads._FROM_REFS)
    yield
    for live, kept in zip((workloads._REGISTRY, workloads._FROM_REFS), saved):
        live.clear()
        live.update(kept)


@pytest.fixture(scope="session")
def workload():
    from trickstack.workloads import get_workload

    return get_workload("mnist1d")


@pytest.fixture(scope="session")
def step_flops(workload) -> int:
    from trickstack.trial.runner import baseline_step_flops

    return baseline_step_flops(workload)


@pytest.fixture(scope="session")
def small_budget(step_flops) -> Budget:
    """About 120 baseline steps of MNIST-1D: half a second of training."""
    return Budget("flops", 120 * step_flops)


@pytest.fixture
def cli(monkeypatch, capsys):
    """Run ``trickstack ARGS`` in this process; return (exit code, stdout, stderr)."""
    from trickstack.cli.app import main

    def invoke(*args: str):
        monkeypatch.setattr(sys, "argv", ["trickstack", *args])
        code = 0
        try:
            main()
        except SystemExit as exit:
            code = exit.code if isinstance(exit.code, int) else (0 if exit.code is None else 1)
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return invoke
