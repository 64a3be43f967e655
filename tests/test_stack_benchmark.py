"""The paired stack benchmark (benchmarks/stack.py) on a seconds-long MNIST-1D budget."""

import json

from trickstack.benchmarks.stack import main


def test_paired_comparison_prints_gain_and_keeps_records(tmp_path, capsys):
    records = tmp_path / "runs.jsonl"
    main(["--workload", "mnist1d", "--stack", "label_smoothing", "--set", "label_smoothing.smoothing=0.3",
          "--seeds", "2", "--budget-fraction", "0.01", "--records", str(records)])
    out = capsys.readouterr().out
    lines = [json.loads(line) for line in records.read_text().splitlines()]
    assert [(r["seed"], [t["name"] for t in r["tricks"]]) for r in lines] == [
        (0, []), (0, ["label_smoothing"]), (1, []), (1, ["label_smoothing"])]
    assert lines[1]["tricks"][0]["params"]["smoothing"] == 0.3
    # the printed paired gain is the mean of the per-seed differences of the recorded runs
    gain = sum(lines[i + 1]["metrics"]["eval_value"] - lines[i]["metrics"]["eval_value"] for i in (0, 2)) / 2
    assert f"paired gain of label_smoothing over baseline (higher is better): {gain:.4f}" in out
    assert "n=2, one-sided p = " in out
