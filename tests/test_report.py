"""`trickstack report`: small real studies of every design (MNIST-1D, 5e8 FLOPs, ~27 steps a run, 2 seeds),
rendered in every format; the numbers shown are the analysis functions' outputs on `tidy(study)`."""

import io
import json
import math
import re

import numpy as np
import optuna
import pandas as pd
import pytest

from trickstack.ablations.designs import shapley_arms
from trickstack.ablations.engine import ablate
from trickstack.ablations.export import tidy
from trickstack.ablations.spec import StudySpec
from trickstack.reports.files import FORMATS, write
from trickstack.reports.model import TITLES
from trickstack.reports.sections import build_report
from trickstack.stats import analysis as an

THREE = '["label_smoothing", "ema", "mixup"]'
TWO = '["label_smoothing", "ema"]'
DESIGNS = {  # study name (= design) -> the rest of its [study] section
    "factorial": f'design = "factorial"\ntricks = {THREE}\n',
    "fractional": 'design = "fractional"\nresolution = 3\n'
                  'tricks = ["label_smoothing", "ema", "mixup", "cosine_schedule", "lr_warmup"]\n',  # 8 of 32 arms
    "one-at-a-time": f'design = "one-at-a-time"\ntricks = {THREE}\n',
    "leave-one-out": f'design = "leave-one-out"\ntricks = {THREE}\n',
    "shapley": f'design = "shapley"\npermutations = 2\ntricks = {THREE}\n',
    "greedy": f'design = "greedy"\ntricks = {TWO}\n',
    "search": f'design = "search"\nsearch_trials = 2\ntricks = {TWO}\n',
    # re-tuned per arm, and one evaluation run made to diverge (see `studies`)
    "diverged": 'design = "one-at-a-time"\ntricks = ["label_smoothing"]\n'
                '[tune]\ntrials_per_arm = 2\nparams = { lr = { low = 1e-3, high = 1e-1, log = true } }\n',
}
ALL = set(TITLES)  # the sections
# Sections each design gives (must) and cannot give (never); the rest depend on the results (greedy, search).
SUPPORT = {
    "factorial": ({"arms", "baseline", "full", "effects", "shapley", "additivity", "power", "excluded"},
                  {"tuning", "greedy", "search"}),
    "fractional": ({"arms", "baseline", "effects", "excluded"},
                   {"full", "shapley", "additivity", "power", "tuning", "greedy", "search"}),
    "one-at-a-time": ({"arms", "baseline", "power", "excluded"},
                      {"full", "effects", "shapley", "additivity", "tuning", "greedy", "search"}),
    "leave-one-out": ({"arms", "full", "power", "excluded"},
                      {"baseline", "effects", "shapley", "additivity", "tuning", "greedy", "search"}),
    "shapley": ({"arms", "baseline", "full", "shapley", "power", "excluded"}, {"effects", "tuning", "greedy", "search"}),
    "greedy": ({"arms", "baseline", "power", "greedy", "excluded"}, {"effects", "shapley", "tuning", "search"}),
    "search": ({"arms", "search", "excluded"}, {"effects", "shapley", "additivity", "tuning", "greedy"}),
    # one trick: its arm is also the full stack, and there is nothing to add up
    "diverged": ({"arms", "baseline", "full", "power", "tuning", "excluded"},
                 {"effects", "shapley", "additivity", "greedy", "search"}),
}


def diverge_label_smoothing_seed_1(real):
    """`run_trial` whose evaluation run of label_smoothing on seed 1 diverges (as a NaN loss would)."""

    def run_trial(workload, stack=(), seed=0, budget=None, overrides=None, **kwargs):
        record = real(workload, stack, seed=seed, budget=budget, overrides=overrides, **kwargs)
        if "label_smoothing" in stack and seed == 1:
            return record.model_copy(update={"diverged": True, "diverged_step": 3,
                                             "metrics": record.metrics.model_copy(update={"eval_value": None})})
        return record

    return run_trial


@pytest.fixture(scope="module")
def url(tmp_path_factory) -> str:
    return f"sqlite:///{tmp_path_factory.mktemp('report')}/studies.db"


@pytest.fixture(scope="module")
def studies(url, tmp_path_factory) -> dict[str, optuna.Study]:
    """One finished study per design (and the diverged one), in one storage."""
    import trickstack.ablations.worker as worker

    out = {}
    for name, body in DESIGNS.items():
        text = f'[study]\nname = "{name}"\nworkload = "mnist1d"\nbudget = {{ flops = 5e8 }}\nseeds = 2\n' + body
        spec = StudySpec.from_toml_text(text, source=f"{name}.toml")
        with pytest.MonkeyPatch.context() as patch:
            if name == "diverged":
                patch.setattr(worker, "run_trial", diverge_label_smoothing_seed_1(worker.run_trial))
            out[name] = ablate(spec, url).study
    return out


