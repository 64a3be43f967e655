"""The report's learning curves and its ranking part way through the budget, on simulated studies (milliseconds a
run): the curves' numbers are `trickstack.stats.curves`' own; a study whose records have no curve says so."""

import json

import numpy as np
import pytest

from trickstack.ablations.engine import ablate
from trickstack.ablations.export import tidy, tidy_curves
from trickstack.ablations.spec import StudySpec
from trickstack.core.errors import UserError
from trickstack.reports.files import write
from trickstack.reports.sections import build_report
from trickstack.stats import curves as cv

TRICKS = ["label_smoothing", "ema"]


def study(name: str, curves: bool, diverge: str = ""):
    text = (f'[study]\nname = "{name}"\nworkload = "synthetic"\nbudget = {{ flops = 1e9 }}\nseeds = 4\n'
            f'design = "factorial"\ntricks = {json.dumps(TRICKS)}\n[synthetic]\nbaseline = 0.5\n'
            f'effects = {{ label_smoothing = 0.05, ema = 0.02 }}\nseed_noise = 0.01\nrun_noise = 0.002\n'
            f'curves = {"true" if curves else "false"}\n{diverge}')
    return ablate(StudySpec.from_toml_text(text, source=f"{name}.toml"), f"memory://{name}").study


@pytest.fixture(scope="module")
def with_curves():
    return study("curves", True)


def test_the_report_shows_each_arms_mean_curve_with_its_band(with_curves, tmp_path):
    report = build_report(with_curves)
    s = report.sections["curves"]
    assert s.available and set(s.table.arm) == {"baseline", "ema", "label_smoothing", "ema+label_smoothing"}
    assert (s.table.missing == 0).all() and (s.table.points == 64).all()
    expected = cv.mean_curves(tidy_curves(with_curves))
    assert s.series.equals(expected)
    first = expected[expected.arm == "baseline"].iloc[0]
    assert first.n == 4 and first.low < first["mean"] < first.high
    (path,) = write(report, "html", tmp_path)[1]
    html = path.read_text()
    curves = html[html.index('<section id="curves">'):]
    curves = curves[:curves.index("</section>")]
    assert "<svg" in curves and "smoothed training loss" in curves and "Not available" not in curves


def test_budget_ranks_the_arms_at_25_50_and_100_percent_and_says_these_are_not_smaller_budgets(with_curves):
    report = build_report(with_curves, only=["budget"])
    assert list(report.sections) == ["budget"]
    s = report.sections["budget"]
    table = tidy_curves(with_curves)
    assert s.table.equals(cv.ranking(table))
    final = s.table.set_index("arm")["loss_100%"]
    assert final.idxmin() == "ema+label_smoothing" and final.idxmax() == "baseline"  # the planted effects, as losses
    assert s.table["rank_100%"].tolist() == [1, 2, 3, 4]
    assert cv.NOT_SMALLER_BUDGETS in s.notes and "Only a study at that budget measures one" in cv.NOT_SMALLER_BUDGETS
    means = cv.mean_curves(table, [0.25])
    assert np.allclose(s.table.set_index("arm")["loss_25%"].sort_index(), means.set_index("arm")["mean"].sort_index())


def test_a_study_without_curves_says_they_are_missing():
    plain = study("plain", False)
    report = build_report(plain)
    assert not report.sections["curves"].available
    assert "curves missing" in report.sections["curves"].unavailable
    assert "schema 1" in report.sections["curves"].unavailable
    with pytest.raises(UserError, match="cannot report budget .*curves missing"):
        build_report(plain, only=["budget"])


def test_a_diverged_run_ends_its_curve_and_the_mean_is_over_the_seeds_still_running():
    diverging = study("diverging", True, "diverge = { ema = 0.5 }\n")
    curves = tidy_curves(diverging)
    runs = tidy(diverging)
    diverged = runs[runs.diverged & (runs.arm == "ema")]
    assert len(diverged), "the truth diverges half the ema runs: some must"
    means = cv.mean_curves(curves).set_index(["arm", "fraction"])
    assert means.loc[("ema", 1.0), "n"] == (runs.arm == "ema").sum() - len(diverged)
    assert means.loc[("ema", 1 / 64), "n"] == (runs.arm == "ema").sum()


@pytest.mark.parametrize("direction", ["maximize", "minimize"])
def test_the_eval_metric_ranking_uses_the_eval_points_and_the_final_values(direction):
    import pandas as pd

    rows = [{"arm": arm, "seed": seed, "kind": "eval", "fraction": f + 0.003, "steps": 1, "flops": 1.0, "samples": 1,
             "seconds": 1.0, "value": value + seed * 0.001}
            for arm, values in {"a": (0.3, 0.6), "b": (0.4, 0.5)}.items() for seed in (0, 1)
            for f, value in zip((0.25, 0.5), values)]
    curves = pd.DataFrame(rows, columns=cv.COLUMNS)
    runs = pd.DataFrame({"arm": ["a", "a", "b", "b"], "seed": [0, 1, 0, 1], "value": [0.7, 0.7, 0.9, None],
                         "diverged": [False, False, False, True]})
    table = cv.metric_ranking(curves, runs, direction).set_index("arm")
    assert table.loc["a", "metric_25%"] == pytest.approx(0.3005) and table.loc["b", "metric_100%"] == pytest.approx(0.9)
    best_first = direction == "maximize"
    assert table.loc["b", "rank_25%"] == (1 if best_first else 2) and table.loc["a", "rank_50%"] == (1 if best_first else 2)
    assert table.loc["b", "rank_100%"] == (1 if best_first else 2)
    assert cv.metric_ranking(curves[curves.kind == "train"], runs, direction).empty  # no eval point: nothing to rank
