"""The built leaderboard site, parsed: one baseline per recipe page (its parts add up to the result's gain over
the baseline), one Shapley estimator everywhere, no absolute path, a page per trick with a verdict from its
numbers, and recipe text that cannot inject into the CSV or the Markdown. Numbers are checked against the
evidence files, read here without the leaderboard (issue 16, issue 14)."""

from __future__ import annotations

import csv
import hashlib
import html
import itertools
import json
import math
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from leaderboard_fixtures import NUISANCE, SEEDS, make_recipes

from trickstack.core.errors import UserError
from trickstack.leaderboard.board import build
from trickstack.leaderboard.claims import check_texts
from trickstack.leaderboard.site import write_site
from trickstack.leaderboard.tricks import TrickEvidence, verdict
from trickstack.recipes.recipe import seal_recipe

NUMBER = r"[+-]\d+\.\d{4}"


class Tables(HTMLParser):
    """Every <table> of a page by class: its rows as {heading: cell text}, and the links of each cell."""

    def __init__(self, text: str):
        super().__init__()
        self.tables: dict[str, list[dict[str, str]]] = {}
        self.links: dict[str, list[dict[str, list[str]]]] = {}
        self.hrefs: list[str] = []
        self._cls, self._label, self._row = None, None, None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "a":
            self.hrefs.append(a.get("href", ""))
        if tag == "table":
            self._cls = a.get("class", "").split()[0]
            self.tables.setdefault(self._cls, [])
            self.links.setdefault(self._cls, [])
        elif tag == "tr" and self._cls:
            self._row, self._links = {}, {}
        elif tag == "td" and self._row is not None:
            self._label = a["data-label"]
            self._row[self._label], self._links[self._label] = "", []
        elif tag == "a" and self._label:
            self._links[self._label].append(a["href"])

    def handle_endtag(self, tag):
        if tag == "td":
            self._label = None
        elif tag == "tr" and self._row:
            self.tables[self._cls].append(self._row)
            self.links[self._cls].append(self._links)
            self._row = None
        elif tag == "table":
            self._cls = None

    def handle_data(self, data):
        if self._label:
            self._row[self._label] += data


def parse(path: Path) -> Tables:
    return Tables(path.read_text())


def first(text: str) -> float:
    return float(re.search(NUMBER, text).group())


def evidence(path: Path) -> dict[tuple[tuple[str, ...], tuple], dict[int, float]]:
    """(tricks, nuisance) -> {seed: metric} of the evaluation runs of an evidence file, read without trickstack."""
    out: dict = {}
    for line in path.read_text().splitlines():
        r = json.loads(line)
        if r["seed"] in SEEDS:
            key = (tuple(sorted(t["name"] for t in r["tricks"])), tuple(sorted(r["nuisance"].items())))
            out.setdefault(key, {})[r["seed"]] = r["metrics"]["eval_value"]
    return out


def mean(runs: dict[int, float]) -> float:
    return float(np.mean([runs[s] for s in SEEDS]))


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("site16")
    recipes = make_recipes(root / "recipes")
    write_site(build(recipes), root / "site")
    return recipes, root / "site"


def test_the_waterfall_adds_up_to_the_result_rows_gain_over_the_baseline(built):
    recipes, site = built
    for year in (2016, 2018, 2019):
        page = parse(site / f"synthetic-{year}.html")
        result = {r["field"]: r["value"] for r in page.tables["result"]}
        parts = {r["part"]: r["gain over the baseline (95% CI)"] for r in page.tables["shapley"]}
        runs = evidence(recipes / "synthetic" / f"{year}.runs.jsonl")
        tricks = {2016: ("cosine_schedule", "label_smoothing")}.get(year, ("cosine_schedule", "label_smoothing", "mixup"))
        recipe_nuisance = tuple(sorted({"lr": NUISANCE["lr"], "weight_decay": 0.0}.items()))
        default = mean(runs[((), (("lr", 0.01), ("weight_decay", 0.0)))])
        tuned = mean(runs[((), recipe_nuisance)])
        full = mean(runs[(tricks, recipe_nuisance)])
        # the result row and the waterfall's total: one baseline, the workload's defaults, from the evidence
        assert first(result["Δ vs baseline (paired)"]) == pytest.approx(full - default, abs=5e-5)
        assert first(parts["recipe over the baseline"]) == first(result["Δ vs baseline (paired)"])
        # the re-tuned nuisance values are a labelled part: the baseline at the recipe's values minus at the defaults
        assert first(parts["re-tuned nuisance values"]) == pytest.approx(tuned - default, abs=5e-5)
        shown = [first(v) for k, v in parts.items() if k != "recipe over the baseline"]
        assert sum(shown) == pytest.approx(full - default, abs=5e-5 * len(shown))


