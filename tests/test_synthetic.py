"""The synthetic workload: a known truth run through the whole pipeline (spec, designs, engine, storage,
export, analysis) in seconds, so the statistics can be checked against the truth they should recover."""

import json
import math
import time

import jsonschema
import numpy as np
import pytest
from scipy import stats

from trickstack.ablations.engine import ablate
from trickstack.ablations.export import tidy
from trickstack.ablations.plan import (
    frozen_gc,
    simulate_study,
    true_effects,
    true_shapley,
)
from trickstack.ablations.spec import StudySpec, SyntheticSection
from trickstack.ablations.storage import open_storage
from trickstack.core.budget import Budget
from trickstack.core.errors import UserError
from trickstack.core.records import SCHEMA_PATH, RunRecord
from trickstack.simulator.workload import expected_score, simulate_run
from trickstack.stats import analysis

TRICKS = ["label_smoothing", "ema", "mixup"]
# ema and label_smoothing help and overlap (a negative interaction); mixup does nothing, alone or with others.
TRUTH = """
[synthetic]
baseline = 0.5
effects = { label_smoothing = 0.015, ema = 0.02 }
interactions = { "ema:label_smoothing" = -0.015 }
seed_noise = 0.02
run_noise = 0.005
"""
STUDIES = 100  # simulated factorial studies for the coverage checks


def write_spec(tmp_path, truth: str = TRUTH, design: str = "factorial", seeds: int = 5, name: str = "syn",
               workload: str = "synthetic", tricks=TRICKS) -> StudySpec:
    path = tmp_path / f"{name}.toml"
    path.write_text(f'[study]\nname = "{name}"\nworkload = "{workload}"\nbudget = {{ flops = 1e9 }}\nseeds = {seeds}\n'
                    f'design = "{design}"\ntricks = {json.dumps(tricks)}\n' + truth)
    return StudySpec.load(path)


def test_the_workload_is_registered_by_name_but_not_listed_as_a_benchmark():
    from trickstack.tricks.registry import all_tricks
    from trickstack.workloads import get_workload, list_workloads

    wl = get_workload("synthetic")
    assert wl.metric == "score" and wl.direction == "maximize" and wl.simulate is not None
    assert {need for info in all_tricks() for need in info.requires} <= set(wl.provides)
    assert "synthetic" not in list_workloads() and "synthetic" in list_workloads(testing=True)
    with pytest.raises(UserError, match="trains nothing"):
        wl.build_model()
    with pytest.raises(UserError, match="trains nothing"):
        wl.splits
    from trickstack.trial.runner import run_trial

    with pytest.raises(UserError, match="trains nothing"):
        run_trial("synthetic", ["ema"], seed=0, budget=Budget("flops", 1e9))


def test_simulated_runs_are_deterministic_paired_and_schema_valid():
    truth = SyntheticSection(baseline=0.5, effects={"ema": 0.02, "mixup": 0.01},
                             interactions={"ema:mixup": -0.005}, seed_noise=0.05)
    runs = {(arm, seed): simulate_run(truth, "synthetic", arm, seed=seed, budget=Budget("flops", 2e9))
            for arm in [(), ("ema",), ("mixup", "ema")] for seed in range(3)}
    for seed in range(3):  # no run noise: the seed noise is the same in every arm, so differences are exact
        base = runs[((), seed)].metrics.eval_value
        assert runs[(("ema",), seed)].metrics.eval_value - base == pytest.approx(0.02, abs=1e-12)
        assert runs[(("mixup", "ema"), seed)].metrics.eval_value - base == pytest.approx(0.025, abs=1e-12)
    assert len({runs[((), s)].metrics.eval_value for s in range(3)}) == 3  # ... and differs between seeds
    again = simulate_run(truth.model_copy(update={"run_noise": 0.0}), "synthetic", ["mixup", "ema"], seed=1,
                         budget=Budget("flops", 2e9))
    assert again.metrics.eval_value == runs[(("mixup", "ema"), 1)].metrics.eval_value
    # Run noise depends on (seed, sorted stack): the order of the stack does not matter; the noise seed does.
    noisy = truth.model_copy(update={"run_noise": 0.01})
    a = simulate_run(noisy, "synthetic", ["ema", "mixup"], seed=4).metrics.eval_value
    assert simulate_run(noisy, "synthetic", ["mixup", "ema"], seed=4).metrics.eval_value == a
    assert simulate_run(noisy.model_copy(update={"noise_seed": 1}), "synthetic", ["ema", "mixup"], seed=4).metrics.eval_value != a

    record = runs[(("ema",), 0)]
    jsonschema.validate(json.loads(record.to_json()), json.loads(SCHEMA_PATH.read_text()))
    assert RunRecord.from_json(record.to_json()) == record
    assert record.flops == 2e9 and record.steps == 1 and record.samples == 0 and not record.diverged
    assert record.tricks[0].name == "ema" and record.tricks[0].params  # resolved defaults, as run_trial records
    assert record.nuisance == {"lr": 0.01, "weight_decay": 0.0} and record.metrics.eval_metric == "score"
    by_samples = simulate_run(truth, "synthetic", [], seed=0, budget=Budget("samples", 5000), overrides={"lr": 0.1})
    assert by_samples.samples == 5000 and by_samples.flops == 0 and by_samples.nuisance["lr"] == 0.1
    with pytest.raises(UserError, match="conflict"):
        simulate_run(truth, "synthetic", ["ema", "swa"], seed=0)
    with pytest.raises(UserError, match="trains for real"):
        simulate_run(truth, "mnist1d", ["ema"], seed=0)
    assert expected_score(truth, ["ema", "mixup"]) == pytest.approx(0.525)


