"""Negative results: the stacks a year's evidence holds that are neither the recipe, the previous recipe, the
baseline nor a subset of the recipe's tricks with its nuisance values (attribution runs). Tried and not kept,
each published with its paired gain over whichever of the recipe and the previous recipe it is closer to.

>>> _diff({"mixup": {}}, {"ema": {}})
['+mixup', '-ema']
"""

from __future__ import annotations

import math
from typing import Any

from trickstack.leaderboard.evidence import Stack, _describe, _frozen, _value, runs_of, stack_of
from trickstack.stats import rules
from trickstack.stats.compare import compare


def negative_results(e, wl, summary) -> list[dict[str, Any]]:
    """The rows of ``e``'s negative results (``e`` an `Entry`; ``summary`` the leaderboard's).
    Each row also carries ``tricks``: the tricks the candidate adds or re-parametrises (for the trick pages)."""
    r = e.recipe
    prev_stack = e.previous.recipe.stack if e.previous else {}
    prev_nuisance = e.previous.recipe.nuisance if e.previous else wl.resolve_nuisance()
    groups: dict[tuple, list] = {}
    for record in e.records:
        stack = stack_of(record)
        attribution = all(r.stack.get(n) == p for n, p in stack.items()) and record.nuisance == r.nuisance
        baseline = not stack and record.nuisance == wl.resolve_nuisance()
        if (stack, record.nuisance) == (prev_stack, prev_nuisance) or attribution or baseline:
            continue  # a candidate that changed only nuisance values (lr) is a negative result too
        groups.setdefault((_frozen(stack), _frozen(record.nuisance)), []).append(record)
    rows = []
    prev_runs = None
    for (_, nuisance), records in sorted(groups.items(), key=lambda kv: _describe(stack_of(kv[1][0]))):
        stack = stack_of(records[0])
        by_seed: dict[int, Any] = {}
        for rec in records:
            by_seed.setdefault(rec.seed, rec)
        runs = [by_seed[s] for s in sorted(by_seed)]
        this_diff, prev_diff = _diff(stack, r.stack), _diff(stack, prev_stack)
        use_prev = e.previous is not None and len(prev_diff) < len(this_diff)
        if use_prev and prev_runs is None:
            prev_runs = runs_of(e.records, prev_stack, e.previous.recipe.nuisance, strict=True, where=str(e.evidence))
        ref_name, ref_runs, diff = (e.previous.name, prev_runs, prev_diff) if use_prev else (r.name, e.runs, this_diff)
        ref_stack = prev_stack if use_prev else r.stack
        ref_nuisance = e.previous.recipe.nuisance if use_prev else r.nuisance
        diff += [f"{k}={_value(v)}" for k, v in dict(nuisance).items() if ref_nuisance.get(k) != v]
        c = compare(runs, ref_runs, wl.direction) if ref_runs else {"n_pairs": 0, "gain": math.nan, "low": math.nan,
                                                                      "high": math.nan, "p": math.nan}
        s = summary(runs, wl.direction)
        rows.append({"workload": wl.name, "year": r.year, "recipe": r.name, "tried": ", ".join(diff),
                     "stack": _describe(stack), "n": s["n"], "n_diverged": s["n_diverged"], "mean": s["mean"],
                     "ci_low": s["ci_low"], "ci_high": s["ci_high"], "reference": ref_name,
                     "n_pairs": c["n_pairs"], "gain": c["gain"], "gain_low": c["low"], "gain_high": c["high"],
                     "p_value": c["p"], "evidence": f"evidence/{wl.name}/{e.evidence.name}",
                     "tricks": sorted(n for n, p in stack.items() if ref_stack.get(n) != p),
                     "dropped": sorted(set(ref_stack) - set(stack)), "changes": _changes(stack, ref_stack, dict(nuisance),
                                                                                        ref_nuisance)})
    return rows


def beats(row: dict[str, Any]) -> bool:
    """Whether a negative result beat its reference by the leaderboard's rule (`trickstack.stats.rules.passes`): a
    stack tried and not kept that the evidence shows better, which a derivation should confirm."""
    return bool(row["n_pairs"]) and row["gain"] > 0 and rules.passes({"n_pairs": row["n_pairs"], "p": row["p_value"]})


def beating(e) -> list[dict[str, Any]]:
    """The negative results of ``e`` (an `Entry`) that beat its own recipe (`beats`)."""
    return [n for n in e.negative if n["reference"] == e.name and beats(n)]


def _diff(stack: Stack, reference: Stack) -> list[str]:
    """``+mixup(alpha=0.2)``, ``-ema``, ``label_smoothing smoothing=0.1->0.2``: how to get from reference to stack."""
    out = [f"+{_describe({n: p})}" for n, p in sorted(stack.items()) if n not in reference]
    out += [f"-{n}" for n in sorted(reference) if n not in stack]
    for n in sorted(set(stack) & set(reference)):
        changed = {k: v for k, v in stack[n].items() if reference[n].get(k) != v}
        if changed:
            out.append(f"{n} " + ", ".join(f"{k}={_value(reference[n].get(k))}->{_value(v)}" for k, v in changed.items()))
    return out


def _changes(stack: Stack, reference: Stack, nuisance: dict, ref_nuisance: dict) -> str:
    """``+sam, −adamw, lookahead re-tuned, lr re-tuned``: the change by names only (parameters: ``tried``)."""
    parts = [f"+{n}" for n in sorted(stack) if n not in reference]
    parts += [f"−{n}" for n in sorted(reference) if n not in stack]
    parts += [f"{n} re-tuned" for n in sorted(set(stack) & set(reference)) if stack[n] != reference[n]]
    changed = [k for k, v in nuisance.items() if ref_nuisance.get(k) != v]
    return ", ".join(parts + ([f"{', '.join(changed)} re-tuned"] if changed else [])) or "none"
