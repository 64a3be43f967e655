"""The gain corrected for its acceptance (`trickstack.stats.selection`): the estimator, derive writing it, the
leaderboard recomputing it (and refusing a recipe that claims another) and showing it, and the benchmark."""

from __future__ import annotations

import io
import json
import math
import re
from contextlib import redirect_stdout

import numpy as np
import pytest
import tomllib
from scipy import stats

from trickstack.benchmarks import winners_curse
from trickstack.benchmarks.sequential_derive import GAIN, truth
from trickstack.core.errors import UserError
from trickstack.derive import inputs
from trickstack.derive.derive import DeriveOptions, derive
from trickstack.derive.search import ESTIMATE_SEEDS
from trickstack.leaderboard import board as lb
from trickstack.leaderboard.site import _recipe_lines
from trickstack.leaderboard.tables import CORRECTED, previous_cell
from trickstack.stats.selection import Fresh, corrected
from trickstack.stats.sequential import SequentialPlan, run_plan

SEQUENTIAL = {"design": "sequential", "looks": [5, 8, 12], "spending": "pocock", "alpha": 0.01, "futility": 0.5,
              "looks_taken": 1, "decision": "accept"}


def test_a_gain_far_past_the_boundary_is_left_as_measured():
    c = corrected(100.0, 1.0, 5)  # t = 224: every such year is accepted, the filter selects nothing
    half = stats.t.isf(0.025, 4) / math.sqrt(5)
    assert c.gain == pytest.approx(100.0, rel=1e-3)
    assert c.low == pytest.approx(100 - half, abs=0.05) and c.high == pytest.approx(100 + half, abs=0.05)


def test_a_gain_just_past_the_boundary_is_pulled_toward_zero():
    gain = stats.t.isf(0.009, 4) / math.sqrt(5)  # t just past the 1% boundary on 5 seeds (sd 1)
    c = corrected(gain, 1.0, 5)
    assert 0 <= c.low < c.gain < 0.8 * gain and c.high < gain + stats.t.isf(0.025, 4) / math.sqrt(5)
    assert corrected(gain, 1.0, 5, SEQUENTIAL) != c  # the plan's looks change the chance of acceptance
    assert corrected(gain, 1.0, 5) == c  # deterministic
    assert math.isnan(corrected(gain, 0.0, 5).gain) and math.isnan(corrected(gain, 1.0, 1).gain)


def test_null_years_accepted_by_the_plan_are_pulled_toward_zero():
    plan = SequentialPlan()
    x = np.random.default_rng(5).normal(0.0, 1.0, (20_000, 12))
    looks, _ = run_plan(plan, x)
    accepted = np.flatnonzero(looks)  # the 182 null years the plan accepted: their median is that of the null years
    raw, fixed = [], []
    for i in accepted:
        d = x[i, :plan.looks[looks[i] - 1]]
        record = {**SEQUENTIAL, "looks_taken": int(looks[i])}
        raw.append(d.mean())
        fixed.append(corrected(d.mean(), d.std(ddof=1), len(d), record))
    assert np.median([c.gain for c in fixed]) < 0.95 * np.median(raw)  # pulled, not to 0: the gain is taken >= 0
    raw_low = [d.mean() - stats.t.isf(0.025, len(d) - 1) * d.std(ddof=1) / math.sqrt(len(d))
               for d in (x[i, :plan.looks[looks[i] - 1]] for i in accepted)]
    assert np.median([c.low for c in fixed]) < 0.5 * np.median(raw_low)  # the interval reaches nearer the truth, 0


def test_derive_writes_the_corrected_gain_and_the_leaderboard_checks_and_shows_it(tmp_path):
    options = DeriveOptions(trials=4, tricks=("label_smoothing",), estimate_seeds=0)  # the confirmation's seeds alone
    d = derive("synthetic", 2016, options, truth=truth(GAIN, 0), recipes=tmp_path, storage="memory://curse-derive")
    prov = tomllib.loads(d.path.read_text())["provenance"]
    assert prov["accepted"]
    sd = (prov["ci"][1] - prov["ci"][0]) / 2 / stats.t.isf(0.025, len(prov["seeds"]) - 1) * math.sqrt(len(prov["seeds"]))
    expected = corrected(prov["gain"], sd, len(prov["seeds"]), prov["confirmation"])
    assert prov["gain_corrected"] == pytest.approx(expected.gain, rel=1e-6)
    assert prov["ci_corrected"] == pytest.approx([expected.low, expected.high], rel=1e-6)
    assert prov["gain_corrected"] < prov["gain"]
    row = lb.build(tmp_path).boards["synthetic"].table.iloc[1]
    assert row.gain_prev_corrected == pytest.approx(prov["gain_corrected"], rel=1e-6)
    assert previous_cell(row).startswith(f"{prov['gain_corrected']:+.4f}") and CORRECTED in previous_cell(row)
    assert f"raw {prov['gain']:+.4f}" in previous_cell(row)
    text = d.path.read_text()
    d.path.write_text(re.sub(r"gain_corrected = \S+", "gain_corrected = 0.5", text))
    with pytest.raises(UserError, match=r"provenance.gain_corrected = 0.5, but its evidence"):
        lb.build(tmp_path)
    d.path.write_text(re.sub(r"ci_corrected = \[[^]]*\]", "ci_corrected = [0.0, 1.0]", text))
    with pytest.raises(UserError, match=r"provenance.ci_corrected = \[0, 1\]"):
        lb.build(tmp_path)
    d.path.write_text(re.sub(r"ci_corrected = \[[^]]*\]\n", "", text))
    with pytest.raises(UserError, match="go together"):
        lb.build(tmp_path)