def test_the_whole_pipeline_runs_in_seconds_on_sqlite(tmp_path):
    """SQLite commits cost ~0.25 s per job here, so this study is small; the in-memory storage runs the
    100 studies of 40 jobs below in a few seconds."""
    tricks = ["label_smoothing", "ema"]
    spec = write_spec(tmp_path, seeds=3, tricks=tricks)
    start = time.perf_counter()
    study = ablate(spec, f"sqlite:///{tmp_path}/s.db").study
    table = tidy(study)
    effects = analysis.factorial_effects(table, tricks, "maximize", adjust="holm").set_index("term")
    shapley = analysis.shapley_exact(table, tricks, "maximize")
    diffs = analysis.paired_differences(table, "baseline", "maximize", adjust="holm")
    elapsed = time.perf_counter() - start
    print(f"12-run synthetic study on SQLite, spec to analysis: {elapsed:.1f} s")
    assert elapsed < 10, f"a 12-run synthetic study took {elapsed:.1f} s"
    assert len(table) == 12 and table.groupby("arm").seed.apply(sorted).tolist() == [list(range(3))] * 4
    assert set(table.metric) == {"score"} and not table.diverged.any() and (table.flops == 1e9).all()
    for row in table.to_dict("records"):  # the stored values are the simulated ones
        stack = [t for t in tricks if row[f"on.{t}"]]
        again = simulate_run(spec.synthetic, "synthetic", stack, seed=row["seed"], budget=Budget("flops", 1e9))
        assert row["value"] == again.metrics.eval_value
    assert study.trials[0].user_attrs["records"][0]["workload"] == "synthetic"
    assert abs(shapley.values.shapley.sum() - shapley.total_gain) < 1e-12
    assert effects.loc["ema", "estimate"] == pytest.approx(0.0125, abs=0.01)
    assert len(diffs) == 3


def _holm_significant(p_adjusted: float) -> bool:
    return bool(p_adjusted < 0.05)


@pytest.fixture(scope="module")
def replicates(tmp_path_factory):
    """STUDIES factorial studies (3 tricks x 5 seeds) through the engine (in-memory storage), analysed."""
    spec = write_spec(tmp_path_factory.mktemp("cov"))
    pairs = [(a, b) for i, a in enumerate(TRICKS) for b in TRICKS[i + 1:]]
    arms = [frozenset(c) for c in [(), *[(t,) for t in TRICKS], *pairs, tuple(TRICKS)]]
    start = time.perf_counter()
    out = []
    with frozen_gc():  # statsmodels' Holm calls gc.collect(): cheap only with Composer's objects frozen
        for i in range(STUDIES):
            table = tidy(simulate_study(spec, i))
            fx = analysis.factorial_effects(table, TRICKS, "maximize", adjust="holm").set_index("term")
            sh = analysis.shapley_exact(table, TRICKS, "maximize").values.set_index("trick")
            out.append((fx, sh))
    seconds = time.perf_counter() - start
    return spec, out, true_effects(spec, arms, list(out[0][0].index)), true_shapley(spec), seconds


