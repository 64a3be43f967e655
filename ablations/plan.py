"""Planning a study before training anything: simulate it many times from guessed effects and noise.

`plan_study` (``trickstack plan SPEC.toml``) runs the study's spec on the ``synthetic`` workload
(`trickstack.simulator.workload`) through the real engine, many times, and reports per trick the mean
estimate, how often it comes out significant after Holm's correction, how often the 95% interval covers
the truth, and what the study costs.
"""

from __future__ import annotations

import contextlib
import gc
import math
import time
import uuid
from typing import Any, Callable, Iterator, Optional, Sequence

import numpy as np
from scipy import stats

from trickstack.ablations.designs import shapley_arms
from trickstack.ablations.engine import ablate
from trickstack.ablations.export import tidy
from trickstack.ablations.state import StudyState
from trickstack.ablations.storage import drop_memory
from trickstack.core.errors import UserError
from trickstack.core.stacks import BASELINE, arm_name, parse_arm
from trickstack.simulator.workload import NAME, expected_score
from trickstack.stats import analysis, rules
from trickstack.workloads import get_workload

PLAN_STUDIES = 20


def simulate_study(spec, replicate: int = 0):
    """Run ``spec`` (on the synthetic workload) through the real engine in an in-memory storage, as
    replicate ``replicate`` (its ``noise_seed`` shifted by that much). Returns the finished Optuna study."""

    if spec.synthetic is None:
        raise UserError(f"{spec.source}: simulating a study needs workload = \"{NAME}\" and a synthetic table of the truth")
    truth = spec.synthetic.model_copy(update={"noise_seed": spec.synthetic.noise_seed + replicate, "run_seconds": 0.0})
    copy = spec.model_copy(update={"synthetic": truth})
    url = f"memory://{uuid.uuid4().hex}"
    try:
        return ablate(copy, url).study
    finally:
        drop_memory(url)  # the study object keeps its storage alive as long as the caller holds it


@contextlib.contextmanager
def frozen_gc() -> Iterator[None]:
    """Move the objects alive now (Composer, torch, ...: millions) out of the garbage collector's sight
    while many small studies are simulated. statsmodels' Holm correction (`analysis.correct`) calls
    ``gc.collect()`` every time, which otherwise costs ~0.3 s per call in a process that imported Composer."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def true_effects(spec, arms: Sequence[frozenset], terms: Sequence[str]) -> dict[str, float]:
    """What `analysis.factorial_effects` estimates for ``terms`` on the design ``arms``, without noise:
    2x the OLS coefficients of the ±1 codes, fitted to the exact arm scores (signed as gains)."""
    s, truth = spec.study, spec.synthetic
    sign = rules.sign(get_workload(s.workload).direction)
    tricks = list(s.tricks)
    x = {t: np.array([1.0 if t in arm else -1.0 for arm in arms]) for t in tricks}
    columns = [np.ones(len(arms))]
    for term in terms:
        a, _, b = term.partition(":")
        columns.append(x[a] * x[b] if b else x[a])
    y = np.array([sign * expected_score(truth, [*s.base, *arm]) for arm in arms])
    coef = np.linalg.lstsq(np.column_stack(columns), y, rcond=None)[0]
    return {term: round(2 * float(c), 12) + 0.0 for term, c in zip(terms, coef[1:])}  # exact to rounding; no -0.0


def true_shapley(spec) -> dict[str, float]:
    """Exact Shapley values of the study's tricks (over the exact arm scores, base always on), as gains."""
    s, truth = spec.study, spec.synthetic
    sign = rules.sign(get_workload(s.workload).direction)
    pairs, out = truth.pairs(), {}
    for t in s.tricks:
        value = truth.effects.get(t, 0.0)
        for (a, b), g in pairs.items():
            if t in (a, b):
                other = b if a == t else a
                value += g / 2 if other in s.tricks else g if other in s.base else 0.0
        out[t] = sign * value
    return out


def _t_p(estimate: float, se: float, df: int) -> float:

    if not (df >= 1 and se > 0 and math.isfinite(se)):
        return math.nan
    return float(2 * stats.t.sf(abs(estimate / se), df))


