"""The ablation engine in process on the embedded SQLite default, with budgets of a fraction of a second."""

import json
import math

import pytest
from optuna.trial import TrialState

from trickstack.ablations.engine import ablate
from trickstack.ablations.export import status, tidy
from trickstack.ablations.jobs import TUNING_SEED_OFFSET, job_states
from trickstack.ablations.spec import StudySpec

BUDGET = 5e8  # FLOPs: about 27 MNIST-1D steps


def spec(tmp_path, body: str, name: str = "t") -> StudySpec:
    path = tmp_path / f"{name}.toml"
    path.write_text(f'[study]\nname = "{name}"\nworkload = "mnist1d"\nbudget = {{ flops = {BUDGET} }}\n' + body)
    return StudySpec.load(path)


def url(tmp_path) -> str:
    return f"sqlite:///{tmp_path}/s.db"


def test_factorial_runs_every_arm_on_paired_seeds(tmp_path):
    s = spec(tmp_path, 'seeds = 2\ndesign = "factorial"\ntricks = ["label_smoothing", "ema"]\n')
    study = ablate(s, url(tmp_path)).study
    table = tidy(study)
    assert sorted(table["arm"].unique()) == ["baseline", "ema", "ema+label_smoothing", "label_smoothing"]
    assert table.groupby("arm")["seed"].apply(sorted).tolist() == [[0, 1]] * 4
    assert set(job_states(study).values()) == {TrialState.COMPLETE}
    trial = next(t for t in study.trials if t.state == TrialState.COMPLETE)
    # the arm and the seed are trial parameters, and each trick's use (as optuna-dashboard shows them)
    assert set(trial.params) == {"arm_mask", "seed", "use.label_smoothing", "use.ema"}
    on = {t for t in ("label_smoothing", "ema") if trial.params[f"use.{t}"]}
    assert on == {t["name"] for t in trial.user_attrs["records"][0]["tricks"]}
    assert trial.user_attrs["records"][0]["seed"] == trial.params["seed"]
    st = status(study)
    assert st["arms_done"] == st["arms_total"] == 4 and st["finished"] and not st["jobs_failed"]


def test_tuning_is_equal_per_arm_on_disjoint_seeds_and_evaluation_uses_it(tmp_path):
    s = spec(tmp_path, 'seeds = 2\ndesign = "one-at-a-time"\ntricks = ["label_smoothing"]\n'
                       '[tune]\ntrials_per_arm = 3\nparams = { lr = { low = 1e-3, high = 1e-1, log = true } }\n')
    study = ablate(s, url(tmp_path)).study
    table = tidy(study)
    tune, evaluation = table[table.phase == "tune"], table[table.phase == "eval"]
    assert tune.groupby("arm").size().to_dict() == {"baseline": 3, "label_smoothing": 3}
    assert set(tune.seed) == {TUNING_SEED_OFFSET} and set(evaluation.seed) == {0, 1}  # disjoint seeds
    tuning = study.user_attrs["tuning"]
    for arm, rows in evaluation.groupby("arm"):
        assert set(rows["nuisance.lr"]) == {tuning[arm]["best"]["lr"]}
        best = tune[tune.arm == arm].sort_values("value").iloc[-1]
        assert best["nuisance.lr"] == tuning[arm]["best"]["lr"]  # the best tuning trial's lr is used
        assert tuning[arm]["trials"] == 3 and tuning[arm]["flops"] == pytest.approx(tune[tune.arm == arm].flops.sum())
    assert status(study)["tuning"] == tuning  # reported beside the result


def test_ablate_prints_tuning_compute(tmp_path, cli):
    path = tmp_path / "tn.toml"
    path.write_text(f'[study]\nname = "tn"\nworkload = "mnist1d"\nbudget = {{ flops = {BUDGET} }}\nseeds = 1\n'
                    'design = "one-at-a-time"\ntricks = ["ema"]\n[tune]\ntrials_per_arm = 2\n'
                    'params = { lr = { low = 1e-3, high = 1e-1, log = true } }\n')
    code, out, err = cli("ablate", str(path), "--storage", url(tmp_path))
    assert code == 0, err
    assert "tuning compute per arm" in out and "lr=" in out


def test_greedy_records_its_rounds(tmp_path):
    s = spec(tmp_path, 'seeds = 2\ndesign = "greedy"\ntricks = ["label_smoothing", "ema"]\n')
    study = ablate(s, url(tmp_path)).study
    path = study.user_attrs["greedy_path"]
    assert path[0]["current"] == "baseline" and len(path[0]["tests"]) == 2
    for _, gain, p in path[0]["tests"]:
        assert 0 <= p <= 1 and (math.isfinite(gain) or gain == -math.inf)
    assert {"baseline", "label_smoothing", "ema"} <= set(tidy(study).arm)