def _exact_shapley(runs, tricks, nuisance) -> dict[str, float]:
    k, out = len(tricks), {}
    value = {s: mean(runs[(tuple(sorted(s)), nuisance)]) for r in range(k + 1) for s in itertools.combinations(tricks, r)}
    for t in tricks:
        others = [x for x in tricks if x != t]
        out[t] = sum(math.factorial(len(s)) * math.factorial(k - len(s) - 1) / math.factorial(k)
                     * (value[tuple(sorted((*s, t)))] - value[tuple(sorted(s))])
                     for r in range(k) for s in itertools.combinations(others, r))
    return out


def test_every_shapley_number_of_a_trick_comes_from_one_estimator(built):
    recipes, site = built
    nuisance = tuple(sorted({"lr": NUISANCE["lr"], "weight_decay": 0.0}.items()))
    tricks = ("cosine_schedule", "label_smoothing", "mixup")
    truth = _exact_shapley(evidence(recipes / "synthetic" / "2018.runs.jsonl"), tricks, nuisance)
    page = parse(site / "synthetic-2018.html")
    table = {r["trick"]: r["Shapley (95% CI)"] for r in page.tables["tricks"]}
    parts = {r["part"]: r["gain over the baseline (95% CI)"] for r in page.tables["shapley"]}
    data = json.loads((site / "leaderboard.json").read_text())
    contributions = {c["part"]: c["value"] for c in
                     data["workloads"]["synthetic"]["recipes"]["synthetic/2018"]["attribution"]["contributions"]}
    for t in tricks:
        history = {r["recipe"]: r["its Shapley value (95% CI)"] for r in parse(site / f"trick-{t}.html").tables["history"]}
        assert table[t] == parts[t] == history["synthetic/2018"], t  # the same value, interval and all, everywhere
        assert first(table[t]) == pytest.approx(truth[t], abs=5e-5) and contributions[t] == pytest.approx(truth[t])
    # the reasons' derive-time Shapley values (from derive's own sampled orders) are shown nowhere
    for path in site.iterdir():
        if path.is_file():
            assert "9.876" not in path.read_text(), path.name
    assert all(r["reason given in the recipe file"] in ("added in 2018", "-") for r in page.tables["tricks"])


def test_no_absolute_path_in_any_generated_file(built, tmp_path, monkeypatch):
    recipes, site = built
    for path in site.rglob("*"):
        if path.is_file() and path.suffix != ".jsonl":
            text = path.read_text()
            assert str(recipes) not in text and str(site) not in text and str(recipes.parent) not in text, path.name
    assert "computed from the recipes in <code>recipes/</code>" in (site / "index.html").read_text()
    assert json.loads((site / "leaderboard.json").read_text())["source"] == "recipes/"
    monkeypatch.chdir(recipes.parent)  # run from the folder holding the recipes: named relative to it
    assert build(Path("recipes")).source_label == "recipes/"


def test_a_page_per_trick_of_any_evidence_reachable_from_the_index(built):
    recipes, site = built
    named = {t["name"] for path in (recipes / "synthetic").glob("*.runs.jsonl")
             for line in path.read_text().splitlines() for t in json.loads(line)["tricks"]}
    assert {p.name for p in site.glob("trick-*.html")} == {f"trick-{t}.html" for t in named}
    index = parse(site / "index.html")
    assert {f"trick-{t}.html" for t in named} <= set(index.hrefs)
    # every table cell of a recipe page that names a trick links to its page
    page = parse(site / "synthetic-2018.html")
    for cls, column in (("tricks", "trick"), ("shapley", "part"), ("effects", "term"), ("negative", "tried")):
        for row, links in zip(page.tables[cls], page.links[cls]):
            names = set(re.findall(r"[a-z_]+", row[column])) & named
            assert {f"trick-{n}.html" for n in names} <= set(links[column]), (cls, row[column])
    changes = {r["recipe"]: links["changes"] for r, links in zip(index.tables["leaderboard"], index.links["leaderboard"])}
    assert changes["synthetic/2018"] == ["trick-mixup.html"]


