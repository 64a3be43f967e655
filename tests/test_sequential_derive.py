"""`recipe derive`'s sequential confirmation, through derive's own code on the synthetic workload: null years
are accepted at most alpha of the time, a 1.41-sd gain more often than on fixed 5 seeds, an interrupted
sequential derivation resumes with the same decisions and no run trained twice, and the leaderboard re-checks
the looks. The long version is ``python -m trickstack.benchmarks.sequential_derive``."""

from __future__ import annotations

import dataclasses
import json
import math
import re

import numpy as np
import pytest
import tomllib
from scipy import stats

from trickstack.benchmarks.sequential_derive import GAIN, confirm_year, truth
from trickstack.core.errors import UserError
from trickstack.derive.derive import DeriveOptions, derive
from trickstack.leaderboard import board as lb
from trickstack.leaderboard.site import write_site
from trickstack.stats import rules
from trickstack.stats.sequential import SequentialPlan, run_plan

ALPHA = rules.LEADERBOARD_ALPHA
OPTIONS = DeriveOptions(trials=4, tricks=("label_smoothing",))


def test_null_years_through_derives_confirmation_are_accepted_at_most_alpha():
    plan, years = OPTIONS.plan(), 300
    outcomes = [confirm_year(plan, 0, 0.0, year) for year in range(years)]
    accepted = sum(o.accepted for o in outcomes)
    print(f"{accepted}/{years} null years accepted, {sum(o.seeds for o in outcomes) / years:.2f} seeds on average")
    assert accepted <= stats.binom.ppf(0.99, years, ALPHA)  # 7 of 300: an honest rule exceeds it 1% of the time
    assert {o.seeds for o in outcomes} == set(plan.looks)  # futile candidates stop early, promising ones go on


def test_a_gain_is_accepted_more_often_than_on_fixed_five_seeds_in_the_same_years():
    years = range(120)
    sequential = [confirm_year(OPTIONS.plan(), 0, GAIN, y) for y in years]
    fixed = [confirm_year(None, 5, GAIN, y) for y in years]
    won, won5 = sum(o.accepted for o in sequential), sum(o.accepted for o in fixed)
    print(f"gain {GAIN} sd: sequential {won}/120, fixed 5 seeds {won5}/120")
    # power ~0.89 against 0.425: a gap below 0.25 has a chance under 1e-4 (binomial sds ~0.03 and ~0.045)
    assert won - won5 >= 0.25 * len(years)


def _counted(monkeypatch):
    import trickstack.workloads as workloads

    simulated = workloads.get_workload("synthetic")
    real, calls = simulated.simulate, []

    def counted(truth, workload, stack, seed=0, budget=None, overrides=None):
        calls.append((tuple(sorted(stack)), json.dumps(overrides, sort_keys=True), seed))
        return real(truth, workload, stack, seed=seed, budget=budget, overrides=overrides)

    monkeypatch.setitem(workloads._REGISTRY, "synthetic", dataclasses.replace(simulated, simulate=counted))
    return calls


class Interrupt(Exception):
    pass


def test_an_interrupted_sequential_confirmation_resumes_with_the_same_decisions(tmp_path, monkeypatch):
    calls = _counted(monkeypatch)
    planted = truth(GAIN, 0)  # year 0 of the benchmark: a gain the first two looks do not yet accept
    whole = derive("synthetic", 2016, OPTIONS, truth=planted, recipes=tmp_path / "whole",
                   storage=f"sqlite:///{tmp_path}/whole.db")
    assert whole.confirmation["looks_taken"] == 3 and whole.seeds == list(range(12)) and whole.accepted
    calls.clear()

    def progress(phase: str, done: int, total: int) -> None:  # stop in the middle of the second look
        if phase == "confirmation" and total == 16 and 10 < done < total:
            raise Interrupt(phase)

    url = f"sqlite:///{tmp_path}/resumed.db"
    with pytest.raises(Interrupt):
        derive("synthetic", 2016, OPTIONS, truth=planted, recipes=tmp_path / "resumed", storage=url, progress=progress)
    first = list(calls)
    assert any(seed in (5, 6, 7) for *_, seed in first)  # it had begun the second look
    calls.clear()
    resumed = derive("synthetic", 2016, OPTIONS, truth=planted, recipes=tmp_path / "resumed", storage=url)
    assert not set(first) & set(calls) and len(set(calls)) == len(calls)  # no run simulated twice
    assert (resumed.confirmation, resumed.seeds, resumed.p_value) == (whole.confirmation, whole.seeds, whole.p_value)
    with pytest.raises(UserError, match="was started with confirmation"):
        derive("synthetic", 2016, dataclasses.replace(OPTIONS, confirm="fixed", force=True), truth=planted,
               recipes=tmp_path / "resumed", storage=url)