def direction(study) -> str:
    return study.direction.name.lower()


def frame(report_json: dict, section: str) -> pd.DataFrame:
    return pd.DataFrame(report_json["sections"][section]["rows"])


def assert_columns_equal(got: pd.DataFrame, expected: pd.DataFrame, columns) -> None:
    """Numbers as rendered to JSON (NaN and infinities as null) against the analysis functions' own."""
    for col in columns:
        want = expected[col].to_numpy(float)
        want = np.where(np.isfinite(want), want, np.nan)  # JSON has no infinity: null
        np.testing.assert_allclose(got[col].to_numpy(float), want, rtol=1e-12, atol=1e-15, equal_nan=True, err_msg=col)


def rendered_json(study, **options) -> dict:
    text, _ = write(build_report(study, **options), "json", None)
    return json.loads(text)


@pytest.mark.parametrize("name", list(DESIGNS))
def test_every_design_renders_in_every_format(studies, name, tmp_path):
    report = build_report(studies[name])
    must, never = SUPPORT[name]
    available = {k for k, s in report.sections.items() if s.available}
    assert must <= available and not never & available, (available, must, never)
    reasons = [s.unavailable for s in report.sections.values() if not s.available]
    for fmt in FORMATS:
        text, paths = write(report, fmt, tmp_path if fmt == "html" else None)
        if fmt == "html":
            (path,) = paths
            text = path.read_text()
            assert path.parent == tmp_path and text.startswith("<!doctype html>")
        if fmt == "json":
            data = json.loads(text)
            assert {k for k, s in data["sections"].items() if s["available"]} == available
            assert [s["reason"] for s in data["sections"].values() if not s["available"]] == reasons
            continue
        if fmt == "csv":
            table = pd.read_csv(io.StringIO(text))
            assert set(table.section) >= {"study", "arms"} and set(table.name.dropna()) >= {"design", "metric"}
            values = table[table.section.isin(ALL) & (table.name == "unavailable")]
            assert sorted(values.value) == sorted(reasons)
            continue
        flat = re.sub(r"\s+", " ", text.replace("&#x27;", "'"))
        assert "Arms" in flat and "How to read this" in flat and studies[name].study_name in flat
        for reason in reasons:  # what the design cannot give, and why, is in the report
            assert re.sub(r"\s+", " ", reason) in flat, (fmt, reason)


def test_factorial_numbers_are_the_analysis_functions_outputs(studies):
    study = studies["factorial"]
    table, d, tricks = tidy(study), direction(study), ["label_smoothing", "ema", "mixup"]
    got = rendered_json(study)
    assert_columns_equal(frame(got, "arms"), an.arm_summary(table, d), ["n", "n_diverged", "mean", "sd", "ci_low", "ci_high"])
    assert list(frame(got, "arms").arm) == list(an.arm_summary(table, d).arm)
    base = an.paired_differences(table, "baseline", d, adjust="holm")
    assert_columns_equal(frame(got, "baseline"), base,
                         ["n_pairs", "mean_gain", "sd_diff", "ci_low", "ci_high", "p_value", "p_adjusted"])
    effects = an.factorial_effects(table, tricks, d, adjust="holm")
    assert list(frame(got, "effects").term) == list(effects.term) and "label_smoothing:ema" in set(effects.term)
    assert_columns_equal(frame(got, "effects"), effects, ["estimate", "se", "ci_low", "ci_high", "p_value", "p_adjusted"])
    exact = an.shapley_exact(table, tricks, d)
    shap = got["sections"]["shapley"]
    assert_columns_equal(frame(got, "shapley"), exact.values, ["shapley", "se", "ci_low", "ci_high"])
    assert shap["values"]["full_stack_gain"] == pytest.approx(exact.total_gain)
    assert sum(r["shapley"] for r in shap["rows"]) == pytest.approx(shap["values"]["full_stack_gain"], abs=1e-12)
    add = an.additivity_ratio(table, tricks, d)
    values = got["sections"]["additivity"]["values"]
    assert values["full_stack_gain"] == pytest.approx(add.full_gain)
    assert values["ratio"] == (None if math.isnan(add.ratio) else pytest.approx(add.ratio))
    assert dict(zip(frame(got, "additivity").trick, frame(got, "additivity").single_gain)) == pytest.approx(add.single_gains)
    power = frame(got, "power").set_index("trick")
    for t in tricks:  # each trick alone against the baseline
        imp = an.probability_of_improvement(table, t, "baseline", d)
        pair = base.set_index("arm").loc[t]
        assert power.loc[t, "comparison"] == f"{t} vs baseline"
        assert power.loc[t, "p_improve"] == pytest.approx(imp.probability)
        assert power.loc[t, "p_improve_low"] == pytest.approx(imp.ci_low)
        seeds = an.seeds_for_power(pair.mean_gain, pair.sd_diff)
        assert (power.loc[t, "seeds_80"] == seeds) if math.isfinite(seeds) else np.isnan(power.loc[t, "seeds_80"])
    full = frame(got, "full").set_index("arm")
    for arm in full.index:  # the full stack's gain over each arm: the paired difference with that arm as reference
        two = table[table.arm.isin([arm, "ema+label_smoothing+mixup"])]
        row = an.paired_differences(two, arm, d).iloc[0]
        assert full.loc[arm, "mean_gain"] == pytest.approx(row.mean_gain)
        assert full.loc[arm, "p_value"] == pytest.approx(row.p_value)
    np.testing.assert_allclose(full.p_adjusted, an.correct(full.p_value, "holm"))


