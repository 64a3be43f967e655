"""The command line, in process: output, records, and one clear message with exit code 2 for bad input."""

import json

import pytest

from trickstack.core.records import RunRecord


def test_help_lists_the_commands(cli):
    code, out, _ = cli("--help")
    assert code == 0 and all(word in out for word in ("run", "tricks", "workloads"))


def test_tricks_list_json_has_status_per_workload(cli):
    code, out, _ = cli("tricks", "list", "--json")
    rows = json.loads(out)
    assert code == 0 and len(rows) >= 8
    row = next(r for r in rows if r["name"] == "label_smoothing")
    assert row["year"] == 2016 and row["changes"] == ["targets"] and row["status"]["mnist1d"] == "ok"


def test_tricks_list_table_and_show(cli):
    code, out, _ = cli("tricks", "list", "label*")
    assert code == 0 and "label_smoothing" in out and "1 tricks" in out
    code, out, _ = cli("tricks", "show", "label_smoothing")
    assert code == 0 and "smoothing=0.1 [0.0, 0.5]" in out and "arxiv.org" in out and "on mnist1d: ok" in out


def test_workloads_list(cli):
    code, out, _ = cli("workloads", "list", "--json")
    assert code == 0 and "mnist1d" in [w["name"] for w in json.loads(out)]


def test_run_prints_json_and_writes_the_record(cli, tmp_path, small_budget):
    code, out, err = cli("run", "--tricks", "label_smoothing", "--seed", "1", "--budget", str(small_budget.value),
                         "--set", "label_smoothing.smoothing=0.2", "--set", "lr=0.005", "--json", "--out", str(tmp_path))
    assert code == 0, err
    record = RunRecord.from_json(out)
    assert record.tricks[0].params == {"smoothing": 0.2} and record.nuisance["lr"] == 0.005
    saved = list(tmp_path.glob("*.json"))
    assert len(saved) == 1 and RunRecord.from_json(saved[0].read_text()) == record


def test_run_budget_as_a_fraction_of_the_reference(cli):
    from trickstack.trial.runner import reference_budget
    from trickstack.workloads import get_workload

    code, out, err = cli("run", "--budget", "0.002x", "--json")
    assert code == 0, err
    assert RunRecord.from_json(out).budget.value == pytest.approx(0.002 * reference_budget(get_workload("mnist1d")).value)


@pytest.mark.parametrize("args,message", [
    (["run", "--budget", "-1x"], "must be a positive, finite number"),
    (["run", "--tricks", "label_smothing"], "unknown trick 'label_smothing' (did you mean: label_smoothing"),
    (["run", "--workload", "mnist"], "unknown workload 'mnist' (did you mean: mnist1d?)"),
    (["run", "--tricks", "label_smoothing", "--set", "label_smoothing.smoothing=0.9"], "outside its allowed range"),
    (["run", "--set", "lr"], "--set expected KEY=VALUE"),
    (["run", "--set", "lr=fast"], "cannot read 'fast' as a float"),
    (["run", "--set", "ema.half_life=5ba"], "trick 'ema' is not in --tricks"),
    (["run", "--budget", "1000"], "smaller than one mnist1d step"),
    (["run", "--budget", "1e9", "--budget-unit", "tokens"], "budget unit must be one of"),
    (["tricks", "show", "mixupp"], "unknown trick 'mixupp'"),
    (["run", "--budget-unit", "samples"], "--budget-unit needs --budget"),
    (["status", "x", "--storage", "journal://"], "give a file, e.g. journal:///"),
    (["status", "x", "--storage", "trickstack.db"], "is not a URL"),
])
def test_bad_input_exits_2_with_one_message(cli, args, message):
    code, out, err = cli(*args)
    assert code == 2
    assert message in " ".join(err.split())
    assert "Traceback" not in err and out == ""


def test_conflicting_tricks_are_refused(cli):
    from trickstack.tricks.registry import get_trick, list_tricks

    pairs = [(a, b) for a in list_tricks() for b in get_trick(a).conflicts]
    if not pairs:
        pytest.fail("no registered trick declares a conflict; the conflict path is untested")
    a, b = pairs[0]
    code, _, err = cli("run", "--tricks", f"{a},{b}")
    assert code == 2 and "conflict" in err and a in err and b in err


def test_phase_progress_off_a_terminal_logs_a_line_per_tenth():
    import io

    from rich.console import Console

    from trickstack.cli.consoles import phase_progress

    buffer = io.StringIO()
    with phase_progress("study", Console(file=buffer, force_terminal=False, width=200)) as report:
        for done in range(0, 21):
            report("evaluate", done, 20)
        report("tune", 0, 0)
    lines = buffer.getvalue().splitlines()
    assert [line.split(" (")[0] for line in lines] == [f"study: evaluate {d}/20" for d in range(0, 21, 2)] + ["study: tune 0/0"]
