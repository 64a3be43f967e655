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


def test_records_are_read_back_so_a_rerun_trains_nothing_new(tmp_path, capsys):
    records = tmp_path / "runs.jsonl"
    args = ["--stack", "label_smoothing", "--seeds", "1", "--budget-fraction", "0.01", "--records", str(records)]
    main(args)
    first = capsys.readouterr().out
    main(args[:3] + ["2"] + args[4:])  # one more seed: only its two runs are trained
    second = capsys.readouterr().out
    lines = records.read_text().splitlines()
    assert len(lines) == 4 and second.count("read back from") == 2 and "read back" not in first
    assert first.splitlines()[1].split(" (")[0] == second.splitlines()[1].split(" (")[0]  # seed 0's value, reused


def test_baseline_runs_are_shared_with_the_reference_benchmark(tmp_path, capsys):
    from trickstack.benchmarks.reference import main as reference
    from trickstack.benchmarks.reuse import RecordFile
    from trickstack.core.budget import Budget
    from trickstack.trial.runner import reference_budget
    from trickstack.workloads import get_workload

    records = tmp_path / "runs.jsonl"
    reference(["--workload", "mnist1d", "--seeds", "1", "--budget-fraction", "0.01", "--records", str(records)])
    assert "read back" not in capsys.readouterr().out
    main(["--stack", "ema", "--seeds", "1", "--budget-fraction", "0.01", "--records", str(records)])
    assert capsys.readouterr().out.count("read back from") == 1  # the baseline's seed 0
    wl = get_workload("mnist1d")
    kept, budget = RecordFile(records), Budget("flops", reference_budget(wl).value * 0.01)
    assert len(kept.records) == 2 and kept.find(wl, [], 0, budget, {}, None) is kept.records[0]
    assert kept.find(wl, [], 0, reference_budget(wl), {}, None) is None  # another budget
    assert kept.find(wl, [], 0, budget, {"lr": 0.02}, None) is None  # another nuisance value
    assert kept.find(wl, ["ema"], 0, budget, {"ema.half_life": "9ba"}, None) is None  # another parameter
    assert kept.find(wl, [], 1, budget, {}, None) is None  # another seed


def test_the_stack_arm_can_be_a_recipe(tmp_path, capsys):
    recipe = tmp_path / "2016.toml"
    recipe.write_text('[recipe]\nworkload = "mnist1d"\nyear = 2016\nsummary = "test"\n\n'
                      '[tricks.label_smoothing]\nreason = "a test"\nparams = { smoothing = 0.2 }\n\n[nuisance]\nlr = 0.02\n')
    records = tmp_path / "runs.jsonl"
    main(["--recipe", str(recipe), "--seeds", "1", "--budget-fraction", "0.01", "--records", str(records)])
    out = capsys.readouterr().out
    arm = json.loads(records.read_text().splitlines()[1])
    assert arm["recipe"]["name"] == "mnist1d/2016" and arm["tricks"][0]["params"]["smoothing"] == 0.2
    assert arm["nuisance"]["lr"] == 0.02 and "paired gain of mnist1d/2016 (label_smoothing) over baseline" in out


def test_a_bad_recipe_or_a_workload_that_differs_from_it_exits_2_naming_it(tmp_path, capsys):
    import pytest

    with pytest.raises(SystemExit) as stop:
        main(["--recipe", "mnist1d/1999", "--seeds", "1"])
    assert stop.value.code == 2 and "1999" in capsys.readouterr().err
    with pytest.raises(SystemExit) as stop:
        main(["--recipe", "mnist1d/2016", "--workload", "digits", "--seeds", "1"])
    assert stop.value.code == 2 and "differs from recipe mnist1d/2016" in capsys.readouterr().err