def test_verdicts_follow_the_numbers(built):
    _, site = built
    verdicts = {r["trick"]: r["verdict"] for r in parse(site / "index.html").tables["tricks-index"]}
    def lows(trick: str) -> list[float]:  # the lower ends of the trick's Shapley intervals, recipe by recipe
        rows = parse(site / f"trick-{trick}.html").tables["history"]
        assert [r["the trick"] for r in rows] == ["added", "kept", "kept"][-len(rows):]
        return [first(r["its Shapley value (95% CI)"].split("[")[1]) for r in rows]

    assert all(low > 0 for low in lows("cosine_schedule"))  # planted +0.01; every interval above 0
    assert verdicts["cosine_schedule"].startswith("helps on synthetic since 2016")
    low = lows("label_smoothing")  # planted +0.03, but 2019's attribution samples 2 orders only: wide
    assert low[0] > 0 and low[1] > 0 and low[2] < 0
    assert verdicts["label_smoothing"].startswith("helped on synthetic in 2016, 2018 (Shapley interval above 0); "
                                                  "in 2019 its interval includes 0")
    lookahead = parse(site / "trick-lookahead.html").tables["negative"]
    assert [r["recipe"] for r in lookahead] == ["synthetic/2019"] and "p=" in lookahead[0]["Δ vs reference (paired)"]
    assert verdicts["lookahead"].startswith("never helped on synthetic: tried in 2019 and not kept")  # planted: 0
    assert verdicts["ema"].startswith("only searched on synthetic (4 search runs)")
    interactions = parse(site / "trick-mixup.html").tables["interactions"]
    pair = next(r for r in interactions if r["recipe"] == "synthetic/2018" and r["partner"] == "label_smoothing")
    assert first(pair["interaction (95% CI)"]) < 0 and pair["interaction (95% CI)"].endswith("*")  # planted: -0.01


def test_train_time_per_run_from_the_records(tmp_path):
    recipes = make_recipes(tmp_path / "recipes", years=(2016,))
    path = recipes / "synthetic" / "2016.runs.jsonl"
    lines = []
    for line in path.read_text().splitlines():
        r = json.loads(line)
        r["train_seconds"] = (3.0 + r["seed"]) * (1 + len(r["tricks"]))  # a trick costs a baseline's time
        lines.append(json.dumps(r, separators=(",", ":")))
    path.write_text("\n".join(lines) + "\n")
    toml = recipes / "synthetic" / "2016.toml"
    toml.write_text(re.sub(r"evidence_sha256 = .*\n", "", toml.read_text()))
    seal_recipe(toml)  # the evidence changed on purpose: sealed again
    write_site(build(recipes), tmp_path / "site")
    rows = {r["recipe"]: r["train time per run"] for r in parse(tmp_path / "site" / "index.html").tables["leaderboard"]}
    median = float(np.median([3.0 + s for s in SEEDS]))  # baseline; the recipe has 2 tricks: 3 times as long
    assert rows == {"baseline": f"{median:.1f} s", "synthetic/2016": f"{3 * median:.1f} s (3.00× baseline)"}


