"""Every piece of evidence about one trick, across all recipes and workloads of a leaderboard.

For each trick that any evidence file names (in a run of any kind): the recipes that added, re-tuned, kept
or removed it, with its Shapley value in each (the estimator of `trickstack.leaderboard.attribution`, the
one the recipe pages use); the candidates with it that were tried and not kept (negative results); its
interactions with the tricks it was stacked with; the search runs that tried it; and a verdict, generated
from those numbers by the rules in `verdict`.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from trickstack.leaderboard.attribution import interactions
from trickstack.leaderboard.evidence import stack_of
from trickstack.leaderboard.negative import beats


@dataclass
class TrickEvidence:
    name: str
    history: list[dict[str, Any]] = field(default_factory=list)  # one row per recipe that has or drops the trick
    negative: list[dict[str, Any]] = field(default_factory=list)  # negative results that add or re-tune it
    interactions: list[dict[str, Any]] = field(default_factory=list)  # with each partner, per recipe
    searched: Counter = field(default_factory=Counter)  # (workload, year) -> search runs with the trick
    verdict: list[str] = field(default_factory=list)  # one sentence per workload

    @property
    def page(self) -> str:
        return trick_page(self.name)


def trick_page(name: str) -> str:
    return f"trick-{name}.html"


def role(name: str, stack: dict, previous: dict) -> str:
    """What a recipe did with the trick ``name``, given its stack and the previous recipe's.

    >>> role("ema", {"ema": {}}, {}), role("ema", {}, {"ema": {}}), role("ema", {"ema": {"a": 1}}, {"ema": {"a": 2}})
    ('added', 'removed', 're-tuned')
    """
    if name in stack:
        return "added" if name not in previous else "kept" if previous[name] == stack[name] else "re-tuned"
    return "removed" if name in previous else ""


def collect(lb) -> dict[str, TrickEvidence]:
    """The evidence of every trick named by any run of the leaderboard ``lb``, by trick name."""
    tricks: dict[str, TrickEvidence] = {}

    def of(name: str) -> TrickEvidence:
        return tricks.setdefault(name, TrickEvidence(name))

    for board in lb.boards.values():
        for e in board.entries:
            for record in [*e.records, *e.search]:
                for name in stack_of(record):
                    of(name)
            for record in e.search:
                for name in stack_of(record):
                    of(name).searched[(board.name, e.recipe.year)] += 1
            previous = e.previous.recipe.stack if e.previous else {}
            shapley = {}
            if e.contributions is not None:
                shapley = {r.part: r for r in e.contributions.itertuples() if r.kind == "trick"}
            for name in sorted(set(e.recipe.stack) | set(previous)):
                s = shapley.get(name)
                of(name).history.append({
                    "workload": board.name, "year": e.recipe.year, "recipe": e.name, "page": e.page,
                    "status": e.row["status"], "role": role(name, e.recipe.stack, previous),
                    "shapley": s.value if s is not None else math.nan, "ci_low": s.ci_low if s is not None else math.nan,
                    "ci_high": s.ci_high if s is not None else math.nan})
            for n in e.negative:
                for name in n["tricks"]:
                    of(name).negative.append(n)
            for pair in interactions(e):
                for name, partner in ((pair["a"], pair["b"]), (pair["b"], pair["a"])):
                    of(name).interactions.append({"workload": board.name, "year": e.recipe.year, "recipe": e.name,
                                                  "page": e.page, "partner": partner, **{k: pair[k] for k in
                                                  ("estimate", "ci_low", "ci_high")}})
    for t in tricks.values():
        t.verdict = verdict(t, [b.name for b in lb.boards.values()])
    return dict(sorted(tricks.items()))


def _years(years) -> str:
    years = sorted(set(years))
    return ", ".join(map(str, years))


def verdict(t: TrickEvidence, workloads: list[str]) -> list[str]:
    """One sentence per workload where the trick appears, from its numbers: "helps" where its Shapley
    interval lies above 0 in the latest recipes (since a year: in every recipe from that year on, the trick
    still in the recipe), "helped" where that was so in earlier recipes only, "hurts" below 0, "no clear
    effect" where every interval includes 0, "beat the recipe" where a negative result with it (tried and not
    kept) beat its reference by the leaderboard's rule, "never helped" where it was only tried and not kept and
    none did, "only searched" where no evaluation run has it. Every row that names the trick is read: its
    recipes' attributions and its negative results."""
    out = []
    for w in workloads:
        mine = [h for h in t.history if h["workload"] == w]
        rows = [h for h in mine if h["role"] in ("added", "kept", "re-tuned")]
        measured = [h for h in rows if not math.isnan(h["shapley"])]
        helps = [h["year"] for h in measured if h["ci_low"] > 0]
        hurts = [h["year"] for h in measured if h["ci_high"] < 0]
        negatives = [n for n in t.negative if n["recipe"].rsplit("/", 1)[0] == w]  # the board: the name less the year
        tried = sorted({n["year"] for n in negatives})
        better = [n for n in negatives if beats(n)]  # tried, not kept, yet better than its reference by the rule
        beat = "; ".join(f"+{n['gain']:.3g} over {n['reference']} (p = {n['p_value']:.2g})" for n in better)
        removed = [h["year"] for h in mine if h["role"] == "removed"]
        searched = sum(v for (wl, _), v in t.searched.items() if wl == w)
        tail = []  # the latest recipes with the trick, as long as its interval is above 0 in each
        for h in reversed(measured if mine and mine[-1]["role"] != "removed" else []):
            if not h["ci_low"] > 0:
                break
            tail.insert(0, h["year"])
        recipes = lambda hs: f"recipe{'s' * (len(hs) != 1)} of {_years(h['year'] for h in hs)}"  # noqa: E731
        if tail:
            text = f"helps on {w} since {tail[0]} (Shapley interval above 0 in {_years(helps)})"
        elif helps:
            last = measured[-1]
            text = f"helped on {w} in {_years(helps)} (Shapley interval above 0)"
            text += "" if last["year"] in helps else f"; in {last['year']} its interval " + (
                "lies below 0" if last["ci_high"] < 0 else "includes 0")
        elif hurts:
            text = f"hurts on {w}: Shapley interval below 0 in {_years(hurts)}"
        elif measured:
            text = f"no clear effect on {w}: in its {recipes(measured)}, every Shapley interval includes 0"
        elif rows:
            text = f"in {w}'s {recipes(rows)}, without an attribution"
        elif better:
            text = (f"beat the recipe on {w} where tried and not kept, in {_years(n['year'] for n in better)} "
                    f"(negative results: {beat}): a gain not yet confirmed")
        elif tried:
            text = f"never helped on {w}: tried in {_years(tried)} and not kept"
        elif searched:
            text = f"only searched on {w} ({searched} search run{'s' * (searched != 1)}): never in an evaluated stack"
        else:
            continue
        if removed:
            text += f"; removed from the recipe in {_years(removed)}"
        if tried and rows:
            text += f"; also tried with other parameters or tricks and not kept in {_years(tried)}"
            text += f", where it beat the recipe ({beat}): a gain not yet confirmed" if better else ""
        out.append(text)
    return out
