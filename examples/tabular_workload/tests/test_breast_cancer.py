"""The plugin's own tests: trickstack's workload checks in one line, the entry point, and a tiny study."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from trickstack.cli.app import app
from trickstack.testing.workload import check_workload
from trickstack.workloads import get_workload, list_workloads

HERE = Path(__file__).resolve().parent.parent


def test_the_workload_keeps_trickstacks_contract():
    check_workload("breast_cancer")


def test_the_entry_point_registers_it_by_name():
    assert "breast_cancer" in list_workloads()
    assert get_workload("breast_cancer").provides == ("classification", "logits", "adam_optimizer", "tabular")


def test_the_split_is_fixed_and_stratified():
    s = get_workload("breast_cancer").splits
    assert (len(s.train_x), len(s.eval_x)) == (455, 114) and s.train_x.shape[1] == 30
    share = lambda y: float(y.float().mean())  # noqa: E731  (the share of benign tumours)
    assert abs(share(s.train_y) - share(s.eval_y)) < 0.01


def trickstack(*args: str) -> str:
    """``trickstack ARGS`` in this process (Composer is imported once for the whole test file)."""
    result = CliRunner().invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout


def test_a_tiny_study_and_its_report(tmp_path):
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    trickstack("ablate", str(HERE / "breast-cancer-study.toml"), "--storage", storage, "--device", "cpu")
    report = json.loads(trickstack("report", "breast-cancer-demo", "--storage", storage, "--format", "json"))
    assert report["study"] == "breast-cancer-demo"
    assert all(trick in json.dumps(report) for trick in ("label_smoothing", "ema"))
    table = trickstack("export", "breast-cancer-demo", "--storage", storage)
    assert table.count("\n") == 1 + 4 * 2  # header, then 4 arms x 2 paired seeds
