"""`trickstack leaderboard`: numbers from a known truth (the synthetic workload, `leaderboard_fixtures`),
the Markdown, CSV and JSON tables agreeing with each other, and bad input (exit code 2, the file named)."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from leaderboard_fixtures import SEARCH_SEED, SEEDS, make_recipes, simulate

from trickstack.core.budget import Budget
from trickstack.core.errors import UserError
from trickstack.leaderboard import board as lb
from trickstack.stats import rules


@pytest.fixture(scope="module")
def recipes(tmp_path_factory) -> Path:
    return make_recipes(tmp_path_factory.mktemp("lb") / "recipes")


@pytest.fixture(scope="module")
def board(recipes) -> lb.Board:
    return lb.build(recipes).boards["synthetic"]


def row(board, entry: str) -> dict:
    return board.table.set_index("entry").loc[entry].to_dict()


def values(path: Path, stack: list[str], nuisance: dict | None = None) -> np.ndarray:
    """The metric of ``stack``'s runs in an evidence file, by seed: computed here without the leaderboard."""
    out = {}
    for line in path.read_text().splitlines():
        r = json.loads(line)
        if sorted(t["name"] for t in r["tricks"]) == sorted(stack) and (nuisance is None or r["nuisance"] == nuisance):
            out.setdefault(r["seed"], r["metrics"]["eval_value"])
    return np.array([out[s] for s in SEEDS])


def test_rows_follow_the_planted_gains(board, recipes):
    assert list(board.table.entry) == ["baseline", "synthetic/2016", "synthetic/2018", "synthetic/2019"]
    assert list(board.table.status) == ["baseline", "new best", "new best", "carried forward"]
    y16, y18, y19 = (row(board, f"synthetic/{y}") for y in (2016, 2018, 2019))
    # planted: 2016 = baseline + 0.04; 2018 = 2016 + 0.02 (mixup) - 0.01 (its overlap with label_smoothing)
    assert y16["gain_base"] > 0 and y16["gain_base_low"] <= 0.04 <= y16["gain_base_high"]
    assert y16["p_base"] < rules.LEADERBOARD_ALPHA
    assert y16["previous"] == "baseline" and y16["gain_prev"] == y16["gain_base"]
    assert y18["previous"] == "synthetic/2016" and y18["gain_prev_low"] <= 0.01 <= y18["gain_prev_high"]
    assert y18["p_prev"] < rules.LEADERBOARD_ALPHA and y18["n_pairs_prev"] == len(SEEDS) >= rules.LEADERBOARD_MIN_SEEDS
    assert y18["added"] == "mixup(alpha=0.4)" and y18["removed"] == ""
    assert "label_smoothing(smoothing=0.15)" in y16["added"] and "cosine_schedule" in y16["added"]
    # the same numbers, computed here from the evidence file by hand
    evidence = recipes / "synthetic" / "2018.runs.jsonl"
    this = values(evidence, ["cosine_schedule", "label_smoothing", "mixup"])
    before = values(evidence, ["cosine_schedule", "label_smoothing"])
    assert y18["mean"] == pytest.approx(this.mean(), abs=1e-12) and y18["n"] == len(SEEDS)
    assert y18["gain_prev"] == pytest.approx((this - before).mean(), abs=1e-12)
    base = values(evidence, [], {"lr": 0.01, "weight_decay": 0.0})
    assert y18["gain_base"] == pytest.approx((this - base).mean(), abs=1e-12)
    # 2019: the candidate was not significant, so 2018 is carried forward; no gain over the previous year
    assert math.isnan(y19["gain_prev"]) and y19["mean"] == y18["mean"] and y19["budget"] == 1e9


def test_shapley_values_add_up_to_the_full_gain_and_match_the_truth(board):
    truth = {"cosine_schedule": 0.01, "label_smoothing": 0.025, "mixup": 0.015}  # the overlap is shared equally
    for year, method in ((2018, "exact"), (2019, "sampled")):
        e = next(e for e in board.entries if e.recipe.year == year)
        s = e.attribution.sections["shapley"]
        assert s.values["method"].startswith(method)
        parts = e.contributions.set_index("part")  # the re-tuned nuisance values, the tricks, the total
        nuisance = parts.loc["re-tuned nuisance values", "value"]
        assert s.table.shapley.sum() + nuisance == pytest.approx(row(board, e.name)["gain_base"], abs=1e-12)
        assert parts.loc["recipe over the baseline", "value"] == pytest.approx(row(board, e.name)["gain_base"], abs=1e-12)
        assert dict(zip(s.table.trick, s.table.shapley)) == pytest.approx(truth, abs=0.002)
    effects = next(e for e in board.entries if e.recipe.year == 2018).attribution.sections["effects"].table
    pair = effects.set_index("term").loc["label_smoothing:mixup"]
    assert pair.estimate < 0 and pair.ci_high < 0  # the planted overlap, found
    sampled = next(e for e in board.entries if e.recipe.year == 2019).attribution.sections["effects"]
    assert (sampled.table.kind == "main").all()  # two orders' prefixes cannot separate interactions


