"""`trickstack recipe derive`: on the synthetic workload (a known truth, runs simulated in milliseconds) a
planted gain is accepted, a null one carried forward, a harmful trick removed, an interrupted derivation
resumed without training anything twice, and the files build a leaderboard; once for real on MNIST-1D."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import numpy as np
import pytest
import tomllib
from scipy import stats

from trickstack.core.errors import UserError
from trickstack.derive.derive import DeriveOptions, derive
from trickstack.leaderboard import board as lb
from trickstack.stats import rules

TRICKS = ["cosine_schedule", "ema", "label_smoothing", "mixup", "swa"]  # 2016 and 2018; ema and swa conflict
NOISE = {"baseline": 0.5, "seed_noise": 0.02, "run_noise": 0.002}
STRONG = {**NOISE, "effects": {"label_smoothing": 0.05}}  # +0.05: 25 run-noise sds
HARMFUL = {**NOISE, "effects": {"label_smoothing": -0.05, "mixup": 0.03}}  # label_smoothing now hurts
SEEDS = [0, 1, 2, 3, 4]


@pytest.fixture
def storage():
    from trickstack.ablations.storage import drop_memory

    url = f"memory://{uuid.uuid4().hex}"
    yield url
    drop_memory(url)


def run(root: Path, year: int, truth: dict, storage: str, progress=None, **options):
    options = {"trials": 10, "tricks": tuple(t for t in TRICKS if year >= 2018 or t not in ("mixup", "swa")), **options}
    return derive("synthetic", year, DeriveOptions(**options), truth=truth, recipes=root, storage=storage,
                  progress=progress)


def flat(text: str) -> str:
    """Without whitespace: the CLI wraps long messages (and paths) anywhere at the terminal's width."""
    return "".join(text.split())


