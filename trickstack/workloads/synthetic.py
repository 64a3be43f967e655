"""A workload with a known truth: runs simulated in microseconds, for testing the statistics and planning studies.

The ``synthetic`` workload trains nothing. A study on it has a ``[synthetic]`` table (see
`trickstack.ablations.spec.SyntheticSection`) that says what every run scores::

    score = baseline + sum(effects of the tricks on) + sum(interactions of the pairs on)
            + seed_noise * z_seed + run_noise * z_run

``z_seed`` is a standard normal drawn from a generator seeded by the run's seed alone (and the
table's ``noise_seed``), so it is the same in every arm of a seed: paired noise, as a real seed's
initialisation and data order are. ``z_run`` comes from a generator seeded by (seed, sorted stack):
each run's own noise. A trick listed in ``diverge`` makes a run diverge with that probability (drawn
from a third generator of (seed, sorted stack)); a diverged run has no score. Everything is
deterministic: the same (truth, stack, seed) gives the same record values, as a real trial does.
Another ``noise_seed`` is an independent replicate of the whole study.

`simulate_run` returns a full `RunRecord`; the ablation worker calls it instead of `run_trial` for a
study on this workload, so the whole pipeline (spec, designs, engine, storage, export, analysis) runs
in seconds. `plan_study` (``trickstack plan SPEC.toml``) simulates a study many times from guessed
effects and noise and reports, per trick, the mean estimate, how often it comes out significant
after Holm's correction, how often the 95% interval covers the truth, and what the study costs.

>>> from trickstack.ablations.spec import SyntheticSection
>>> truth = SyntheticSection(baseline=0.5, effects={"ema": 0.01}, seed_noise=0.02)
>>> a = simulate_run(truth, "synthetic", [], seed=3)
>>> b = simulate_run(truth, "synthetic", ["ema"], seed=3)
>>> round(b.metrics.eval_value - a.metrics.eval_value, 12)  # no run noise: the seed noise cancels
0.01
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import math
import time
import uuid
from collections.abc import Sequence
from typing import Any, Callable, Iterator, Mapping, Optional, Union

import numpy as np

from trickstack.core.budget import Budget
from trickstack.core.errors import UserError
from trickstack.core.params import Param
from trickstack.core.records import BudgetRecord, Metrics, RunRecord, TrickRecord, now, provenance
from trickstack.workloads import Workload, get_workload, register_workload

NAME = "synthetic"
DEFAULT_BUDGET = Budget("flops", 1e9)  # notional: nothing is spent, the record only says what was granted
PLAN_STUDIES = 20
_SEED_STREAM, _RUN_STREAM, _DIVERGE_STREAM = 0x5EED, 0x2A4, 0xD1E  # keep the three generators apart


class AllCapabilities(Sequence):
    """Every capability that any registered trick requires, read from the registry when asked, so a
    trick registered later (a plugin, a test) is never refused for want of one."""

    def _names(self) -> tuple[str, ...]:
        from trickstack.tricks.registry import all_tricks

        return tuple(sorted({need for info in all_tricks() for need in info.requires}))

    def __getitem__(self, index):
        return self._names()[index]

    def __len__(self) -> int:
        return len(self._names())

    def __iter__(self) -> Iterator[str]:
        return iter(self._names())

    def __contains__(self, item: object) -> bool:
        return item in self._names()

    def __repr__(self) -> str:
        return "AllCapabilities()"


def _no_training(*_: Any, **__: Any) -> Any:
    raise UserError(f"workload {NAME!r} trains nothing: its runs are simulated from the truth in a study's synthetic table "
                    "(trickstack.workloads.synthetic.simulate_run, used by `trickstack ablate` and `trickstack plan`)")


SYNTHETIC = register_workload(Workload(
    name=NAME,
    domain="simulation",
    summary="no training: each run's score is simulated from the truth in the study's synthetic table (effects, interactions, paired noise)",
    provides=AllCapabilities(),  # type: ignore[arg-type]
    metric="score",
    metric_key="score",
    direction="maximize",
    batch_size=1,
    eval_batch_size=1,
    reference_steps=1,
    reference_note="no reference: a simulated run is one notional step that spends exactly its budget",
    nuisance=(  # accepted (so a real study's overrides and [tune] carry over) but they change nothing
        Param("lr", 1e-2, low=1e-5, high=1.0, log=True, help="accepted and recorded; no effect on a simulated run"),
        Param("weight_decay", 0.0, low=0.0, high=1.0, help="accepted and recorded; no effect on a simulated run"),
    ),
    build_model=_no_training,
    load_splits=_no_training,
    make_optimizer=_no_training,
    make_schedule=_no_training,
    extra={"simulated": True},
))


def _truth(truth: Any):
    from trickstack.ablations.spec import SyntheticSection

    return truth if isinstance(truth, SyntheticSection) else SyntheticSection.model_validate(truth)


def expected_score(truth: Any, stack: Sequence[str]) -> float:
    """The noise-free score of a stack: baseline + effects + interactions of the tricks on.

    >>> expected_score({"baseline": 1.0, "effects": {"ema": 0.5}, "interactions": {"ema:mixup": -0.25}},
    ...                ["mixup", "ema"])
    1.25
    """
    truth, on = _truth(truth), set(stack)
    return (truth.baseline + sum(g for t, g in truth.effects.items() if t in on)
            + sum(g for (a, b), g in truth.pairs().items() if a in on and b in on))


def _stack_key(stack: Sequence[str]) -> int:
    """A stable integer for the sorted stack (Python's ``hash`` of a str changes between processes)."""
    return int.from_bytes(hashlib.sha256("+".join(sorted(stack)).encode()).digest()[:16], "big")


def _rng(*entropy: int) -> np.random.Generator:
    return np.random.default_rng([e % 2**64 for e in entropy])


def simulate_run(truth: Any, workload: Union[str, Workload] = NAME, stack: Sequence[str] = (), seed: int = 0,
                 budget: Optional[Budget] = None, overrides: Mapping[str, Any] | None = None) -> RunRecord:
    """Simulate one run of ``stack`` with ``seed`` from ``truth`` (a `SyntheticSection` or its dict) and
    return its record, complete and valid against the run-record schema.

    The stack is checked as `run_trial` checks it (unknown tricks, conflicts, parameters), and
    ``overrides`` (``"ema.half_life"``, ``"lr"``) are validated and recorded, but change nothing.

    Record conventions: a simulated run is one notional step that spends exactly its budget
    (``steps=1``); the quantity of the budget's unit equals the budget (``flops`` for a FLOP budget,
    ``samples`` for a sample budget, ``train_seconds`` for a time budget) and the other two are 0;
    ``flops_measured_steps=0`` (nothing was counted), ``eval_seconds=0`` and ``train_loss`` is null.
    A diverged run has ``eval_value`` null, ``diverged`` true and ``diverged_step=0`` (its only step,
    counted from 0 as in the runner). ``created`` and ``provenance`` are real.
    """
    from trickstack.trial.runner import resolve_stack, split_overrides

    truth = _truth(truth)
    wl = get_workload(workload) if isinstance(workload, str) else workload
    if not wl.extra.get("simulated"):
        raise UserError(f"workload {wl.name!r} trains for real: simulate runs of the {NAME!r} workload only")
    tricks = resolve_stack(wl, stack, overrides)
    nuisance = wl.resolve_nuisance(split_overrides(overrides)[1])
    budget = budget or DEFAULT_BUDGET
    names = sorted(t.info.name for t in tricks)
    key = _stack_key(names)
    z_seed = _rng(_SEED_STREAM, truth.noise_seed, seed).standard_normal()  # the same in every arm
    z_run = _rng(_RUN_STREAM, truth.noise_seed, seed, key).standard_normal()
    draws = _rng(_DIVERGE_STREAM, truth.noise_seed, seed, key).random(len(names))
    diverged = any(u < truth.diverge.get(t, 0.0) for t, u in zip(names, draws))
    value = None if diverged else float(expected_score(truth, names) + truth.seed_noise * z_seed + truth.run_noise * z_run)
    return RunRecord(
        workload=wl.name,
        tricks=[TrickRecord(name=t.info.name, params=t.params) for t in tricks],
        nuisance=nuisance,
        seed=seed,
        budget=BudgetRecord(unit=budget.unit, value=budget.value),
        flops=budget.value if budget.unit == "flops" else 0.0,
        flops_measured_steps=0,
        steps=1,
        samples=int(budget.value) if budget.unit == "samples" else 0,
        train_seconds=budget.value if budget.unit == "seconds" else 0.0,
        eval_seconds=0.0,
        metrics=Metrics(eval_metric=wl.metric, eval_value=value, direction=wl.direction, train_loss=None),
        diverged=diverged,
        diverged_step=0 if diverged else None,
        created=now(),
        provenance=provenance(),
    )


# --------------------------------------------------------------------------------------------------
# Planning: simulate the study many times from guesses and see what it can show.


def simulate_study(spec, replicate: int = 0):
    """Run ``spec`` (on the synthetic workload) through the real engine in an in-memory storage, as
    replicate ``replicate`` (its ``noise_seed`` shifted by that much). Returns the finished Optuna study."""
    from trickstack.ablations.engine import ablate
    from trickstack.ablations.storage import drop_memory

    if spec.synthetic is None:
        raise UserError(f"{spec.source}: simulating a study needs workload = \"{NAME}\" and a synthetic table of the truth")
    truth = spec.synthetic.model_copy(update={"noise_seed": spec.synthetic.noise_seed + replicate})
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


def _signed(direction: str) -> float:
    return 1.0 if direction == "maximize" else -1.0


def true_effects(spec, arms: Sequence[frozenset], terms: Sequence[str]) -> dict[str, float]:
    """What `analysis.factorial_effects` estimates for ``terms`` on the design ``arms``, without noise:
    2x the OLS coefficients of the ±1 codes, fitted to the exact arm scores (signed as gains)."""
    s, truth = spec.study, spec.synthetic
    sign = _signed(get_workload(s.workload).direction)
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
    sign = _signed(get_workload(s.workload).direction)
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
    from scipy import stats

    if not (df >= 1 and se > 0 and math.isfinite(se)):
        return math.nan
    return float(2 * stats.t.sf(abs(estimate / se), df))


def analyse(spec, study, alpha: float = 0.05) -> list[dict[str, Any]]:
    """The estimates a study of ``spec``'s design gives, one row per term, beside the truth:
    ``term``, ``kind``, ``truth``, ``estimate``, ``ci_low``, ``ci_high``, ``p_adjusted`` (Holm),
    ``significant`` (at ``alpha``). Used by `plan_study` on each simulated study."""
    from trickstack.stats import analysis
    from trickstack.ablations.designs import arm_name, parse_arm, shapley_arms
    from trickstack.ablations.export import tidy

    s, truth = spec.study, spec.synthetic
    direction = get_workload(s.workload).direction
    sign = _signed(direction)
    table = tidy(study)
    v = lambda arm: sign * expected_score(truth, [*s.base, *arm])  # noqa: E731
    rows: list[dict[str, Any]] = []

    def row(term, kind, true, estimate=math.nan, low=math.nan, high=math.nan, p=math.nan) -> None:
        rows.append({"term": term, "kind": kind, "truth": true, "estimate": float(estimate), "ci_low": float(low),
                     "ci_high": float(high), "p_adjusted": float(p), "significant": bool(p < alpha)})

    if s.design in ("factorial", "fractional"):
        arms = [parse_arm(a) for a in study.user_attrs.get("arms", [])]
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
        orders = study.user_attrs.get("orders") or [list(o) for o in shapley_arms(s.tricks, s.permutations, s.seed)[1]]
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
        path = study.user_attrs.get("greedy_path", [])
        added = {r["added"] for r in path if r.get("added")}
        first = {name: gain for name, gain, _ in (path[0]["tests"] if path else [])}
        for t in s.tricks:
            rows.append({"term": t, "kind": "greedy", "truth": v(frozenset({t})) - v(frozenset()),
                         "estimate": float(first.get(t, math.nan)), "ci_low": math.nan, "ci_high": math.nan,
                         "p_adjusted": math.nan, "significant": t in added})
    else:  # search: significant = in the best configuration found
        best = parse_arm(study.user_attrs.get("search_best", {}).get("arm", "baseline"))
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
        raise UserError(f"--studies must be at least 1, got {studies}")
    if not 0 < alpha < 1:
        raise UserError(f"--alpha must be between 0 and 1, got {alpha}")
    from trickstack.ablations.export import tidy

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
        "leave-one-out": f"one-sided paired t-tests of the full stack vs the stack without each trick, Holm over the tricks, alpha {alpha:g}",
        "shapley": f"two-sided t-tests of the sampled Shapley values, Holm over the tricks, alpha {alpha:g}",
        "greedy": f"added to the stack by the greedy study (its own Holm-corrected one-sided paired tests at study.alpha {s.alpha:g})",
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