def test_negative_results_are_the_candidates_not_kept(board):
    neg = board.negative.set_index("year")
    assert neg.tried.to_dict() == {2016: "+gradient_clipping", 2018: "+swa", 2019: "+lookahead"}
    # no effect planted
    assert (neg.gain_low < 0).all() and (neg.gain_high > 0).all() and (neg.p_value > rules.LEADERBOARD_ALPHA).all()
    assert (neg.reference == neg.recipe).all() and (neg.n_pairs == len(SEEDS)).all()


def test_year_and_workload_select(recipes):
    board = lb.build(recipes, year=2018, workload="synthetic").boards["synthetic"]
    assert list(board.table.entry) == ["baseline", "synthetic/2016", "synthetic/2018"]
    assert board.table.evidence.iloc[0].endswith("2018.runs.jsonl")  # the baseline from the latest evidence


def test_site_tables_agree_in_every_format(recipes, cli, tmp_path):
    out = tmp_path / "site"
    code, stdout, err = cli("leaderboard", "--recipes", str(recipes), "--out", str(out))
    assert code == 0, err
    assert "synthetic: baseline and 3 recipe(s), 3 negative result(s)" in stdout
    names = {"index.html", "synthetic-2016.html", "synthetic-2018.html", "synthetic-2019.html", "rules.html",
             "leaderboard.md", "leaderboard.csv", "negative-results.csv", "leaderboard.json"}
    assert names <= {p.name for p in out.iterdir()}
    data = json.loads((out / "leaderboard.json").read_text())
    for csv_name, key in (("leaderboard.csv", "rows"), ("negative-results.csv", "negative_results")):
        table = pd.read_csv(out / csv_name, keep_default_na=False, na_values=[""])
        rows = data["workloads"]["synthetic"][key]
        assert list(table.columns) == list(rows[0]) and len(table) == len(rows)
        for csv_row, json_row in zip(table.to_dict("records"), rows):
            for column, value in json_row.items():
                got = csv_row[column]
                if value is None or value == "":
                    assert pd.isna(got), (column, got)
                elif isinstance(value, (int, float)) and not isinstance(value, bool):
                    assert float(got) == pytest.approx(value, rel=1e-12), column
                else:  # text a spreadsheet would take for a formula is kept as text: a leading '
                    assert str(got) == ("'" if str(value).startswith(("=", "+", "-", "@")) else "") + str(value), column
    markdown = (out / "leaderboard.md").read_text()
    for r in data["workloads"]["synthetic"]["rows"]:
        line = next(l for l in markdown.splitlines() if l.startswith(f"| {r['entry']} |"))
        assert f"{r['mean']:.4f} ± {(r['ci_high'] - r['ci_low']) / 2:.4f} (n={r['n']})" in line
        if r["gain_prev"] is not None:
            assert f"{r['gain_prev']:+.4f} [{r['gain_prev_low']:+.4f}, {r['gain_prev_high']:+.4f}]" in line
        if r["gain_base"] is not None:  # in the recipe's section, as on its page
            section = markdown.split(f"### {r['entry']}\n", 1)[1].split("\n### ", 1)[0]
            assert f"| Δ vs baseline (paired) | {r['gain_base']:+.4f} [{r['gain_base_low']:+.4f}, " in section
        assert r["status"] in line and r["evidence"].rsplit("/", 1)[-1] in line
    index = (out / "index.html").read_text()
    for r in data["workloads"]["synthetic"]["rows"]:
        assert f"{r['mean']:.4f} ± {(r['ci_high'] - r['ci_low']) / 2:.4f} (n={r['n']})" in index
    for page in ("index.html", "synthetic-2018.html", "rules.html"):
        text = (out / page).read_text()
        assert not re.search(r"<script|<link|<img|<iframe|@import|src=", text, flags=re.I)
        urls = set(re.findall(r"https?://[^\"'\s<>)]+", text))
        assert urls <= {"http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink"}, urls
        for href in re.findall(r'href="([^"#]+)"', text):  # the heatmap's pixels are an inline data: image
            assert href.startswith("data:image/png;base64,") or (out / href).is_file(), (page, href)  # offline
    assert (out / "evidence" / "synthetic" / "2018.runs.jsonl").read_text() == \
        (recipes / "synthetic" / "2018.runs.jsonl").read_text()