def test_fresh_pairs_add_their_likelihood_and_many_of_them_decide_the_gain():
    gain = stats.t.isf(0.009, 4) / math.sqrt(5)  # just past the boundary on 5 seeds: the filter made it
    alone = corrected(gain, 1.0, 5, SEQUENTIAL)
    assert corrected(gain, 1.0, 5, SEQUENTIAL, None) == alone
    many = corrected(gain, 1.0, 5, SEQUENTIAL, Fresh(0.3, 1.0, 10_000))  # 10,000 fresh pairs of mean 0.3
    assert many.gain == pytest.approx(0.3, abs=0.005) and many.low < 0.3 < many.high and many.high - many.low < 0.1
    few_low, few_high = (corrected(gain, 1.0, 5, SEQUENTIAL, Fresh(g, 1.0, 10)) for g in (0.2, 2.0))
    assert few_low.gain < alone.gain < few_high.gain  # ten fresh pairs move it their way
    one = corrected(gain, 1.0, 5, SEQUENTIAL, Fresh(0.5, math.nan, 1))  # one pair: its mean, no sd of its own
    assert math.isfinite(one.gain) and one != alone


def test_derive_runs_estimation_seeds_after_the_acceptance_and_the_leaderboard_uses_them(tmp_path):
    options = DeriveOptions(trials=4, tricks=("label_smoothing",))
    assert options.estimate_seeds == ESTIMATE_SEEDS == 10
    d = derive("synthetic", 2016, options, truth=truth(GAIN, 0), recipes=tmp_path, storage="memory://curse-fresh")
    prov = tomllib.loads(d.path.read_text())["provenance"]
    looks = prov["confirmation"]["looks"]
    assert prov["accepted"] and prov["estimation_seeds"] == list(range(looks[-1], looks[-1] + 10))  # after every
    assert not set(prov["estimation_seeds"]) & set(prov["seeds"])  # seed the confirmation could have used
    records = [json.loads(line) for line in d.evidence.read_text().splitlines()]
    fresh = [r for r in records if r["seed"] in prov["estimation_seeds"]]
    assert len(fresh) == 20 and len({tuple(sorted(t["name"] for t in r["tricks"])) for r in fresh}) == 2
    on, off = (sorted((r for r in fresh if bool(r["tricks"]) == trick), key=lambda r: r["seed"]) for trick in (True, False))
    diff = [a["metrics"]["eval_value"] - b["metrics"]["eval_value"] for a, b in zip(on, off)]
    sd = (prov["ci"][1] - prov["ci"][0]) / 2 / stats.t.isf(0.025, len(prov["seeds"]) - 1) * math.sqrt(len(prov["seeds"]))
    expected = corrected(prov["gain"], sd, len(prov["seeds"]), prov["confirmation"],
                         Fresh(float(np.mean(diff)), float(np.std(diff, ddof=1)), len(diff)))
    assert prov["gain_corrected"] == pytest.approx(expected.gain, rel=1e-6)
    assert prov["gain_corrected"] != pytest.approx(corrected(prov["gain"], sd, len(prov["seeds"]),
                                                             prov["confirmation"]).gain, rel=1e-3)
    board = lb.build(tmp_path).boards["synthetic"]
    assert board.table.iloc[1].gain_prev_corrected == pytest.approx(prov["gain_corrected"], rel=1e-6)
    assert len(board.entries[0].estimation) == 20 and not set(prov["estimation_seeds"]) & {
        r.seed for r in board.entries[0].search}  # not counted as search runs
    assert inputs.fresh_seed(tmp_path / "synthetic", 2017) == prov["estimation_seeds"][-1] + 1  # next year's seeds
    page = " ".join(_recipe_lines(board.entries[0]))
    assert f"20 runs on estimation seeds {', '.join(map(str, prov['estimation_seeds']))}, in the corrected gain only" in page

    text, evidence = d.path.read_text(), d.evidence.read_text()
    d.path.write_text(text.replace(f"estimation_seeds = {prov['estimation_seeds']}".replace("'", ""),
                                   f"estimation_seeds = {prov['estimation_seeds'][:-1]}"))
    with pytest.raises(UserError, match=r"2016.toml: provenance.gain_corrected = \S+, but its evidence"):
        lb.build(tmp_path)  # a seed left out of the estimation: the corrected gain is not the one its seeds give
    d.path.write_text(text)
    dropped = [line for line in evidence.splitlines() if json.loads(line)["seed"] != prov["estimation_seeds"][0]
               or not json.loads(line)["tricks"]]
    d.evidence.write_text("\n".join(dropped) + "\n")
    with pytest.raises(UserError, match=rf"{d.evidence}: .* was run on estimation seeds"):
        lb.build(tmp_path)