def analyse(spec, study, alpha: float = 0.05) -> list[dict[str, Any]]:
    """The estimates a study of ``spec``'s design gives, one row per term, beside the truth:
    ``term``, ``kind``, ``truth``, ``estimate``, ``ci_low``, ``ci_high``, ``p_adjusted`` (Holm),
    ``significant`` (at ``alpha``). Used by `plan_study` on each simulated study."""

    s, truth = spec.study, spec.synthetic
    direction = get_workload(s.workload).direction
    sign = rules.sign(direction)
    table = tidy(study)
    v = lambda arm: sign * expected_score(truth, [*s.base, *arm])  # noqa: E731
    rows: list[dict[str, Any]] = []

    def row(term, kind, true, estimate=math.nan, low=math.nan, high=math.nan, p=math.nan) -> None:
        rows.append({"term": term, "kind": kind, "truth": true, "estimate": float(estimate), "ci_low": float(low),
                     "ci_high": float(high), "p_adjusted": float(p), "significant": bool(p < alpha)})

    if s.design in ("factorial", "fractional"):
        arms = [parse_arm(a) for a in StudyState(study).arms or []]
        planted = [f"{a}:{b}" for a, b in truth.pairs() if a in s.tricks and b in s.tricks]
        try:
            fx = analysis.factorial_effects(table, s.tricks, direction, interactions=True, adjust="holm")
        except UserError:  # interactions aliased (resolution III/IV), or too few runs for them
            fx = analysis.factorial_effects(table, s.tricks, direction, interactions=False, adjust="holm")
        by_term = {r.term: r for r in fx.itertuples()}
        flipped = {f"{b}:{a}": f"{a}:{b}" for a, b in (t.split(":") for t in by_term if ":" in t)}
        wanted = [*s.tricks, *[flipped.get(p, p) for p in planted]]
        true = true_effects(spec, arms, [t for t in by_term])
        for term in wanted:
            r = by_term.get(term)
            kind = "interaction" if ":" in term else "main"
            if r is None:  # an interaction the design cannot estimate
                row(term, kind + " (not estimable)", math.nan)
            else:
                row(term, kind, true[term], r.estimate, r.ci_low, r.ci_high, r.p_adjusted)
    elif s.design in ("one-at-a-time", "leave-one-out"):
        full = frozenset(s.tricks)
        if s.design == "one-at-a-time":  # gain of each trick alone over the baseline, one-sided
            reference, d = "baseline", direction
            arm_of = {t: frozenset({t}) for t in s.tricks}
            true = {t: v(arm_of[t]) - v(frozenset()) for t in s.tricks}
        else:  # gain of each trick added last: the full stack over the stack without it (direction flipped)
            reference, d = arm_name(full), "minimize" if direction == "maximize" else "maximize"
            arm_of = {t: full - {t} for t in s.tricks}
            true = {t: v(full) - v(full - {t}) for t in s.tricks}
        try:
            diffs = analysis.paired_differences(table, reference, d, adjust="holm").set_index("arm")
        except UserError:
            diffs = None
        for t in s.tricks:
            name = arm_name(arm_of[t])
            if diffs is None or name not in diffs.index:
                row(t, "vs " + reference, true[t])
                continue
            r = diffs.loc[name]
            row(t, "vs " + reference, true[t], r.mean_gain, r.ci_low, r.ci_high, r.p_adjusted)
    elif s.design == "shapley":
        orders = StudyState(study).orders or [list(o) for o in shapley_arms(s.tricks, s.permutations, s.seed)[1]]
        true = true_shapley(spec)
        try:
            sv = analysis.shapley_sampled(table, [tuple(o) for o in orders], direction).values.set_index("trick")
        except UserError:
            sv = None
        if sv is not None:
            p = analysis.correct([_t_p(r.raw, r.se, min(r.n_orders, r.n_seeds) - 1) for r in sv.itertuples()], "holm")
            sv = sv.assign(p_adjusted=p)
        for t in s.tricks:
            if sv is None or t not in sv.index:
                row(t, "shapley", true[t])
            else:
                r = sv.loc[t]
                row(t, "shapley", true[t], r.raw, r.ci_low, r.ci_high, r.p_adjusted)
    elif s.design == "greedy":  # significant = added to the stack; estimate = its gain alone (first round)
        path = StudyState(study).greedy_path
        added = {r["added"] for r in path if r.get("added")}
        first = {name: gain for name, gain, _ in (path[0]["tests"] if path else [])}
        for t in s.tricks:
            rows.append({"term": t, "kind": "greedy", "truth": v(frozenset({t})) - v(frozenset()),
                         "estimate": float(first.get(t, math.nan)), "ci_low": math.nan, "ci_high": math.nan,
                         "p_adjusted": math.nan, "significant": t in added})
    else:  # search: significant = in the best configuration found
        best = parse_arm(StudyState(study).search_best.get("arm", BASELINE))
        for t in s.tricks:
            rows.append({"term": t, "kind": "search", "truth": v(frozenset({t})) - v(frozenset()),
                         "estimate": math.nan, "ci_low": math.nan, "ci_high": math.nan, "p_adjusted": math.nan,
                         "significant": t in best})
    return rows