def test_rules_come_from_the_constants(recipes, tmp_path, monkeypatch):
    from trickstack.leaderboard.site import render_rules
    page = render_rules(lb.build(recipes))
    assert f"at least {rules.LEADERBOARD_MIN_SEEDS} paired evaluation seeds, disjoint from" in page
    assert f"p &lt; {rules.LEADERBOARD_ALPHA}" in page
    assert "the budget: its unit and its value" in page and "1e+09" in page and "score (maximize)" in page
    monkeypatch.setattr(rules, "LEADERBOARD_MIN_SEEDS", 7)  # the recipes have 6 seeds: an accepted recipe no longer passes
    with pytest.raises(UserError, match=r"2016.toml: provenance.accepted = true, .* over 6 paired seeds .* at least 7"):
        lb.build(recipes)


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


def _append(path: Path, record) -> None:
    path.write_text(path.read_text() + record.to_json(indent=None) + "\n")


def _edit_run(path: Path, stack: tuple[str, ...], seed: int, record: dict | None = None, **metrics) -> None:
    """Change the metrics (and ``record``'s fields) of one run of an evidence file (the run of ``stack`` on
    ``seed``), the other lines as they were."""
    lines = path.read_text().splitlines(keepends=True)
    for i, line in enumerate(lines):
        r = json.loads(line)
        if sorted(t["name"] for t in r["tricks"]) == sorted(stack) and r["seed"] == seed:
            r["metrics"].update(metrics)
            r.update(record or {})
            lines[i] = json.dumps(r, separators=(",", ":")) + "\n"
            path.write_text("".join(lines))
            return
    raise AssertionError(f"no run of {stack} on seed {seed} in {path}")


EDITED = ["2018.runs.jsonl: its SHA-256 is", "2018.toml records provenance.evidence_sha256 =",
          "edited after the recipe was derived"]