def test_tests_and_corrections_follow_the_options(studies):
    study = studies["one-at-a-time"]
    got = rendered_json(study, adjust="bh", test="permutation")
    expected = an.paired_differences(tidy(study), "baseline", direction(study), test="permutation", adjust="bh")
    assert_columns_equal(frame(got, "baseline"), expected, ["mean_gain", "ci_low", "ci_high", "p_value", "p_adjusted"])
    assert got["meta"]["adjust"] == "bh" and got["meta"]["test"] == "permutation"


def test_fractional_reports_main_effects_and_says_why_not_interactions(studies):
    study = studies["fractional"]
    tricks = ["label_smoothing", "ema", "mixup", "cosine_schedule", "lr_warmup"]
    got = rendered_json(study)
    expected = an.factorial_effects(tidy(study), tricks, direction(study), interactions=False, adjust="holm")
    assert list(frame(got, "effects").term) == tricks
    assert_columns_equal(frame(got, "effects"), expected, ["estimate", "ci_low", "ci_high", "p_value", "p_adjusted"])
    assert any("not estimable" in n for n in got["sections"]["effects"]["notes"])


def test_shapley_study_stores_its_orders_and_reports_sampled_values(studies):
    study = studies["shapley"]
    orders = study.user_attrs["orders"]
    assert orders == [list(o) for o in shapley_arms(["label_smoothing", "ema", "mixup"], 2, 0)[1]]
    sampled = an.shapley_sampled(tidy(study), orders, direction(study))
    got = rendered_json(study)
    assert_columns_equal(frame(got, "shapley"), sampled.values, ["shapley", "raw", "se", "ci_low", "ci_high", "n_orders"])
    assert sum(frame(got, "shapley").shapley) == pytest.approx(sampled.total_gain, abs=1e-12)


def test_leave_one_out_gives_each_tricks_contribution_to_the_stack(studies):
    study = studies["leave-one-out"]
    full = frame(rendered_json(study), "full").set_index("lacks")
    table = tidy(study)
    for trick in ("label_smoothing", "ema", "mixup"):
        arm = "+".join(sorted({"label_smoothing", "ema", "mixup"} - {trick}))
        row = an.paired_differences(table[table.arm.isin([arm, "ema+label_smoothing+mixup"])], arm, direction(study)).iloc[0]
        assert full.loc[trick, "arm"] == arm and full.loc[trick, "mean_gain"] == pytest.approx(row.mean_gain)


def test_greedy_and_search_report_their_stored_decisions(studies):
    path = studies["greedy"].user_attrs["greedy_path"]
    rows = frame(rendered_json(studies["greedy"]), "greedy")
    assert list(rows.candidate) == [arm for r in path for arm, _, _ in r["tests"]]
    assert list(rows.p_value) == pytest.approx([p for r in path for _, _, p in r["tests"]])
    best = studies["search"].user_attrs["search_best"]
    got = rendered_json(studies["search"])
    assert got["sections"]["search"]["values"]["best_arm"] == best["arm"]
    assert best["arm"] in set(frame(got, "arms").arm)  # re-evaluated on the evaluation seeds


