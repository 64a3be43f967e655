"""What a recipe file claims, checked against what its evidence gives: the provenance's numbers (``gain``,
``ci``, ``p_value``; ``gain_corrected``, ``ci_corrected`` where the file has them) and the numbers derive wrote
into its text (the summary, the reasons of removed tricks).
A claim the evidence does not give is a `UserError` naming the file and the key. (The Shapley values derive
wrote into the reasons of added tricks come from the orders it sampled, which the file does not record: the
site shows them nowhere, see `trickstack.leaderboard.attribution.reason_without_numbers`.)
"""

from __future__ import annotations

import math
import re
from typing import Any, Mapping

from trickstack.core.errors import UserError
from trickstack.stats import rules
from trickstack.stats.compare import compare

# The numbers derive writes into a summary and into a removed trick's reason (trickstack.derive.derive._recipe)
ACCEPTED = re.compile(r", (?P<gain>[+-][\d.e+-]+) \S+ over (?P<previous>.+?) \(p = (?P<p>[\d.e+-]+), (?P<n>\d+) paired seeds\)$")
CARRIED = re.compile(r"did not beat (?P<previous>.+?) \(p = (?P<p>[\d.e+-]+), (?P<n>\d+) paired seeds\)$")
ADDED_BACK = re.compile(r"adding it back gives (?P<gain>[+-][\d.e+-]+) \S+ \(95% CI (?P<low>[+-][\d.e+-]+) to "
                        r"(?P<high>[+-][\d.e+-]+), (?P<n>\d+) paired seeds\)")


def differing(p: Mapping[str, Any], c: Mapping[str, float]) -> list[tuple[str, str, str]]:
    """The claims of ``p`` (gain, ci, p_value) that the comparison ``c`` does not give: (key, claimed, computed)."""
    pairs = [("gain", p.get("gain"), c["gain"]), ("p_value", p.get("p_value"), c["p"])]
    pairs += list(zip(("ci", "ci"), p["ci"], (c["low"], c["high"]))) if p.get("ci") is not None else []
    out = []
    for key, claimed, computed in pairs:
        if claimed is not None and not math.isclose(float(claimed), computed, rel_tol=1e-6, abs_tol=1e-9):
            out.append((key, f"{list(p['ci'])}" if key == "ci" else f"{claimed:.6g}",
                        f"[{c['low']:.6g}, {c['high']:.6g}]" if key == "ci" else f"{computed:.6g}"))
    return out


def differing_corrected(p: Mapping[str, Any], fixed) -> list[tuple[str, str, str]]:
    """The corrected gain and interval a recipe claims (optional: older recipes have none) where the evidence,
    through `trickstack.stats.selection.corrected` (``fixed``), gives others: (key, claimed, computed)."""
    if p.get("gain_corrected") is None:
        return []
    claimed = {"gain_corrected": [p["gain_corrected"]], "ci_corrected": list(p.get("ci_corrected") or [])}
    computed = {"gain_corrected": [fixed.gain], "ci_corrected": [fixed.low, fixed.high]}
    out = []
    for key in claimed:
        same = len(claimed[key]) == len(computed[key]) and all(
            math.isclose(float(a), b, rel_tol=1e-6, abs_tol=1e-9) for a, b in zip(claimed[key], computed[key]))
        if not same:
            show = (lambda v: f"{v[0]:.6g}" if len(v) == 1 else f"[{', '.join(f'{x:.6g}' for x in v)}]")  # noqa: E731
            out.append((key, show(claimed[key]), show(computed[key])))
    return out