BAD = {  # case -> (change to a fresh copy of the recipes, words the one error line must contain)
    "no recipes for the workload": (lambda d: None, ["no recipes for workload 'mnist1d'", "/recipes/mnist1d"]),
    "evidence missing": (lambda d: (d / "2018.runs.jsonl").unlink(),
                         ["2018.runs.jsonl: evidence of recipe", "2018.toml is missing: it does not exist"]),
    "evidence unreadable": (lambda d: ((d / "2018.runs.jsonl").unlink(), (d / "2018.runs.jsonl").mkdir()),
                            ["2018.toml: provenance.evidence = '2018.runs.jsonl'", "is a folder, not a regular file"]),
    "evidence not records": (lambda d: _edit(d / "2016.runs.jsonl", '{"schema_version"', '{"schema_versio"'),
                             ["2016.runs.jsonl:1: not a run record"]),
    "records of another recipe": (lambda d: _edit(d / "2018.toml", "alpha = 0.4", "alpha = 0.3"),
                                  ["2018.runs.jsonl: no run of recipe synthetic/2018", "mixup(alpha=0.3)",
                                   "records that do not match the recipe"]),
    "records with other nuisance values": (lambda d: _edit(d / "2018.toml", "lr = 0.02", "lr = 0.03"),
                                           ["2018.runs.jsonl: no run of recipe synthetic/2018", "nuisance lr=0.03",
                                            "its tricks were run with nuisance lr=0.02, weight_decay=0 only"]),
    "a claimed gain the records do not give": (lambda d: _edit(d / "2018.toml", "gain = 0.", "gain = 1"),
                                               ["2018.toml: provenance.gain = 1", "records that do not match"]),
    "mixed budgets": (lambda d: _append(d / "2019.runs.jsonl", simulate((), 0, budget=Budget("flops", 2e9))),
                      ["mixed budgets within workload 'synthetic'", "1e+09 flops in", "2e+09 flops in", "2019.runs.jsonl"]),
    "a run of another workload": (lambda d: _edit(d / "2016.runs.jsonl", '"workload":"synthetic"', '"workload":"digits"'),
                                  ["2016.runs.jsonl:1: a run of workload 'digits'", "synthetic/2016"]),
    # issue 14: evidence edited after the recipe was derived, records that are not evidence, claims they do not give
    "an attribution run edited": (lambda d: _edit_run(d / "2018.runs.jsonl", ("mixup",), 2, eval_value=0.9), EDITED),
    "a negative-result run edited": (
        lambda d: _edit_run(d / "2018.runs.jsonl", ("cosine_schedule", "label_smoothing", "mixup", "swa"), 0,
                            eval_value=0.9), EDITED),
    "a search run edited": (lambda d: _edit_run(d / "2018.runs.jsonl", ("ema", "mixup"), SEARCH_SEED, eval_value=0.9),
                            EDITED),
    "evidence not sealed": (lambda d: _edit(d / "2018.toml", "evidence_sha256", "# evidence_sha256"),
                            ["2018.toml: provenance.evidence_sha256 is missing", "seals its evidence"]),
    "a NaN metric": (lambda d: _edit_run(d / "2018.runs.jsonl", ("mixup",), 2, eval_value=math.nan),
                     ["2018.runs.jsonl:", "metric score = nan in a run that did not diverge"]),
    "a duplicated line": (lambda d: (d / "2018.runs.jsonl").write_text(
        (d / "2018.runs.jsonl").read_text() + (d / "2018.runs.jsonl").read_text().splitlines(keepends=True)[7]),
                          ["2018.runs.jsonl:", "the same run as line 8", "each run is evidence once"]),
    "a claimed p-value the records do not give": (lambda d: _edit(d / "2018.toml", "p_value = ", "p_value = 0.5 # "),
                                                  ["2018.toml: provenance.p_value = 0.5", "records that do not match"]),
    "a claimed interval the records do not give": (lambda d: _edit(d / "2018.toml", "ci = [", "ci = [-1.0, 1.0] # ["),
                                                   ["2018.toml: provenance.ci = [-1.0, 1.0]", "records that do not match"]),
    "a carried-forward claim no candidate gives": (
        lambda d: _edit(d / "2019.toml", "gain = ", "gain = 0.5 # "),
        ["2019.toml: provenance.gain = 0.5", "the best candidate's test against synthetic/2019",
         "no candidate in its evidence", "+lookahead"]),
    "a run stamped with another recipe": (
        lambda d: _edit_run(d / "2018.runs.jsonl", ("mixup",), 2, record={"recipe": {
            "name": "synthetic/2018", "workload": "synthetic", "year": 2018, "tricks": [],
            "nuisance": {"lr": 0.02, "weight_decay": 0.0}}}),
        ["2018.runs.jsonl:", "a run stamped with recipe synthetic/2018 but run with mixup(alpha=0.4)"]),
    "a trick from after the recipe's year": (
        lambda d: _edit(d / "2016.runs.jsonl", '"tricks":[{"name":"cosine_schedule"', '"tricks":[{"name":"muon","params":{}},'
                        '{"name":"cosine_schedule"'),
        ["2016.runs.jsonl:", "a run with muon (20", "in the evidence of synthetic/2016", "tricks published by then"]),
    "a run of another metric": (lambda d: _edit_run(d / "2016.runs.jsonl", ("mixup",) * 0, 0, eval_metric="accuracy"),
                                ["2016.runs.jsonl:1: a run measuring accuracy (maximize)", "ranked by score (maximize)"]),
    "a summary whose numbers the records do not give": (
        lambda d: _edit(d / "2018.toml", 'summary = "the best stack known by 2018"', 'summary = "derived by trickstack: '
                        'the best of 3 stacks searched, +0.5 score over synthetic/2016 (p = 0.0005, 6 paired seeds)"'),
        ["2018.toml: recipe.summary says gain +0.5, but its evidence gives +0.00"]),
    "a run created after the recipe": (lambda d: _edit(d / "2016.toml", 'date = "', 'date = "2001-01-01" # "'),
                                       ["2016.runs.jsonl:", "after", "2016.toml's provenance.date 2001-01-01"]),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_exits_2_naming_the_file(case, cli, tmp_path):
    root = make_recipes(tmp_path / "recipes")
    change, words = BAD[case]
    change(root / "synthetic")
    args = ["leaderboard", "--recipes", str(root), "--out", str(tmp_path / "site")]
    code, _, err = cli(*args, *(["--workload", "mnist1d"] if case == "no recipes for the workload" else []))
    flat = "".join(err.split())  # rich wraps long paths anywhere: compare without whitespace
    assert code == 2 and flat.count("error:") == 1 and "Traceback" not in err, err
    assert all("".join(w.split()) in flat for w in words), (case, err)
    assert not (tmp_path / "site").exists()  # nothing written from bad input


def test_more_bad_input(cli, tmp_path):
    root = make_recipes(tmp_path / "recipes", years=(2016,))
    for args, words in [
        (["--year", "2015"], [f"{root}: no recipes", "from 2015 or before"]),
        (["--workload", "synthetc"], ["unknown workload 'synthetc'", "did you mean: synthetic"]),
        (["--recipes", str(tmp_path / "nowhere")], ["nowhere: no such recipes folder"]),
    ]:
        code, _, err = cli("leaderboard", "--recipes", str(root), "--out", str(tmp_path / "site"), *args)
        flat = "".join(err.split())
        assert code == 2 and all("".join(w.split()) in flat for w in words), (args, err)