def plan_study(spec, studies: int = PLAN_STUDIES, alpha: float = 0.05,
               progress: Optional[Callable[[int, int], None]] = None) -> dict[str, Any]:
    """Simulate the study of ``spec`` ``studies`` times (noise seeds ``noise_seed`` .. + studies - 1)
    and summarise what it shows: per term the truth, the mean and sd of the estimate, the fraction of
    studies in which it is significant after Holm at ``alpha`` (for a real effect: the power; for a
    null one: the false-positive rate), the fraction whose 95% interval covers the truth, and the
    runs one study costs. JSON-ready."""
    if spec.synthetic is None:
        raise UserError(f"{spec.source}: `trickstack plan` simulates a study from guessed effects: set workload = "
                        f"\"{NAME}\" and add a synthetic table (baseline, effects, interactions, seed_noise, run_noise)")
    if studies < 1:
        raise UserError(f"a plan simulates at least 1 study, got {studies}")
    if not 0 < alpha < 1:
        raise UserError(f"alpha must be between 0 and 1, got {alpha}")

    start = time.perf_counter()
    per_term: dict[str, list[dict[str, Any]]] = {}
    runs, diverged, arms = [], [], 0
    with frozen_gc():
        for i in range(studies):
            study = simulate_study(spec, i)
            table = tidy(study)
            runs.append(len(table))
            diverged.append(int(table["diverged"].sum()) if len(table) else 0)
            arms = max(arms, table["arm"].nunique() if len(table) else 0)
            for r in analyse(spec, study, alpha):
                per_term.setdefault(r["term"], []).append(r)
            if progress:
                progress(i + 1, studies)
    terms = []
    for term, rs in per_term.items():
        est = np.array([r["estimate"] for r in rs], dtype=float)
        ok = np.isfinite(est)
        with_ci = [r for r in rs if math.isfinite(r["ci_low"]) and math.isfinite(r["ci_high"])]
        truth = rs[0]["truth"]
        terms.append({
            "term": term, "kind": rs[0]["kind"], "truth": truth if math.isfinite(truth) else None,
            "mean_estimate": float(est[ok].mean()) if ok.any() else None,
            "sd_estimate": float(est[ok].std(ddof=1)) if ok.sum() >= 2 else None,
            "significant": sum(r["significant"] for r in rs) / len(rs),
            "covered": (sum(r["ci_low"] <= truth <= r["ci_high"] for r in with_ci) / len(with_ci)
                        if with_ci and math.isfinite(truth) else None),
            "estimated_in": int(ok.sum()),
        })
    s = spec.study
    budget = s.budget.as_budget()
    tests = {
        "factorial": f"two-sided t-tests of the OLS factorial effects (seed-blocked), Holm over all terms, alpha {alpha:g}",
        "fractional": f"two-sided t-tests of the OLS factorial effects (seed-blocked), Holm over all terms, alpha {alpha:g}",
        "one-at-a-time": f"one-sided paired t-tests of each trick alone vs the baseline, Holm over the tricks, alpha {alpha:g}",
        "leave-one-out": (f"one-sided paired t-tests of the full stack vs the stack without each trick, Holm over the "
                          f"tricks, alpha {alpha:g}"),
        "shapley": f"two-sided t-tests of the sampled Shapley values, Holm over the tricks, alpha {alpha:g}",
        "greedy": (f"added to the stack by the greedy study (its own Holm-corrected one-sided paired tests at "
                   f"study.alpha {s.alpha:g})"),
        "search": "in the best configuration the search found (no test)",
    }
    return {
        "study": s.name, "workload": s.workload, "design": s.design, "tricks": list(s.tricks), "seeds": s.seeds,
        "studies": studies, "alpha": alpha, "test": tests[s.design],
        "runs_per_study": float(np.mean(runs)), "runs_min": int(min(runs)), "runs_max": int(max(runs)), "arms": arms,
        "diverged_per_study": float(np.mean(diverged)),
        "budget": {"unit": budget.unit, "value": budget.value},
        "compute_per_study": float(np.mean(runs)) * budget.value,
        "terms": terms,
        "seconds": time.perf_counter() - start,
    }
