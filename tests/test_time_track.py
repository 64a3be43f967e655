"""The time track: recipes derived under a budget of training seconds (`recipe derive --budget-unit seconds`),
kept in ``recipes/<workload>/seconds/``, timed on one class of hardware, and a leaderboard of their own."""

import html
import json
import re
import time
import uuid

import pytest
import tomlkit
import torch
from composer.core import Callback

from trickstack.core.budget import Budget
from trickstack.core.errors import UserError
from trickstack.core.evidence import write_runs
from trickstack.core.records import BudgetRecord, RunRecord, provenance
from trickstack.derive import inputs
from trickstack.derive.derive import DeriveOptions, derive
from trickstack.leaderboard import board as lb
from trickstack.leaderboard.site import write_site
from trickstack.recipes.recipe import load_recipe, open_recipe, recipe_name, resolve, seal_recipe, track_folder
from trickstack.stats import rules
from trickstack.trial.flops import SECONDS_INCLUDE
from trickstack.trial.runner import run_trial
from trickstack.workloads import get_workload

BUDGET = Budget("seconds", 0.25)  # training seconds per run: a derivation of ~20 runs in seconds


@pytest.fixture(scope="module")
def derived(tmp_path_factory):
    """A real time-track derivation on mnist1d: 2 searched configurations, 5 evaluation seeds, 0.25 s runs."""
    from trickstack.ablations.storage import drop_memory

    root = tmp_path_factory.mktemp("recipes")
    url = f"memory://{uuid.uuid4().hex}"
    threads, share = torch.get_num_threads(), rules.BUSY_SHARE
    torch.set_num_threads(1)  # one thread: the class the shipped time track is timed on
    rules.BUSY_SHARE = 0.0  # the test machine may be busy (`busy_machine_allowed`)
    try:
        d = derive("mnist1d", 2016, DeriveOptions(budget=BUDGET, track="seconds", trials=2, tricks=("label_smoothing",),
                                                  estimate_seeds=2),  # two timed estimation seeds: the suite stays fast
                   storage=url, recipes=root)
    finally:
        drop_memory(url)
        torch.set_num_threads(threads)
        rules.BUSY_SHARE = share
    return root, d


@pytest.fixture(autouse=True)
def busy_machine_allowed(monkeypatch):
    """The machine running the tests may be busy: only the test of busy runs checks the CPU share (`rules.busy_runs`)."""
    monkeypatch.setattr(rules, "BUSY_SHARE", 0.0)