def check_candidate_claim(e) -> None:
    """A carried-forward recipe's provenance (gain, ci, p_value) is the test of the year's best candidate
    against it: one of its negative results must give exactly those numbers."""
    p = e.recipe.provenance
    if p.get("accepted", True):
        return
    tested = [n for n in e.negative if n["reference"] == e.name and n["n_pairs"]]
    for n in tested:
        if not differing(p, {"gain": n["gain"], "low": n["gain_low"], "high": n["gain_high"], "p": n["p_value"]}):
            n["tested"] = True
            return
    seen = "; ".join(f"{n['tried']}: {n['gain']:+.6g}, p = {n['p_value']:.3g}" for n in tested) or "none"
    raise UserError(f"{e.recipe.path}: provenance.gain = {p.get('gain')}, ci = {list(p.get('ci', []))}, p_value = "
                    f"{p.get('p_value')} (the best candidate's test against {e.name}), but no candidate in its evidence "
                    f"{e.evidence} gives them (candidates tested against it: {seen}): records that do not match the recipe")


def check_sequential(e, runs, reference, direction: str) -> None:
    """An accepted recipe confirmed sequentially: each look before the one it stopped at must have said
    "continue" on its seeds (the first seeds of ``provenance.seeds``), the last one "accept", at the nominal
    level recorded -- so a recipe cannot claim a later look than its evidence allowed it to reach."""
    p = e.recipe.provenance
    c = p.get("confirmation")
    if not c or not p.get("accepted"):
        return
    plan, taken, seeds = rules.sequential_plan(c), int(c["looks_taken"]), sorted(p["seeds"])
    if not math.isclose(c["nominal"], rules.sequential_level(c), rel_tol=1e-9):
        raise UserError(f"{e.recipe.path}: provenance.confirmation.nominal = {c['nominal']}, but its plan's level at look "
                        f"{taken} is {rules.sequential_level(c):.6g}")
    for look, n in enumerate(plan.looks[:taken], 1):
        first = set(seeds[:n])
        test = compare([r for r in runs if r.seed in first], [r for r in reference if r.seed in first], direction)
        decision = rules.sequential_decision(plan, look, test)
        expected = "continue" if look < taken else c["decision"]
        if decision.action != expected:
            raise UserError(f"{e.recipe.path}: provenance.confirmation says look {look} ({n} seeds) decided {expected!r}, "
                            f"but its evidence {e.evidence} gives p = {test['p']:.3g} there: {decision.action!r}")


def check_texts(e) -> None:
    """The numbers in the summary and in the removed tricks' reasons, as derive formats them, must be those the
    evidence gives (a hand-written text that does not follow derive's format is not read)."""
    r, row = e.recipe, e.row
    accepted, carried = ACCEPTED.search(r.summary or ""), CARRIED.search(r.summary or "")
    tested = next((n for n in e.negative if n.get("tested")), None)
    if accepted and row["status"] != "carried forward":
        shown = {"gain": f"{row['gain_prev']:+.4g}", "p": f"{row['p_prev']:.2g}", "n": str(row["n_pairs_prev"])}
        _same(r.path, "recipe.summary", accepted, shown)
    elif carried and tested is not None:
        _same(r.path, "recipe.summary", carried, {"p": f"{tested['p_value']:.2g}", "n": str(tested["n_pairs"])})
    for name, reason in r.reasons.items():
        match = ADDED_BACK.search(reason or "")
        if match is None or name in r.stack:
            continue
        back = [n for n in e.negative if n["tricks"] == [name] and not n["dropped"] and n["reference"] == e.name]
        if not back:
            raise UserError(f"{r.path}: removed.{name}.reason says adding it back was tried, but its evidence "
                            f"{e.evidence} holds no run of the recipe with {name} added back")
        n = back[0]
        _same(r.path, f"removed.{name}.reason", match, {"gain": f"{n['gain']:+.3g}", "low": f"{n['gain_low']:+.3g}",
                                                        "high": f"{n['gain_high']:+.3g}", "n": str(n["n_pairs"])})


def _same(path, key: str, match: re.Match, shown: Mapping[str, str]) -> None:
    for field, value in shown.items():
        if match[field] != value:
            raise UserError(f"{path}: {key} says {field} {match[field]}, but its evidence gives {value}: "
                            "records that do not match the recipe")