def _covered(low, high, truth) -> bool:
    return bool(low <= truth <= high)


def test_truth_of_the_estimands():
    """Main effect = effect + half of each interaction; interaction estimate = half the planted gain."""
    spec = StudySpec.model_validate({"study": {"name": "t", "workload": "synthetic", "budget": {"flops": 1.0},
                                               "seeds": 2, "design": "factorial", "tricks": TRICKS},
                                     "synthetic": SyntheticSection(effects={"label_smoothing": 0.01, "ema": 0.02},
                                                                   interactions={"ema:label_smoothing": -0.01})})
    from trickstack.ablations.designs import factorial

    truth = true_effects(spec, factorial(TRICKS), ["label_smoothing", "ema", "mixup", "label_smoothing:ema"])
    assert truth == pytest.approx({"label_smoothing": 0.005, "ema": 0.015, "mixup": 0.0, "label_smoothing:ema": -0.005})
    assert true_shapley(spec) == pytest.approx({"label_smoothing": 0.005, "ema": 0.015, "mixup": 0.0})


def test_intervals_cover_the_truth_over_many_studies(replicates):
    spec, out, truth, shapley_truth, seconds = replicates
    print(f"{STUDIES} simulated factorial studies (40 runs each) through ablate + analysis: {seconds:.1f} s")
    rates = {}
    for term in [*TRICKS, "label_smoothing:ema"]:
        rates[term] = np.mean([_covered(fx.loc[term, "ci_low"], fx.loc[term, "ci_high"], truth[term]) for fx, _ in out])
    for t in TRICKS:
        rates[f"shapley {t}"] = np.mean([_covered(sh.loc[t, "ci_low"], sh.loc[t, "ci_high"], shapley_truth[t]) for _, sh in out])
    print("coverage of the 95% intervals:", {k: round(float(v), 2) for k, v in rates.items()})
    assert all(rate >= 0.90 for rate in rates.values()), rates


def test_null_tricks_are_rarely_significant_after_holm(replicates):
    _, out, truth, _, _ = replicates
    nulls = [term for term, value in truth.items() if abs(value) < 1e-12]
    assert sorted(nulls) == ["ema:mixup", "label_smoothing:mixup", "mixup"]
    for term in nulls:
        hits = sum(_holm_significant(fx.loc[term, "p_adjusted"]) for fx, _ in out)
        # At most 5% in expectation; allow binomial noise: P(X > 10 | n=100, p=0.05) is about 1.1%.
        assert hits <= 10, (term, hits)
        print(f"null {term}: significant after Holm in {hits}/{STUDIES} studies")
    assert stats.binom.sf(10, STUDIES, 0.05) < 0.02


def test_a_planted_interaction_is_detected_with_the_right_sign(replicates):
    _, out, truth, _, _ = replicates
    term = "label_smoothing:ema"
    assert truth[term] == pytest.approx(-0.0075)
    detected = [fx.loc[term, "estimate"] < 0 and _holm_significant(fx.loc[term, "p_adjusted"]) for fx, _ in out]
    wrong = [fx.loc[term, "estimate"] > 0 and _holm_significant(fx.loc[term, "p_adjusted"]) for fx, _ in out]
    print(f"interaction {term}: detected (negative, significant) in {sum(detected)}/{STUDIES}, wrong sign {sum(wrong)}")
    assert np.mean(detected) >= 0.8 and not any(wrong)


def test_diverged_runs_are_exported_as_diverged(tmp_path):
    truth = TRUTH + 'diverge = { mixup = 0.5 }\n'
    spec = write_spec(tmp_path, truth=truth, name="div", seeds=8)
    study = ablate(spec, "memory://test-diverge").study
    table = tidy(study)
    with_mixup = table[table["on.mixup"]]
    assert not table[~table["on.mixup"]].diverged.any()
    assert 0 < with_mixup.diverged.sum() < len(with_mixup)
    assert with_mixup[with_mixup.diverged].value.isna().all()
    for trial in study.trials:  # a diverged run counts against its arm, as in run_job for real runs
        if trial.user_attrs["records"][0]["diverged"]:
            assert trial.value == -math.inf and trial.user_attrs["records"][0]["diverged_step"] == 0
    summary = analysis.arm_summary(table, "maximize").set_index("arm")
    assert summary.loc["mixup", "n_diverged"] == with_mixup[with_mixup.arm == "mixup"].diverged.sum()
    analysis.factorial_effects(table, TRICKS, "maximize")  # the finished runs still estimate every term