def records(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_a_time_track_recipe_is_written_to_its_own_folder_with_its_hardware(derived):
    root, d = derived
    assert d.path == track_folder(root, "mnist1d", "seconds") / "2016.toml" == root / "mnist1d" / "seconds" / "2016.toml"
    recipe = load_recipe(d.path)
    assert recipe.track == "seconds" and recipe.name == "mnist1d/seconds/2016" == d.recipe.name
    assert recipe.provenance.budget.unit == "seconds" and recipe.provenance.budget.value == BUDGET.value
    runs = records(d.evidence)
    here = provenance().model_copy(update={"torch_threads": runs[0]["provenance"]["torch_threads"]}).hardware_class
    assert recipe.provenance.hardware == here  # the class of this machine, named as the records give it
    assert {r["budget"]["unit"] for r in runs} == {"seconds"}
    for r in runs:  # each run trained for its budget: to the nearest step (it stops when under half a step is left)
        step = r["train_seconds"] / r["steps"]
        assert BUDGET.value - step <= r["train_seconds"] < BUDGET.value + 0.2, (r["train_seconds"], r["steps"])
    assert not (root / "mnist1d" / "2016.toml").exists()  # the FLOP track is untouched


def test_the_leaderboard_has_a_board_per_track_and_states_the_time_rules(derived, tmp_path):
    root, d = derived
    board = lb.build(root).boards["mnist1d/seconds"]
    assert board.track == "seconds" and board.budget_unit == "seconds" and board.budget == BUDGET.value
    assert board.hardware == [load_recipe(d.path).provenance.hardware]
    assert list(board.table.entry) == ["baseline", "mnist1d/seconds/2016"]
    assert (board.table.train_seconds > 0.8 * BUDGET.value).all()  # from the records: every run spent its seconds
    write_site(lb.build(root), tmp_path / "site")
    assert (tmp_path / "site" / "mnist1d-seconds-2016.html").is_file()
    assert (tmp_path / "site" / "evidence" / "mnist1d" / "seconds" / "2016.runs.jsonl").is_file()
    rules = (tmp_path / "site" / "rules.html").read_text()
    assert html.escape(SECONDS_INCLUDE) in rules and "torch&#x27;s thread count" in rules


def test_runs_timed_on_other_hardware_are_refused(derived, tmp_path):
    root, d = derived
    folder = tmp_path / "mnist1d" / "seconds"
    folder.mkdir(parents=True)
    for name in ("2016.toml", "2016.runs.jsonl"):
        (folder / name).write_text((d.path.parent / name).read_text())
    doc = tomlkit.parse((folder / "2016.toml").read_text())
    doc["provenance"]["hardware"] = "NVIDIA H200 (GPU)"  # a claim its records do not bear out
    (folder / "2016.toml").write_text(tomlkit.dumps(doc))
    with pytest.raises(UserError, match=r"2016.runs.jsonl: runs timed on .*, but .*2016.toml claims "
                                        r"provenance.hardware = 'NVIDIA H200 \(GPU\)'"):
        lb.build(tmp_path)
    # and the next year's derivation refuses, before training, to compare with times from another class
    with pytest.raises(UserError, match="timed on NVIDIA H200 \\(GPU\\), and this derivation would run on"):
        inputs.timed(get_workload("mnist1d"), folder / "2016.toml", 1, "cpu")


def test_a_recipe_keeps_to_its_track(derived, tmp_path):
    root, d = derived
    text = d.path.read_text()
    (tmp_path / "mnist1d").mkdir()
    (tmp_path / "mnist1d" / "2016.toml").write_text(text)  # a time-track recipe in the FLOP track's folder
    with pytest.raises(UserError, match="a recipe of the seconds track in the folder of the flops track.*it belongs in "
                       "mnist1d/seconds/"):
        lb.build(tmp_path)
    (tmp_path / "mnist1d" / "2016.toml").unlink()
    (tmp_path / "mnist1d" / "seconds").mkdir()  # and a FLOP-track recipe in the time track's folder
    (tmp_path / "mnist1d" / "seconds" / "2016.toml").write_text(text.replace('track = "seconds"\n', "").replace(
        'budget = {unit = "seconds", value = 0.25}', 'budget = {unit = "flops", value = 2e9}'))
    with pytest.raises(UserError, match="a recipe of the flops track in the folder of the seconds track.*it belongs in "
                       "mnist1d/\\)"):
        lb.build(tmp_path)
    (tmp_path / "mnist1d" / "seconds" / "2016.toml").unlink()
    flops = text.replace('track = "seconds"\n', "")
    (tmp_path / "mine.toml").write_text(flops)
    with pytest.raises(UserError, match="provenance.budget is in seconds, but the recipe is of the flops track"):
        load_recipe(tmp_path / "mine.toml")
    (tmp_path / "mine.toml").write_text(re.sub(r"\nhardware = .*\n", "\n", text))
    with pytest.raises(UserError, match="provenance.hardware is missing"):
        load_recipe(tmp_path / "mine.toml")
    later = tmp_path / "later.toml"  # a FLOP-track recipe built on a time-track one (inside its recipes folder)
    (tmp_path / "mnist1d" / "seconds" / "2016.toml").write_text(text)
    later.write_text('[recipe]\nworkload = "mnist1d"\nyear = 2019\nbase = "mnist1d/seconds/2016.toml"\nsummary = "x"\n')
    with pytest.raises(UserError, match="recipe.base: .* is a recipe of the seconds track, this one of the flops track"):
        resolve(load_recipe(later))


def test_names_and_references_of_the_time_track(derived, monkeypatch):
    root, d = derived
    monkeypatch.setattr("trickstack.recipes.recipe.recipes_root", lambda: root)
    assert recipe_name("mnist1d", 2016, "seconds") == "mnist1d/seconds/2016" and recipe_name("mnist1d", 2016) == "mnist1d/2016"
    assert resolve(open_recipe("mnist1d/seconds/2016")).name == "mnist1d/seconds/2016"
    with pytest.raises(UserError, match=r"no recipe mnist1d/2016: .* \(none is shipped for mnist1d yet\)"):
        open_recipe("mnist1d/2016")
    assert seal_recipe(d.path) == load_recipe(d.path).provenance.evidence_sha256  # sealed already, unchanged


def test_the_first_time_track_year_needs_a_budget_in_seconds(tmp_path):
    with pytest.raises(UserError, match="the first seconds-track recipe of mnist1d needs a budget in seconds"):
        derive("mnist1d", 2016, DeriveOptions(track="seconds"), recipes=tmp_path, storage="memory://none")
    with pytest.raises(UserError, match="a budget of 2e\\+09 flops for the seconds track: give it in seconds"):
        DeriveOptions(budget=Budget("flops", 2e9), track="seconds")
    with pytest.raises(UserError, match="not samples"):
        DeriveOptions(track="samples")


class SleepAtFitStart(Callback):
    """Work outside the steps: the time a trick spends between steps is training time too."""

    def fit_start(self, state, logger):
        time.sleep(0.3)


def test_time_between_steps_is_charged_to_a_budget_in_seconds():
    # 0.3 s of sleep against a budget of 0.2 s: charged, the budget is spent before the first step ends, so that
    # step is the only one; uncharged, the sleep would come on top and steps would run for the 0.2 s
    record = run_trial("digits", seed=0, budget=Budget("seconds", 0.2), callbacks=[SleepAtFitStart()])
    assert record.steps == 1 and record.train_seconds >= 0.3, (record.steps, record.train_seconds)


def test_runs_timed_on_a_busy_machine_are_refused(derived, tmp_path, monkeypatch):
    root, d = derived
    runs = [RunRecord.from_json(line) for line in d.evidence.read_text().splitlines()]
    hardware = load_recipe(d.path).provenance.hardware
    for r in runs:  # the process's CPU time while it trained is recorded (one thread: at most its wall time, about)
        assert 0 < r.train_cpu_seconds < 1.1 * r.train_seconds, (r.train_cpu_seconds, r.train_seconds)
    monkeypatch.setattr(rules, "BUSY_SHARE", 0.9)
    idle = [r.model_copy(update={"train_cpu_seconds": 0.97 * r.train_seconds}) for r in runs]  # as on an idle machine
    inputs.check_timed(idle, hardware)
    starved = idle[3].model_copy(update={"train_cpu_seconds": 0.4 * runs[3].train_seconds})  # another process had 60%
    with pytest.raises(UserError, match=f"1 of the {len(runs)} timed runs got less than 90% of their CPU threads' time "
                                        "\\(as little as 40%\\): the machine was busy"):
        inputs.check_timed([*idle[:3], starved, *idle[4:]], hardware)
    folder = tmp_path / "mnist1d" / "seconds"
    folder.mkdir(parents=True)
    (folder / "2016.toml").write_text(d.path.read_text())
    write_runs(folder / "2016.runs.jsonl", [*idle[:3], starved, *idle[4:]])
    with pytest.raises(UserError, match="2016.runs.jsonl: 1 timed run\\(s\\) got less than 90% of their CPU threads' time"):
        lb.build(tmp_path)


def test_the_command_line_refuses_a_track_it_does_not_keep(cli, tmp_path):
    """Recipes are kept for FLOP and time budgets only; the first time-track year needs its budget."""
    code, _, err = cli("recipe", "derive", "--workload", "mnist1d", "--year", "2016", "--budget-unit", "samples",
                       "--budget", "1000", "--recipes", str(tmp_path))
    assert code == 2 and "--budget-unit samples: recipes are derived for a budget in flops or seconds" in " ".join(err.split())
    code, _, err = cli("recipe", "derive", "--workload", "mnist1d", "--year", "2016", "--budget-unit", "seconds",
                       "--recipes", str(tmp_path))
    assert code == 2 and "needs a budget in seconds" in " ".join(err.split()) and "Traceback" not in err
    assert not any(tmp_path.iterdir())  # nothing written


def test_a_run_from_a_recipe_trains_at_the_recipe_budget(derived, cli, monkeypatch):
    # `trickstack run --recipe R` without --budget runs at the budget R was derived and measured at: seconds for
    # a time-track recipe (not the workload's FLOP reference budget), and it says when the hardware differs.
    root, d = derived
    recipe = load_recipe(d.path)
    code, out, err = cli("run", "--recipe", str(d.path), "--json", "--device", "cpu")
    assert code == 0, err
    record = RunRecord.model_validate_json(out)
    assert (record.budget.unit, record.budget.value) == ("seconds", BUDGET.value)
    assert record.train_seconds < BUDGET.value + 0.2
    timed_on = recipe.provenance.hardware
    assert ("note: recipe" in err) == (record.provenance.hardware_class != timed_on)
    code, out, err = cli("run", "--recipe", str(d.path), "--budget-unit", "flops")
    assert code == 2 and ("--budget-unit flops needs --budget (recipe mnist1d/seconds/2016's budget is 0.25 seconds)"
                          in " ".join(err.split()))
    code, out, err = cli("run", "--recipe", str(d.path), "--budget", "3e8", "--json", "--device", "cpu")
    assert code == 0 and RunRecord.model_validate_json(out).budget.value == 3e8  # --budget wins, in FLOPs by default


def test_a_run_from_a_flop_track_recipe_trains_at_its_budget(cli, monkeypatch):
    from trickstack.recipes.recipe import find_recipe

    shipped = find_recipe("mnist1d", 2016)
    small = BudgetRecord(unit="flops", value=2e8)  # a small budget, as if the recipe's
    shipped = shipped.model_copy(update={"provenance": shipped.provenance.model_copy(update={"budget": small})})
    monkeypatch.setattr("trickstack.recipes.recipe.open_recipe", lambda ref: shipped)
    code, out, err = cli("run", "--recipe", "mnist1d/2016", "--json", "--device", "cpu")
    assert code == 0, err
    record = RunRecord.model_validate_json(out)
    assert (record.budget.unit, record.budget.value) == ("flops", 2e8) and record.recipe.name == "mnist1d/2016"


def test_a_simulated_time_track_builds_on_the_leaderboard(tmp_path):
    # The synthetic workload's runs are simulated, not timed: its time-track recipe says so, and the leaderboard
    # does not judge its records' (real) hardware or CPU share.
    from trickstack.ablations.storage import drop_memory

    truth = {"baseline": 0.5, "seed_noise": 0.02, "run_noise": 0.002, "effects": {"label_smoothing": 0.05}}
    url = f"memory://{uuid.uuid4().hex}"
    try:
        d = derive("synthetic", 2016, DeriveOptions(budget=Budget("seconds", 5.0), track="seconds", trials=2,
                                                    tricks=("label_smoothing",)), truth=truth, storage=url, recipes=tmp_path)
    finally:
        drop_memory(url)
    prov = load_recipe(d.path).provenance
    assert prov.hardware == rules.SIMULATED_HARDWARE and prov.study == "derive-synthetic-seconds-2016"  # its own study
    assert "synthetic/seconds" in lb.build(tmp_path).boards
