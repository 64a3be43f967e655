"""A year whose own negative results beat its recipe says so, and a trick's verdict reads every row that names
it: the planted truth gives gradient_clipping, tried on top of the 2016 recipe and not kept, +0.03."""

from __future__ import annotations

import uuid

import leaderboard_fixtures as fixtures
import pytest

from trickstack.ablations.storage import drop_memory
from trickstack.derive.derive import DeriveOptions, derive
from trickstack.leaderboard.board import build
from trickstack.leaderboard.site import render_recipe
from trickstack.leaderboard.tables import render_markdown
from trickstack.leaderboard.tricks import collect


@pytest.fixture
def beaten(tmp_path, monkeypatch):
    monkeypatch.setitem(fixtures.TRUTH["effects"], "gradient_clipping", 0.03)
    lb = build(fixtures.make_recipes(tmp_path / "recipes", years=(2016,)))
    return lb, collect(lb)


def test_a_trick_that_beat_the_recipe_where_tried_never_reads_never_helped(beaten):
    lb, tricks = beaten
    row = lb.boards["synthetic"].negative.iloc[0]
    assert row.tried.startswith("+gradient_clipping") and row.gain_low > 0 and row.p_value < 0.01
    [said] = tricks["gradient_clipping"].verdict
    assert "never helped" not in said and said.startswith("beat the recipe on synthetic where tried and not kept")


def test_the_year_says_its_negative_results_beat_its_recipe(beaten):
    lb, tricks = beaten
    board = lb.boards["synthetic"]
    [e] = board.entries
    page, markdown = render_recipe(lb, board, e, tricks), render_markdown(lb, tricks)
    for text in (page, markdown):
        assert "beaten by its own negative results: +gradient_clipping" in text


def test_a_year_not_beaten_says_nothing_of_it(tmp_path):
    lb = build(fixtures.make_recipes(tmp_path / "recipes", years=(2016,)))
    tricks = collect(lb)
    assert "beaten by" not in render_markdown(lb, tricks)
    assert tricks["gradient_clipping"].verdict[0].startswith("never helped on synthetic")


def test_derive_proposes_a_stack_its_follow_up_runs_show_better(tmp_path):
    """Two searched configurations miss ema (+0.05): the baseline is carried forward, and ema added back on top of
    it (a negative result) beats it. Derive says so and does not accept it unconfirmed; the year's page says so."""
    url = f"memory://{uuid.uuid4().hex}"
    try:
        d = derive("synthetic", 2016, DeriveOptions(trials=2, tricks=("cosine_schedule", "ema", "label_smoothing")),
                   truth={"baseline": 0.5, "seed_noise": 0.02, "run_noise": 0.002, "effects": {"ema": 0.05}},
                   recipes=tmp_path, storage=url)
    finally:
        drop_memory(url)
    assert not d.accepted and d.recipe.stack == [] and list(d.beaten_by) == ["ema"]
    assert d.beaten_by["ema"]["gain"] > 0 and d.beaten_by["ema"]["p"] < 0.01
    lb = build(tmp_path)
    tricks = collect(lb)
    assert "beaten by its own negative results: +ema" in render_markdown(lb, tricks)
    assert tricks["ema"].verdict[0].startswith("beat the recipe on synthetic")


def test_derive_prints_the_stack_to_confirm(tmp_path, cli):
    truth = tmp_path / "truth.toml"
    truth.write_text('[synthetic]\nbaseline = 0.5\neffects = { ema = 0.05 }\nseed_noise = 0.02\nrun_noise = 0.002\n')
    code, out, err = cli("recipe", "derive", "--workload", "synthetic", "--year", "2016", "--trials", "2",
                         "--tricks", "cosine_schedule,ema,label_smoothing", "--synthetic", str(truth),
                         "--recipes", str(tmp_path / "recipes"), "--storage", f"memory://{uuid.uuid4().hex}")
    flat = " ".join(out.split())
    assert code == 0 and "note: ema beats synthetic/2016 in its own follow-up runs by +" in flat, err
    assert "not accepted: confirm it on fresh seeds" in flat and "carried forward" in flat