def evidence(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def values(records: list[dict], stack, nuisance: dict) -> np.ndarray:
    """The metric of ``stack`` with ``nuisance`` on the evaluation seeds, read from the records directly."""
    by_seed = {}
    for r in records:
        if sorted(t["name"] for t in r["tricks"]) == sorted(stack) and r["nuisance"] == nuisance:
            by_seed.setdefault(r["seed"], r["metrics"]["eval_value"])
    return np.array([by_seed[s] for s in SEEDS])


def test_a_planted_gain_is_accepted_with_its_provenance(tmp_path, storage):
    d = run(tmp_path, 2016, STRONG, storage)
    assert d.accepted and d.p_value < rules.LEADERBOARD_ALPHA and d.n_pairs == rules.LEADERBOARD_MIN_SEEDS
    assert "label_smoothing" in d.recipe.stack and d.previous == "baseline"
    assert abs(d.gain - 0.05) < 0.01  # the other tricks are null: the stack gains what label_smoothing does
    data = tomllib.loads(d.path.read_text())
    prov = data["provenance"]
    assert prov["accepted"] and prov["previous"] == "baseline" and prov["seeds"] == SEEDS
    assert prov["budget"] == {"unit": "flops", "value": 1e9} and prov["evidence"] == "2016.runs.jsonl"
    assert prov["study"] == "derive-synthetic-2016" and "base" not in data["recipe"]
    assert set(data["tricks"]) == set(d.recipe.stack) and "Shapley" in data["tricks"]["label_smoothing"]["reason"]
    # The claimed test, recomputed from the evidence without trickstack: recipe vs the baseline's defaults.
    records = evidence(d.evidence)
    recipe = values(records, d.recipe.stack, d.recipe.nuisance)
    base = values(records, [], {"lr": 0.01, "weight_decay": 0.0})
    test = stats.ttest_rel(recipe, base, alternative="greater")
    assert prov["gain"] == pytest.approx(np.mean(recipe - base)) and prov["p_value"] == pytest.approx(test.pvalue)
    # Attribution: every subset of the recipe's tricks ran on the evaluation seeds with the recipe's nuisance.
    stacks = {tuple(sorted(t["name"] for t in r["tricks"])) for r in records if r["nuisance"] == d.recipe.nuisance
              and r["seed"] in SEEDS}
    assert len(d.recipe.stack) <= 4 and len([s for s in stacks if set(s) <= set(d.recipe.stack)]) == 2 ** len(d.recipe.stack)
    # Runs of exactly the recipe carry it; search runs are on seeds disjoint from the evaluation seeds.
    assert all(r["recipe"]["name"] == "synthetic/2016" for r in records if r["seed"] in SEEDS
               and sorted(t["name"] for t in r["tricks"]) == d.recipe.stack and r["nuisance"] == d.recipe.nuisance)
    # Estimation seeds (the recipe and the baseline after the acceptance) follow every seed the looks could use.
    assert prov["estimation_seeds"] == list(range(12, 22)) and d.estimation_seeds == prov["estimation_seeds"]
    fresh = {tuple(sorted(t["name"] for t in r["tricks"])) for r in records if r["seed"] in prov["estimation_seeds"]}
    assert fresh == {(), tuple(d.recipe.stack)}
    other = {r["seed"] for r in records} - set(SEEDS) - set(prov["estimation_seeds"])
    assert other and min(other) >= 2_000_000


def test_a_null_effect_is_carried_forward(tmp_path, storage):
    first = run(tmp_path, 2016, STRONG, storage)
    d = run(tmp_path, 2018, STRONG, storage)  # mixup and swa (2018) do nothing
    assert not d.accepted and d.p_value >= rules.LEADERBOARD_ALPHA and d.recipe.tricks == first.recipe.tricks
    assert d.recipe.nuisance == first.recipe.nuisance and d.previous == "2016"
    data = tomllib.loads(d.path.read_text())
    assert data["recipe"]["base"] == "2016" and "tricks" not in data and "removed" not in data and "nuisance" not in data
    assert data["recipe"]["summary"].startswith("carried forward") and data["provenance"]["accepted"] is False
    board = lb.build(tmp_path).boards["synthetic"]
    assert list(board.table.status) == ["baseline", "new best", "carried forward"]
    assert len(board.negative[board.negative.year == 2018]) >= 1  # the candidate and the new tricks not kept


def test_the_first_year_can_carry_the_baseline_forward(tmp_path, storage):
    d = run(tmp_path, 2016, NOISE, storage)  # no trick does anything
    assert not d.accepted and d.recipe.tricks == [] and d.previous == "baseline"
    board = lb.build(tmp_path).boards["synthetic"]
    assert list(board.table.status) == ["baseline", "carried forward"]


def test_a_trick_that_now_hurts_is_removed(tmp_path, storage):
    first = run(tmp_path, 2016, STRONG, storage)
    assert "label_smoothing" in first.recipe.stack
    d = run(tmp_path, 2018, HARMFUL, storage, trials=16)
    assert d.accepted and "label_smoothing" in d.removed and "mixup" in d.recipe.stack
    data = tomllib.loads(d.path.read_text())
    assert data["removed"]["label_smoothing"]["reason"].startswith("no longer helps: adding it back gives -0.0")
    assert "mixup" in data["tricks"]
    # the removed trick, added back on top of the recipe, is published as a negative result
    negative = lb.build(tmp_path).boards["synthetic"].negative.set_index("tried")
    row = negative.loc[next(k for k in negative.index if k.startswith("+label_smoothing"))]
    assert row.reference == "synthetic/2018" and row.gain < 0 and row.n_pairs == 5


class Interrupt(Exception):
    pass


def test_an_interrupted_derivation_resumes_without_training_a_run_twice(tmp_path, monkeypatch):
    import dataclasses

    import trickstack.workloads as workloads

    simulated = workloads.get_workload("synthetic")
    real, calls = simulated.simulate, []

    def counted(truth, workload, stack, seed=0, budget=None, overrides=None):
        calls.append((tuple(sorted(stack)), json.dumps(overrides, sort_keys=True), seed))
        return real(truth, workload, stack, seed=seed, budget=budget, overrides=overrides)

    monkeypatch.setitem(workloads._REGISTRY, "synthetic", dataclasses.replace(simulated, simulate=counted))
    url, root = f"sqlite:///{tmp_path}/derive.db", tmp_path / "recipes"

    def stop_at(label: str, after: int):
        seen = []

        def progress(phase: str, done: int, total: int) -> None:
            seen.append(phase)
            if phase == label and done and len([p for p in seen if p == label]) > after:
                raise Interrupt(phase)
        return progress, seen

    parts, phases = [], set()
    for label, after in (("search", 4), ("attribution and negative results", 3)):
        progress, seen = stop_at(label, after)
        with pytest.raises(Interrupt):
            run(root, 2016, STRONG, url, progress=progress)
        parts.append(list(calls))
        phases |= set(seen)
        calls.clear()
        assert not (root / "synthetic" / "2016.toml").exists()
    progress, seen = stop_at("never", 0)
    d = run(root, 2016, STRONG, url, progress=progress)
    parts.append(list(calls))
    assert {"search", "re-evaluation on fresh seeds", "confirmation", "attribution and negative results"} <= phases | set(seen)
    assert "search" not in seen  # the search had finished before the second interruption
    assert all(parts) and sum(map(len, parts)) == len(set().union(*map(set, parts)))  # no run simulated twice
    assert d.path.exists() and len(evidence(d.evidence)) == d.runs
    import optuna  # the proposal interrupted between its run and its result was finished, not asked again

    proposals = optuna.load_study(study_name="derive-synthetic-2016::search", storage=url).get_trials()
    assert [t.state.name for t in proposals].count("COMPLETE") == 10 and "RUNNING" not in {t.state.name for t in proposals}
    calls.clear()
    again = run(root, 2016, STRONG, url, force=True)  # finished: everything is read back, nothing is run
    assert calls == [] and again.recipe == d.recipe and again.p_value == d.p_value


def test_the_files_build_a_leaderboard_site(tmp_path, storage, cli):
    run(tmp_path / "recipes", 2016, STRONG, storage)
    run(tmp_path / "recipes", 2018, HARMFUL, storage)
    code, out, err = cli("leaderboard", "--recipes", str(tmp_path / "recipes"), "--out", str(tmp_path / "site"))
    assert code == 0, err
    assert (tmp_path / "site" / "index.html").exists() and (tmp_path / "site" / "synthetic-2018.html").exists()
    assert flat("synthetic: baseline and 2 recipe(s)") in flat(out)


def test_the_command_line(tmp_path, cli):
    truth = tmp_path / "truth.toml"
    truth.write_text('[synthetic]\nbaseline = 0.5\neffects = { label_smoothing = 0.05 }\nseed_noise = 0.02\n'
                     'run_noise = 0.002\n')
    root = tmp_path / "recipes"
    common = ["recipe", "derive", "--workload", "synthetic", "--recipes", str(root), "--synthetic", str(truth),
              "--storage", f"memory://{uuid.uuid4().hex}", "--trials", "4", "--tricks", "label_smoothing,ema"]
    code, out, err = cli(*common, "--year", "2016", "--estimate-seeds", "3")
    assert code == 0, err
    assert flat("synthetic/2016: new best") in flat(out) and "2016.runs.jsonl" in flat(out)
    prov = tomllib.loads((root / "synthetic" / "2016.toml").read_text())["provenance"]
    assert prov["estimation_seeds"] == [12, 13, 14]  # after the last look's 12 seeds
    assert flat(f"corrected for selection, with 3 estimation seeds run after the acceptance: "
                f"{prov['gain_corrected']:+.4g}") in flat(out)
    bad = {
        ("--year", "2999"): "year 2999 is after the current year",
        ("--year", "2018", "--budget", "2e9"): "differs from the budget of the previous recipe",
        ("--year", "2018", "--seeds", "3"): "at least 5 paired evaluation seeds",
        ("--year", "2016"): "2016.toml exists: deriving it again (force) replaces it",
        ("--year", "2018", "--trials", "1"): "at least 2 configurations",
        ("--year", "2018", "--confirm", "maybe"): "confirmation 'maybe': expected one of sequential, fixed",
        ("--year", "2018", "--looks", "5,x"): "--looks '5,x': expected comma-separated seed counts",
        ("--year", "2018", "--looks", "4,8"): "the first look needs at least 5 paired evaluation seeds",
        ("--year", "2018", "--estimate-seeds", "-1"): "--estimate-seeds",
        ("--year", "2015", "--tricks", "mixup"): "trick 'mixup' is from 2018, after 2015",
    }
    for args, problem in bad.items():
        code, out, err = cli(*common, *args)
        assert code == 2 and flat(problem) in flat(err), (args, err)
    code, out, err = cli("recipe", "derive", "--workload", "mnist2d", "--year", "2018")
    assert code == 2 and flat("unknown workload 'mnist2d'") in flat(err) and "mnist1d" in err
    code, out, err = cli("recipe", "derive", "--workload", "synthetic", "--year", "2018", "--recipes", str(root))
    assert code == 2 and flat("needs the truth its runs are simulated from") in flat(err)
    code, out, err = cli("recipe", "derive", "--workload", "mnist1d", "--year", "2018", "--synthetic", str(truth))
    assert code == 2 and flat("trains for real") in flat(err)
    truth.write_text("[synthetic]\nbaseline = 'high'\n")
    code, out, err = cli(*common, "--year", "2018")
    assert code == 2 and "synthetic.baseline" in err and flat(str(truth)) in flat(err)


def test_derive_refuses_to_continue_a_study_started_from_another_previous_recipe(tmp_path, storage):
    root = tmp_path / "recipes"
    run(root, 2018, STRONG, storage)  # the first recipe: no previous one
    run(root, 2016, STRONG, storage)  # now 2018 has a previous recipe, 2016
    with pytest.raises(UserError, match="was started from the baseline, but the previous recipe is now synthetic/2016"):
        run(root, 2018, STRONG, storage, force=True)


@pytest.mark.slow
def test_a_real_derivation_on_mnist1d(tmp_path, storage, small_budget):
    """Seconds of real training: 2 searched configurations, 5 evaluation seeds, 30-step runs."""
    d = derive("mnist1d", 2016, DeriveOptions(budget=small_budget.scaled(0.25), trials=2, tricks=("label_smoothing",),
                                              estimate_seeds=2), storage=storage, recipes=tmp_path)
    records = evidence(d.evidence)
    assert {r["workload"] for r in records} == {"mnist1d"} and {r["budget"]["value"] for r in records} == {small_budget.value / 4}
    assert all(r["steps"] >= 25 for r in records)  # really trained
    board = lb.build(tmp_path).boards["mnist1d"]
    assert list(board.table.entry) == ["baseline", "mnist1d/2016"] and board.budget == small_budget.value / 4
    assert board.table.status.iloc[1] == ("new best" if d.accepted else "carried forward")


def test_a_recipe_matches_its_runs_whatever_distribution_provided_their_tricks(small_budget):
    """Run records name the distribution whose code ran each trick and resolved recipes do not: an accepted
    derivation's check of the recipe against its runs, and the stamping of its evidence, compare stacks only
    (before the fix, every accepted real derivation failed at its last step)."""
    from trickstack.core.records import ResolvedRecipe, TrickRecord
    from trickstack.derive.writing import check_recipe, stamp
    from trickstack.trial.runner import run_trial
    from trickstack.workloads import get_workload

    wl = get_workload("mnist1d")
    recipe = ResolvedRecipe(name="mnist1d/2016", workload="mnist1d", year=2016, nuisance=wl.resolve_nuisance(),
                            tricks=[TrickRecord(name="label_smoothing", params={"smoothing": 0.1})])
    ran = run_trial("mnist1d", seed=0, budget=small_budget.scaled(0.1), recipe=recipe)
    assert ran.tricks[0].distribution is not None and ran.tricks[0].distribution.name == "trickstack"
    check_recipe(recipe, [ran])  # no error: the same stack
    assert stamp(ran.model_copy(update={"recipe": None}), recipe, None).recipe == recipe
    other = ran.model_copy(update={"tricks": [TrickRecord(name="label_smoothing", params={"smoothing": 0.2})]})
    with pytest.raises(RuntimeError, match="differs from its runs"):
        check_recipe(recipe, [other])
