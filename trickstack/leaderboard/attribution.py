"""Who made a recipe's gain over the baseline: its re-tuned nuisance values and each of its tricks.

The result row's gain over the baseline compares the recipe with the workload's baseline, run with the
workload's default nuisance values. The tricks' Shapley values are measured on the attribution runs,
which run every subset of the recipe's tricks with the recipe's nuisance values; their empty subset is
the baseline with the recipe's nuisance values. So the gain splits, exactly, into

    gain over the baseline = (baseline at the recipe's nuisance - baseline at the defaults)  [the "nuisance" part]
                           + sum of the tricks' Shapley values                                [the "trick" parts]

and `contributions` lists both, with 95% intervals: the waterfall draws the nuisance part as its own bar.
When the recipe keeps the default nuisance values the first part is absent (it is zero by construction).

One estimator for every Shapley value the site shows: exact over a full factorial of the recipe's tricks,
else sampled over every order of adding the tricks whose prefixes were all run (`orders`). The values the
recipe's TOML quotes in its reasons were computed by ``trickstack recipe derive`` from the orders it
sampled; the site does not show them (`reason_without_numbers`).
"""

from __future__ import annotations

import math
import re
from typing import Any, Optional

import pandas as pd

from trickstack.core.stacks import BASELINE, arm_name
from trickstack.leaderboard.evidence import _frozen, _params, runs_of, stack_of
from trickstack.reports.model import Report, StudyInfo
from trickstack.reports.sections import report_from_table
from trickstack.stats.compare import compare
from trickstack.stats.table import runs_table

NUISANCE = "re-tuned nuisance values"  # the name of the nuisance part in `contributions`
CONTRIBUTION_COLUMNS = ["part", "kind", "value", "ci_low", "ci_high", "detail"]
# What `trickstack recipe derive` appends to a reason: "; Shapley +0.127 val_loss in the recipe (95% CI -1.07 to +1.33)"
DERIVE_SHAPLEY = re.compile(r";\s*Shapley [^;]*? in the recipe \(95% CI [^)]*\)")


def reason_without_numbers(reason: str) -> str:
    """A recipe's reason without the Shapley value derive computed from its sampled orders.

    >>> reason_without_numbers("added by the search; Shapley +0.127 val_loss in the recipe (95% CI -1.07 to +1.33)")
    'added by the search'
    """
    return DERIVE_SHAPLEY.sub("", reason).strip()


def attribution(e, direction: str) -> tuple[Optional[Report], Optional[str]]:
    """Shapley values and interactions of the recipe's tricks, from the runs of subsets of its stack
    (``e`` an `Entry`)."""
    tricks = tuple(sorted(e.recipe.stack))
    if not tricks:
        return None, "the recipe has no tricks: there is nothing to attribute"
    keys = {}
    for r in e.records:
        stack = stack_of(r)
        if all(e.recipe.stack.get(n) == p for n, p in stack.items()):
            keys.setdefault(_frozen(stack), stack)
    arms = {}
    for stack in keys.values():
        runs = runs_of(e.records, stack, e.recipe.nuisance, where=str(e.evidence))
        if runs:
            arms[arm_name(stack)] = runs
    if BASELINE not in arms:
        return None, "the evidence has no baseline run"
    table = runs_table(arms, tricks)
    what = {"spec": {"workload": e.recipe.workload, "budget": {e.runs[0].budget.unit: e.runs[0].budget.value}},
            "arms": list(arms)}  # the evidence as a study: its workload, budget and the arms it ran
    if len(arms) == 2 ** len(tricks):
        return report_from_table(table, StudyInfo(e.name, "factorial", list(tricks), direction, **what)), None
    found = orders(set(arms), tricks)
    if not found:
        return None, (f"the evidence has {len(arms)} of the {2 ** len(tricks)} subsets of the recipe's tricks and no "
                      "chain of them from the baseline to the recipe: Shapley values need a full factorial or orders")
    sampled = report_from_table(table, StudyInfo(e.name, "shapley", list(tricks), direction, orders=found, **what))
    fraction = report_from_table(table, StudyInfo(e.name, "fractional", list(tricks), direction, **what))
    sections = {k: sampled.sections[k] for k in ("arms", "shapley", "additivity")}
    sections["effects"] = fraction.sections["effects"]
    return Report(sampled.info, sampled.meta, sections), None


def orders(arms: set[str], tricks: tuple[str, ...], cap: int = 5040) -> list[list[str]]:
    """Every order of adding the tricks whose prefixes were all run (up to ``cap``): the orders a
    sampled-Shapley derivation used, and any others the runs happen to support."""
    found: list[list[str]] = []

    def walk(prefix: list[str]) -> None:
        if len(found) >= cap:
            return
        if len(prefix) == len(tricks):
            found.append(list(prefix))
            return
        for t in tricks:
            if t not in prefix and arm_name([*prefix, t]) in arms:
                walk([*prefix, t])

    walk([])
    return found


def contributions(e, wl, baseline_runs: list) -> Optional[pd.DataFrame]:
    """The recipe's gain over the baseline in parts (`CONTRIBUTION_COLUMNS`): the nuisance part (when the
    attribution's empty subset ran other nuisance values than the baseline row), each trick's Shapley
    value, and the total, which equals the result row's gain over the baseline."""
    if e.attribution is None or not e.attribution.sections["shapley"].available:
        return None
    s = e.attribution.sections["shapley"]
    rows: list[dict[str, Any]] = []
    start = runs_of(e.records, {}, e.recipe.nuisance, where=str(e.evidence))
    if start and _frozen(start[0].nuisance) != _frozen(baseline_runs[0].nuisance):
        c = compare(start, baseline_runs, wl.direction)
        changed = {k: v for k, v in start[0].nuisance.items() if baseline_runs[0].nuisance.get(k) != v}
        was = {k: baseline_runs[0].nuisance.get(k) for k in changed}
        rows.append({"part": NUISANCE, "kind": "nuisance", "value": c["gain"], "ci_low": c["low"], "ci_high": c["high"],
                     "detail": f"{_params(was)} -> {_params(changed)}, no trick, {c['n_pairs']} paired seeds"})
    k, used = len(e.attribution.info.tricks), e.attribution.info.orders
    how = (f"exact, over all {2 ** k} subsets of the recipe's tricks" if used is None else
           f"averaged over the {len(used)} orders of adding the tricks whose every step the attribution runs hold")
    for r in s.table.sort_values("shapley", ascending=False).itertuples():
        rows.append({"part": r.trick, "kind": "trick", "value": r.shapley, "ci_low": r.ci_low, "ci_high": r.ci_high,
                     "detail": how})
    total = sum(r["value"] for r in rows)
    rows.append({"part": "recipe over the baseline", "kind": "total", "value": total, "ci_low": math.nan,
                 "ci_high": math.nan, "detail": "sum of the parts above"})
    return pd.DataFrame(rows, columns=CONTRIBUTION_COLUMNS)


def interactions(e) -> list[dict[str, Any]]:
    """The two-way interactions of the recipe's tricks (term ``a:b``), from the attribution's effects."""
    if e.attribution is None or not e.attribution.sections["effects"].available:
        return []
    t = e.attribution.sections["effects"].table
    return [{"a": row.term.split(":")[0], "b": row.term.split(":")[1], "estimate": row.estimate,
             "ci_low": row.ci_low, "ci_high": row.ci_high} for row in t[t.kind == "interaction"].itertuples()]