def test_search_re_evaluates_the_best_configuration_on_fresh_seeds(tmp_path):
    s = spec(tmp_path, 'seeds = 2\ndesign = "search"\nsearch_trials = 3\ntricks = ["label_smoothing", "ema"]\n')
    study = ablate(s, url(tmp_path)).study
    best = study.user_attrs["search_best"]
    table = tidy(study)
    searched = table[table.phase == "search"]
    assert len(searched) >= 1 and set(searched.seed) >= {2_000_000}
    final = table[(table.phase == "eval") & (table.arm == best["arm"])]
    assert set(final.seed) >= {0, 1}


def test_cli_dry_run_export_and_status(tmp_path, cli):
    path = tmp_path / "d.toml"
    path.write_text(f'[study]\nname = "d"\nworkload = "mnist1d"\nbudget = {{ flops = {BUDGET} }}\nseeds = 1\n'
                    'design = "leave-one-out"\ntricks = ["ema", "swa", "label_smoothing"]\n')
    code, out, err = cli("ablate", str(path), "--dry-run", "--storage", url(tmp_path))
    assert code == 0, err
    # ema and swa conflict: the full stack and the arm without label_smoothing are excluded
    assert "excluded ema+label_smoothing+swa" in out and "excluded ema+swa" in out and "conflict" in out
    assert "training runs" in out and "min with 1 worker" in out
    code, out, err = cli("ablate", str(path), "--storage", url(tmp_path))
    assert code == 0, err
    code, out, _ = cli("status", "d", "--storage", url(tmp_path), "--json")
    assert code == 0 and json.loads(out)["arms_done"] == 2
    code, out, _ = cli("export", "d", "--storage", url(tmp_path), "--format", "json")
    rows = json.loads(out)
    assert code == 0 and len(rows) == 2 and {"arm", "seed", "value", "flops", "diverged", "train_seconds"} <= set(rows[0])
    code, _, _ = cli("export", "d", "--storage", url(tmp_path), "--format", "parquet", "--out", str(tmp_path / "d.parquet"))
    assert code == 0 and (tmp_path / "d.parquet").stat().st_size > 0
    code, out, _ = cli("export", "d", "--storage", url(tmp_path))
    assert code == 0 and out.splitlines()[0].startswith("trial,phase,arm,seed")


def test_a_changed_budget_is_refused_for_an_existing_study(tmp_path):
    s = spec(tmp_path, 'seeds = 1\ndesign = "one-at-a-time"\ntricks = ["ema"]\n')
    ablate(s, url(tmp_path))
    other = StudySpec.from_toml_text((tmp_path / "t.toml").read_text().replace(str(BUDGET), "6e8"), source="t2.toml")
    from trickstack.core.errors import UserError

    with pytest.raises(UserError, match="different study.budget"):
        ablate(other, url(tmp_path))


@pytest.mark.parametrize("args,message", [
    (["--format", "xml"], "--format must be csv, parquet or json"),
    (["--format", "parquet"], "--format parquet writes a binary file: give --out FILE"),
])
def test_export_refuses_bad_formats_before_reading(tmp_path, cli, args, message):
    code, out, err = cli("export", "anything", "--storage", url(tmp_path), *args)
    assert code == 2 and message in err and out == ""


def test_a_base_recipe_file_that_cannot_be_read_names_it(tmp_path):
    from trickstack.core.errors import UserError

    body = 'seeds = 1\ndesign = "one-at-a-time"\ntricks = ["ema"]\nbase = "missing-recipe.toml"\n'
    with pytest.raises(UserError, match="study.base: .*missing-recipe.toml: cannot read the recipe"):
        spec(tmp_path, body)
    (tmp_path / "bad.toml").write_text('tricks = ["label_smoothing"]\n')  # a list of names is not a recipe
    with pytest.raises(UserError, match="study.base: .*bad.toml: recipe: Field required"):
        spec(tmp_path, body.replace("missing-recipe.toml", "bad.toml"))
    (tmp_path / "ok.toml").write_text('[recipe]\nworkload = "mnist1d"\nyear = 2016\nsummary = "s"\n'
                                      '[tricks.label_smoothing]\nreason = "r"\n')  # the format of recipes/README.md
    assert spec(tmp_path, body.replace("missing-recipe.toml", "ok.toml")).study.base == ["label_smoothing"]
