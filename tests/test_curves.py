"""A run's learning curve: recorded in every new record (schema 2), without changing the run; old records read."""

import json
from pathlib import Path

import pytest

from trickstack.core.budget import Budget
from trickstack.core.evidence import read_runs
from trickstack.core.records import SCHEMA_VERSION, RunRecord
from trickstack.trial.curves import CURVE_POINTS, EVAL_NOTE
from trickstack.trial.runner import run_trial


@pytest.fixture(scope="module")
def pair(step_flops):
    """The same run (seed, stack, budget) with its curve recorded and without."""
    budget = Budget("flops", 80 * step_flops)  # 80 steps: fewer than CURVE_POINTS points, so some steps are skipped
    on = run_trial("mnist1d", ["label_smoothing"], seed=3, budget=budget)
    off = run_trial("mnist1d", ["label_smoothing"], seed=3, budget=budget, curve=False)
    return on, off


def test_recording_the_curve_changes_nothing_in_the_run(pair):
    """Bit for bit on the CPU: the metric, the loss, the steps and the FLOPs, the curve's eval points included."""
    on, off = pair
    assert on.curve.eval_points, "mnist1d declares curve_evals: this test must cover them"
    assert off.curve is None
    assert on.metrics == off.metrics
    assert (on.steps, on.samples, on.flops, on.flops_measured_steps) == (off.steps, off.samples, off.flops,
                                                                          off.flops_measured_steps)


def test_the_curve_is_spaced_by_the_budget_spent_and_ends_where_the_run_ends(pair):
    on, _ = pair
    points = on.curve.points
    assert on.schema_version == SCHEMA_VERSION == 2
    assert len(points) <= CURVE_POINTS + 1 and len(points) >= CURVE_POINTS // 2
    fractions = [p.fraction for p in points]
    assert fractions == sorted(fractions) and fractions[0] >= 1 / CURVE_POINTS
    for k in range(1, CURVE_POINTS + 1):  # a point within one step of every 1/64 of the budget
        assert any(abs(f - k / CURVE_POINTS) <= 1 / on.steps + 1e-9 for f in fractions), k
    last = points[-1]
    assert (last.steps, last.samples, last.flops) == (on.steps, on.samples, on.flops)
    assert last.fraction == pytest.approx(on.flops / on.budget.value)
    assert 0 < points[0].seconds < last.seconds <= on.train_seconds + 1e-6
    assert all(p.train_loss > 0 for p in points) and points[-1].train_loss < points[0].train_loss


def test_the_smoothed_loss_is_the_mean_of_the_steps_since_the_previous_point(step_flops):
    """With a point per step (a run shorter than the curve's points), each point is that step's own loss; the last
    point's is the record's last training loss."""
    record = run_trial("mnist1d", [], seed=0, budget=Budget("flops", 20 * step_flops))
    assert [p.steps for p in record.curve.points] == list(range(1, record.steps + 1))
    assert record.curve.points[-1].train_loss == pytest.approx(record.metrics.train_loss, rel=1e-6)


def test_eval_points_are_outside_the_budget_and_the_record_says_so(pair):
    on, off = pair
    evals = on.curve.eval_points
    assert [round(e.fraction * 4) / 4 for e in evals] == [0.25, 0.5, 0.75]
    assert all(0 <= e.value <= 1 for e in evals)
    assert on.curve.eval_note == EVAL_NOTE and "not charged to the budget" in EVAL_NOTE
    assert on.curve.eval_seconds > 0
    assert on.flops == off.flops  # the evaluations' FLOPs were not counted


def test_a_schema_1_record_reads_unchanged_and_cannot_carry_a_curve(pair, tmp_path):
    shipped = Path(__file__).resolve().parents[1] / "recipes" / "mnist1d" / "2016.runs.jsonl"
    records = read_runs(shipped)
    assert records and all(r.schema_version == 1 and r.curve is None for r in records)
    data = json.loads(pair[0].to_json())
    data["schema_version"] = 1
    with pytest.raises(ValueError, match="schema_version 1 record has no curve"):
        RunRecord.model_validate(data)


def test_a_schema_1_record_as_a_study_stores_it_has_a_row_and_no_curve():
    """Optuna keeps records as JSON dicts: one written before curves (no ``curve`` key) still gives its runs-table row,
    and no row of the curve table, which counts it as missing."""
    from trickstack.stats.curves import curve_rows, curves_table, missing_curves
    from trickstack.stats.table import runs_table

    shipped = Path(__file__).resolve().parents[1] / "recipes" / "mnist1d" / "2016.runs.jsonl"
    stored = json.loads(shipped.read_text().splitlines()[0])
    assert "curve" not in stored and stored["schema_version"] == 1
    runs = runs_table({"baseline": [stored]})
    assert len(runs) == 1 and runs.value.iloc[0] == stored["metrics"]["eval_value"]
    assert curve_rows(stored, "baseline") == []
    missing = missing_curves(runs, curves_table({"baseline": [stored]}))
    assert missing.to_dict("records") == [{"arm": "baseline", "n": 1, "missing": 1}]