def test_a_diverged_run_is_counted_and_tuning_is_reported(studies):
    study = studies["diverged"]
    table = tidy(study)
    got = rendered_json(study)
    arms = frame(got, "arms").set_index("arm")
    assert arms.loc["label_smoothing", "n"] == 2 and arms.loc["label_smoothing", "n_diverged"] == 1
    finished = table[(table.phase == "eval") & (table.arm == "label_smoothing") & ~table.diverged]
    assert arms.loc["label_smoothing", "mean"] == pytest.approx(finished.value.mean())
    assert frame(got, "baseline").set_index("arm").loc["label_smoothing", "n_unpaired"] == 1
    tuning, rows = study.user_attrs["tuning"], frame(got, "tuning").set_index("arm")
    for arm, t in tuning.items():
        assert rows.loc[arm, "trials"] == t["trials"] == 2 and rows.loc[arm, "tuning_flops"] == pytest.approx(t["flops"])
        assert rows.loc[arm, "tuned.lr"] == t["best"]["lr"]
    text, _ = write(build_report(study), "text", None)
    assert "1 run(s) diverged" in text and "every arm had 2 tuning trial(s)" in text


def test_html_is_one_self_contained_file_with_four_plots(studies, url, cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the default --out is the current folder
    code, out, err = cli("report", "factorial", "--storage", url, "--format", "html")
    assert code == 0, err
    path = tmp_path / "factorial-report.html"
    assert out.strip() == str(path.relative_to(tmp_path)) or out.strip() == str(path)
    page = path.read_text()
    svgs = re.findall(r"<svg\b.*?</svg>", page, flags=re.S)
    assert len(svgs) == 4  # arms with intervals, the Shapley waterfall, the interaction heatmap, the learning curves
    assert page.index('id="arms"') < page.index(svgs[0]) and page.index('id="effects"') < page.index(svgs[1]) \
        and page.index('id="shapley"') < page.index(svgs[2]) and page.index('id="curves"') < page.index(svgs[3])
    # real runs are timed: the curves against FLOPs and against seconds, every arm in the legend
    assert all(text in svgs[3] for text in ("training FLOPs spent", "training seconds", "ema+label_smoothing+mixup"))
    assert all(name in svgs[2] for name in ("label_smoothing", "ema", "mixup", "full stack"))
    assert not re.search(r"<script|<link|<img|<iframe|@import|src=", page, flags=re.I)
    urls = set(re.findall(r"https?://[^\"'\s<>)]+", page))
    assert urls <= {"http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink"}, urls  # XML namespaces only


def test_cli_formats_and_csv_files(studies, url, cli, tmp_path):
    for fmt in ("text", "md", "json", "csv"):
        code, out, err = cli("report", "shapley", "--storage", url, "--format", fmt)
        assert code == 0 and out and not err, (fmt, err)
    code, out, err = cli("report", "shapley", "--storage", url, "--format", "csv", "--out", str(tmp_path / "csv"))
    assert code == 0, err
    written = sorted(p.name for p in (tmp_path / "csv").iterdir())
    assert written == sorted(out.split()) or written == sorted(p.rsplit("/", 1)[-1] for p in out.split())
    assert {"shapley-arms.csv", "shapley-shapley.csv", "shapley-values.csv"} <= set(written)
    shapley = pd.read_csv(tmp_path / "csv" / "shapley-shapley.csv")
    assert shapley.shapley.sum() == pytest.approx(frame(rendered_json(studies["shapley"]), "shapley").shapley.sum())
    code, out, _ = cli("report", "factorial", "--storage", url, "--format", "md", "--only", "shapley,additivity")
    assert code == 0 and "## Shapley values" in out and "## Arms" not in out


def test_bad_input_is_one_message_and_exit_code_2(studies, url, cli):
    optuna.create_study(study_name="empty", storage=url)
    cases = [
        (("report", "nope", "--storage", url), "no study 'nope'"),
        (("report", "empty", "--storage", url), "no finished evaluation run yet"),
        (("report", "one-at-a-time", "--storage", url, "--only", "effects"), "cannot report effects"),
        (("report", "fractional", "--storage", url, "--only", "arms,shapley"), "It can report: arms, baseline, effects"),
        (("report", "factorial", "--storage", url, "--only", "shapely"), "did you mean: shapley"),
        (("report", "factorial", "--storage", url, "--format", "pdf"), "--format must be one of"),
        (("report", "factorial", "--storage", url, "--adjust", "bonferroni"), "--adjust must be one of holm, bh"),
        (("report", "factorial", "--storage", url, "--test", "z"), "--test must be"),
    ]
    for args, message in cases:
        code, out, err = cli(*args)
        flat = " ".join(err.split())
        assert code == 2 and message in flat and flat.count("error:") == 1 and "Traceback" not in err, (args, err)
    code, _, err = cli("report", "empty", "--storage", url)
    assert "trickstack status empty" in " ".join(err.split())  # what can be done instead