def test_shipped_recipes_without_the_field_get_it_computed_from_their_evidence():
    board = lb.build().boards["mnist1d"]
    row = board.table.set_index("entry").loc["mnist1d/2019"]
    assert "gain_corrected" not in board.entries[1].recipe.provenance
    assert 0 < row.gain_prev_corrected < row.gain_prev and row.gain_prev_corrected_low < row.gain_prev_low
    assert previous_cell(row).startswith(f"{row.gain_prev_corrected:+.4f}")


def test_the_benchmark_prints_its_table_and_the_correction_is_less_biased_at_half_an_sd():
    out = io.StringIO()
    with redirect_stdout(out):
        winners_curse.main(["--years", "120", "--null-years", "20"])
    lines = out.getvalue().splitlines()
    head = lines.index(" | ".join(winners_curse.COLUMNS))
    rows = [dict(zip(winners_curse.COLUMNS, map(float, line.split(" | ")))) for line in lines[head + 2:]]
    assert [r["truth (sd)"] for r in rows] == [0.0, *winners_curse.EFFECTS]
    half = rows[1]
    assert half["accepted"] > 0
    assert abs(half["corrected median/truth"] - 1) < abs(half["raw median/truth"] - 1)
    assert abs(half["corrected mean/truth"] - 1) < abs(half["raw mean/truth"] - 1)


def test_estimation_runs_that_diverged_are_left_out_by_derive_and_the_leaderboard_alike(tmp_path):
    diverging = {"baseline": 0.5, "seed_noise": 0.02, "run_noise": 0.002, "effects": {"label_smoothing": 0.05},
                 "diverge": {"label_smoothing": 0.15}}  # some runs with the trick diverge
    d = derive("synthetic", 2016, DeriveOptions(trials=4, tricks=("label_smoothing",)), truth=diverging,
               recipes=tmp_path, storage="memory://curse-diverged")
    records = [json.loads(line) for line in d.evidence.read_text().splitlines()]
    diverged = {r["seed"] for r in records if r["seed"] in d.estimation_seeds and r["diverged"]}
    assert d.accepted and 0 < len(diverged) < len(d.estimation_seeds) - 1  # some fresh pairs lost, two or more left
    prov = tomllib.loads(d.path.read_text())["provenance"]
    row = lb.build(tmp_path).boards["synthetic"].table.iloc[1]  # recomputed from the evidence: the same claim
    assert row.gain_prev_corrected == pytest.approx(prov["gain_corrected"], rel=1e-6) == d.corrected[0]


@pytest.mark.parametrize("edit, message", [
    ("estimation_seeds = [0, 12]", "estimation_seeds must be distinct, non-negative and not evaluation seeds"),
    ("estimation_seeds = [12, 12]", "estimation_seeds must be distinct"),
])
def test_bad_estimation_seeds_are_refused_naming_the_key(tmp_path, edit, message):
    d = derive("synthetic", 2016, DeriveOptions(trials=4, tricks=("label_smoothing",), estimate_seeds=2),
               truth=truth(GAIN, 0), recipes=tmp_path, storage="memory://curse-bad-fresh")
    text = d.path.read_text()
    assert "estimation_seeds = [12, 13]" in text
    d.path.write_text(text.replace("estimation_seeds = [12, 13]", edit))
    with pytest.raises(UserError, match=re.escape(message)):
        lb.build(tmp_path)
    d.path.write_text(text.replace("accepted = true", "accepted = false"))
    with pytest.raises(UserError, match="only an accepted recipe runs estimation seeds"):
        lb.build(tmp_path)


def test_negative_estimation_seeds_are_refused():
    with pytest.raises(UserError, match="-1 estimation seeds: give 0"):
        DeriveOptions(estimate_seeds=-1)
    assert DeriveOptions(estimate_seeds=0).estimate_seeds == 0