def test_the_leaderboard_judges_a_sequential_recipe_at_its_look_and_rechecks_the_looks(tmp_path):
    d = derive("synthetic", 2016, OPTIONS, truth=truth(GAIN, 0), recipes=tmp_path, storage="memory://seq-leaderboard")
    prov = tomllib.loads(d.path.read_text())["provenance"]
    c = prov["confirmation"]
    assert c["looks_taken"] == 3 and c["decision"] == "accept" and prov["seeds"] == list(range(12))
    assert prov["p_value"] < rules.sequential_level(c) == pytest.approx(c["nominal"])
    board = lb.build(tmp_path).boards["synthetic"]
    assert list(board.table.status) == ["baseline", "new best"] and board.table.n_pairs_prev.iloc[1] == 12
    # the same evidence claimed as accepted at look 2 (its first 8 seeds said "continue"), consistently in the
    # file (its seeds and level say look 2): the leaderboard replays the looks from the evidence and refuses it
    text = d.path.read_text()
    forged = (re.sub(r"seeds = \[[^]]*\]", "seeds = [0, 1, 2, 3, 4, 5, 6, 7]", text, count=1)
              .replace("looks_taken = 3", "looks_taken = 2")
              .replace(f"nominal = {c['nominal']!r}", f"nominal = {SequentialPlan().nominal[1]!r}"))
    d.path.write_text(forged)
    with pytest.raises(UserError, match=r"look 2 \(8 seeds\) decided 'accept'"):
        lb.build(tmp_path)
    d.path.write_text(text.replace(f"nominal = {c['nominal']!r}", "nominal = 0.01"))
    with pytest.raises(UserError, match="nominal"):
        lb.build(tmp_path)


def test_a_recorded_plan_looser_or_larger_than_allowed_is_refused():
    looser = {"design": "sequential", "looks": [5, 8], "alpha": 0.02, "spending": "pocock", "futility": 0.5}
    with pytest.raises(UserError, match="looser than the leaderboard's rule"):
        rules.sequential_plan(looser)
    with pytest.raises(UserError, match="looser than the leaderboard's rule"):
        rules.sequential_plan({**looser, "alpha": 0.01, "looks": [3, 8]})
    with pytest.raises(UserError, match="at most 6 looks and 50 seeds"):  # refused before calibrating it
        rules.sequential_plan({**looser, "alpha": 0.01, "looks": [5, 100_000]})
    with pytest.raises(UserError, match="not a look"):
        SequentialPlan().decide([0.1] * 6)


def test_bad_confirmation_options_are_refused():
    with pytest.raises(UserError, match="confirmation 'maybe'"):
        DeriveOptions(confirm="maybe")
    with pytest.raises(UserError, match="first look needs at least 5"):
        DeriveOptions(looks=(3, 8))
    with pytest.raises(UserError, match="spending"):
        DeriveOptions(spending="haybittle")


def _gains(records: list[dict], recipe, seeds) -> np.ndarray:
    """Per-seed gain of the recipe over the baseline, read from the evidence records without trickstack."""
    def by_seed(stack, nuisance):
        return {r["seed"]: r["metrics"]["eval_value"] for r in records
                if sorted(t["name"] for t in r["tricks"]) == sorted(stack) and r["nuisance"] == nuisance}
    ours, base = by_seed(recipe.stack, recipe.nuisance), by_seed([], {"lr": 0.01, "weight_decay": 0.0})
    return np.array([ours[s] - base[s] for s in seeds])


@pytest.mark.parametrize("confirm, gain", [("sequential", GAIN), ("fixed", 4.0)])  # year 0: both accepted
def test_the_recipe_page_shows_the_power_of_its_confirmation_from_its_evidence(tmp_path, confirm, gain):
    d = derive("synthetic", 2016, dataclasses.replace(OPTIONS, confirm=confirm), truth=truth(gain, 0),
               recipes=tmp_path / "recipes", storage=f"memory://power-page-{confirm}")
    assert d.accepted
    records = [json.loads(line) for line in d.evidence.read_text().splitlines()]
    g = _gains(records, d.recipe, d.seeds)
    effect = g.mean() / g.std(ddof=1)
    if confirm == "sequential":  # the plan's acceptance rate at the observed effect, simulated
        plan = OPTIONS.plan()
        x = np.random.default_rng(0).normal(effect, 1.0, (20_000, plan.looks[-1]))
        power = float((run_plan(plan, x)[0] > 0).mean())
    else:  # the fixed test's exact power at the observed effect (noncentral t)
        n = len(d.seeds)
        power = float(stats.nct.sf(stats.t.isf(ALPHA, n - 1), n - 1, effect * math.sqrt(n)))
    row = lb.build(tmp_path / "recipes").boards["synthetic"].table.iloc[1]
    assert row.power_prev == pytest.approx(power, abs=1e-3) and row.n_pairs_prev == len(d.seeds)
    assert row.seeds_80_prev >= rules.LEADERBOARD_MIN_SEEDS and row.seeds_80_prev_cautious >= row.seeds_80_prev
    assert row.power_prev_cautious <= row.power_prev
    write_site(lb.build(tmp_path / "recipes"), tmp_path / "site")
    page = (tmp_path / "site" / "synthetic-2016.html").read_text()
    assert f"power of this confirmation, estimated from this study itself: {row.power_prev:.0%}" in page
    looks = "sequential (looks 5, 8, 12" if confirm == "sequential" else "fixed (p &lt; 0.01 needed)"
    assert f"confirmation: {len(d.seeds)} paired seeds, {looks}" in page