def test_recipe_text_cannot_inject_into_csv_or_markdown(tmp_path, cli):
    recipes = make_recipes(tmp_path / "recipes", years=(2016,))
    toml = recipes / "synthetic" / "2016.toml"
    text = toml.read_text().replace('commit = "abc1234"', 'commit = "=HYPERLINK(\\"http://x\\")"')
    text = text.replace('summary = "the best', 'summary = "<script>alert(1)</script> the best')
    toml.write_text(text.replace('reason = "added in 2016', 'reason = "<img src=x onerror=alert(1)> added in 2016'))
    code, _, err = cli("leaderboard", "--recipes", str(recipes), "--out", str(tmp_path / "site"))
    assert code == 0, err
    with open(tmp_path / "site" / "leaderboard.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert rows[1]["commit"] == "'=HYPERLINK(\"http://x\")"  # text, not a live formula
    markdown = (tmp_path / "site" / "leaderboard.md").read_text()
    assert "<script" not in markdown and "<img" not in markdown
    assert "&lt;script&gt;alert(1)&lt;/script&gt; the best" in markdown and "&lt;img src=x" in markdown
    for page in ("index.html", "synthetic-2016.html"):
        assert "<script" not in (tmp_path / "site" / page).read_text()


def test_seal_writes_the_digest_alone_and_refuses_evidence_changed_since(tmp_path, cli):
    recipes = make_recipes(tmp_path / "recipes", years=(2016,))
    toml, path = recipes / "synthetic" / "2016.toml", recipes / "synthetic" / "2016.runs.jsonl"
    sealed = toml.read_text()
    toml.write_text(re.sub(r"evidence_sha256 = .*\n", "", sealed))
    code, out, err = cli("recipe", "seal", str(toml))
    assert code == 0, err
    assert toml.read_text() == sealed  # the same digest, on the same line, nothing else changed
    assert hashlib.sha256(path.read_bytes()).hexdigest() in "".join(out.split())
    path.write_text(path.read_text().replace('"seed":0', '"seed":0 ', 1))  # one byte more
    code, _, err = cli("recipe", "seal", str(toml))
    flat = "".join(err.split())
    assert code == 2 and "2016.toml:provenance.evidence_sha256=" in flat and "itwaseditedaftertherecipewassealed" in flat
    assert toml.read_text() == sealed


def test_a_removed_tricks_reason_must_give_the_numbers_of_adding_it_back(built):
    recipes, _ = built
    entry = next(e for e in build(recipes).boards["synthetic"].entries if e.recipe.year == 2018)
    swa = next(n for n in entry.negative if n["tricks"] == ["swa"])  # the recipe with swa added back, not kept
    right = (f"no longer helps: adding it back gives {swa['gain']:+.3g} score (95% CI {swa['gain_low']:+.3g} to "
             f"{swa['gain_high']:+.3g}, {swa['n_pairs']} paired seeds)")
    entry.recipe.reasons["swa"] = right
    check_texts(entry)  # derive's own words for these records: accepted
    entry.recipe.reasons["swa"] = right.replace(f"gives {swa['gain']:+.3g}", "gives +0.5")
    with pytest.raises(UserError, match=r"2018.toml: removed.swa.reason says gain \+0.5, but its evidence gives"):
        check_texts(entry)


def test_a_verdict_says_helped_not_helps_once_the_trick_left_the_recipe():
    def row(year, role, low=math.nan, value=math.nan, high=math.nan):
        return {"workload": "w", "year": year, "role": role, "shapley": value, "ci_low": low, "ci_high": high}

    t = TrickEvidence("ema", history=[row(2016, "added", 0.01, 0.02, 0.03), row(2019, "kept", 0.005, 0.01, 0.02),
                                      row(2023, "removed")])
    assert verdict(t, ["w"]) == ["helped on w in 2016, 2019 (Shapley interval above 0); removed from the recipe in 2023"]
    t.history = t.history[:2]
    assert verdict(t, ["w"]) == ["helps on w since 2016 (Shapley interval above 0 in 2016, 2019)"]
    t.history[1] = row(2019, "kept", -0.03, -0.02, -0.01)
    assert verdict(t, ["w"]) == ["helped on w in 2016 (Shapley interval above 0); in 2019 its interval lies below 0"]
    t.history = [row(2019, "kept", -0.03, -0.02, -0.01)]
    assert verdict(t, ["w"]) == ["hurts on w: Shapley interval below 0 in 2019"]


def test_markdown_and_json_hold_the_same_facts_as_the_pages(built):
    _, site = built
    markdown = (site / "leaderboard.md").read_text()
    data = json.loads((site / "leaderboard.json").read_text())
    for year in (2016, 2018, 2019):
        page = parse(site / f"synthetic-{year}.html")
        section = markdown.split(f"### synthetic/{year}\n", 1)[1].split("\n### ", 1)[0]
        for table, key in (("result", "field"), ("tricks", "trick"), ("shapley", "part")):
            for row in page.tables[table]:
                assert "| " + " | ".join(map(html.escape, row.values())) + " |" in section, (year, table, row[key])
    index = parse(site / "index.html")
    for row in index.tables["tricks-index"]:
        assert f"| {row['trick']} | {row['verdict']} |" in markdown
        assert "; ".join(data["tricks"][row["trick"]]["verdict"]) == row["verdict"]


def test_a_hand_written_recipe_has_nothing_to_seal_and_says_so(tmp_path):
    recipes = make_recipes(tmp_path / "recipes", years=(2016,))
    toml = recipes / "synthetic" / "2016.toml"
    toml.write_text(toml.read_text().split("[provenance]")[0])  # no provenance: hand-written
    assert seal_recipe(toml) is None and "evidence_sha256" not in toml.read_text()
    write_site(build(recipes), tmp_path / "site")
    result = {r["field"]: r["value"] for r in parse(tmp_path / "site" / "synthetic-2016.html").tables["result"]}
    assert result["evidence sha256"] == "not sealed (hand-written)"