@pytest.mark.parametrize("truth, message", [
    ('[synthetic]\neffects = { nonsuch = 0.1 }\n', r"synthetic\.effects\.nonsuch: unknown trick 'nonsuch'"),
    ('[synthetic]\neffects = { swa = 0.1 }\n', r"synthetic\.effects\.swa: trick 'swa' is not in the study"),
    ('[synthetic]\ninteractions = { "ema:swa" = 0.1 }\n', r"synthetic\.interactions\.ema:swa: trick 'swa' is not in the study"),
    ('[synthetic]\ninteractions = { "ema" = 0.1 }\n', r"synthetic\.interactions: .*key 'ema'"),
    ('[synthetic]\ninteractions = { "ema:mixup" = 0.1, "mixup:ema" = 0.2 }\n', r"synthetic\.interactions: .*'mixup:ema'.*twice"),
    ('[synthetic]\ndiverge = { ema = 1.5 }\n', r"synthetic\.diverge\.ema: .*less than or equal to 1"),
    ('[synthetic]\ndiverge = { emma = 0.5 }\n', r"synthetic\.diverge\.emma: unknown trick 'emma' \(did you mean: ema"),
    ('[synthetic]\nrun_noise = -1\n', r"synthetic\.run_noise: .*greater than or equal to 0"),
    ('[synthetic]\nbaseline = nan\n', r"synthetic\.baseline"),
    ('[synthetic]\nbogus = 1\n', r"synthetic\.bogus: Extra inputs"),
    ('', r"workload 'synthetic' is simulated: add a synthetic table"),
])
def test_synthetic_table_errors_name_the_key(tmp_path, truth, message):
    with pytest.raises(UserError, match=message):
        write_spec(tmp_path, truth=truth)


def test_synthetic_table_only_with_the_synthetic_workload(tmp_path):
    with pytest.raises(UserError, match="only allowed with workload = \"synthetic\""):
        write_spec(tmp_path, workload="mnist1d")


def test_memory_storage_is_for_one_process():
    with pytest.raises(UserError, match="inside one process"):
        open_storage("memory", workers=2)
    assert open_storage("memory://x") is open_storage("memory://x") is not open_storage("memory://y")


def test_plan_command(tmp_path, cli):
    write_spec(tmp_path, name="plan")
    start = time.perf_counter()
    code, out, err = cli("plan", str(tmp_path / "plan.toml"), "--json")
    seconds = time.perf_counter() - start
    assert code == 0, err
    result = json.loads(out)
    assert result["studies"] == 20 and result["runs_per_study"] == 40 and result["design"] == "factorial"
    terms = {t["term"]: t for t in result["terms"]}
    assert set(terms) == {*TRICKS, "label_smoothing:ema"}
    assert terms["ema"]["truth"] == pytest.approx(0.0125) and terms["ema"]["significant"] > 0.9
    assert terms["mixup"]["truth"] == 0 and terms["mixup"]["significant"] <= 0.15
    assert terms["ema"]["mean_estimate"] == pytest.approx(0.0125, abs=0.003)
    assert 0.8 <= terms["ema"]["covered"] <= 1
    assert seconds < 10, f"plan took {seconds:.1f} s"

    write_spec(tmp_path, name="oaat", design="one-at-a-time")
    code, out, err = cli("plan", str(tmp_path / "oaat.toml"), "--studies", "5")
    assert code == 0, err
    assert "one-sided paired t-tests" in out and "label_smoothing" in out and "5 simulated studies" in out

    (tmp_path / "real.toml").write_text('[study]\nname = "r"\nworkload = "mnist1d"\nbudget = { flops = 1e9 }\n'
                                        'seeds = 2\ndesign = "factorial"\ntricks = ["ema"]\n')
    code, _, err = cli("plan", str(tmp_path / "real.toml"))
    assert code == 2 and "synthetic table" in err
