"""Statistics of a study's tidy table (`trickstack.ablations.export.tidy`): one row per training run.

Every function is pure: a DataFrame in, a DataFrame (or a small frozen dataclass) out. Only rows with
``phase == "eval"`` count (tuning seeds never evaluate). A run that diverged (``diverged`` true, or no
finite ``value``) is a stated failure: it is counted (``n_diverged``, ``n_unpaired``) and left out of
means, never dropped silently. Gains are signed by the metric's direction, so a positive gain is an
improvement whether the metric is maximized (accuracy) or minimized (loss). Intervals are 95%.
"""

from __future__ import annotations

import gc
import math
from dataclasses import dataclass, field
from itertools import combinations
from typing import Sequence

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.regression.linear_model import OLS
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import proportion_confint

from trickstack.core.errors import UserError
from trickstack.core.stacks import BASELINE, arm_name
from trickstack.stats import paired_tests as pt
from trickstack.stats.paired_tests import RESAMPLES  # noqa: F401  (re-exported: analysis.RESAMPLES)
from trickstack.stats.planning import seeds_for_power  # noqa: F401  (re-exported: analysis.seeds_for_power)
from trickstack.stats.rules import one_sided_p
from trickstack.stats.rules import sign as _sign

LEVEL = 0.95  # confidence level of every interval
TESTS = ("t", "bootstrap", "permutation", "rank")  # paired tests of `paired_differences`
METHODS = {"holm": "holm", "bh": "fdr_bh"}  # our name -> statsmodels' name


def synthetic_table(effects: dict[str, float], interactions: dict[tuple[str, str], float] | None = None,
                    seeds: int = 3, base: float = 0.5, seed_sd: float = 0.02, noise: float = 0.005,
                    seed: int = 0, diverge: dict[str, float] | None = None) -> pd.DataFrame:
    """A full-factorial tidy table simulated from a known truth, for examples and tests (not a result):
    value = base + effects of the tricks on + interactions of the pairs on + seed noise + run noise.
    ``diverge``: trick -> probability that a run with it on diverges (no value), drawn from a generator
    of its own, so the values of the runs that finish are those of the same table without divergence.

    >>> t = synthetic_table({"ema": 0.01, "mixup": 0.02})
    >>> sorted(t.arm.unique()), len(t)
    (['baseline', 'ema', 'ema+mixup', 'mixup'], 12)
    """
    rng = np.random.default_rng(seed)
    tricks, shared = sorted(effects), rng.normal(0, seed_sd, seeds)  # shared by every arm of a seed
    rows = []
    for on in _subsets(tricks):
        mean = base + sum(effects[t] for t in on) + sum(g for p, g in (interactions or {}).items() if set(p) <= on)
        rows += [{"phase": "eval", "arm": _arm(on), "seed": s, "metric": "accuracy", "diverged": False,
                  "value": mean + shared[s] + rng.normal(0, noise), **{f"on.{t}": t in on for t in tricks}}
                 for s in range(seeds)]
    table = pd.DataFrame(rows)
    if diverge:
        odds = np.random.default_rng([seed, 0xD1E]).random((len(table), len(tricks)))  # apart from the noise
        p = np.array([[diverge.get(t, 0.0) if on else 0.0 for t, on in zip(tricks, r)]
                      for r in table[[f"on.{t}" for t in tricks]].to_numpy(bool)])
        table["diverged"] = (odds < p).any(axis=1)
        table.loc[table.diverged, "value"] = np.nan
    return table


def arm_summary(table: pd.DataFrame, direction: str) -> pd.DataFrame:
    """Per arm, best first: runs ``n``, ``n_diverged``, and ``mean``, ``sd``, t interval of the others
    (in the metric's own units).

    >>> t = synthetic_table({"ema": 0.01}).assign(diverged=[False] * 5 + [True])
    >>> arm_summary(t, "maximize")[["arm", "n", "n_diverged"]].to_dict("records")
    [{'arm': 'ema', 'n': 3, 'n_diverged': 1}, {'arm': 'baseline', 'n': 3, 'n_diverged': 0}]
    """
    sign, t = _sign(direction), _runs(table)
    out = pd.DataFrame([{"arm": arm, "n": len(g), "n_diverged": int(g.failed.sum()),
                         **_t_interval(g.value[~g.failed].to_numpy(), "mean")}
                        for arm, g in t.groupby("arm", sort=False)])
    best_first = np.argsort(-sign * out["mean"].fillna(-sign * np.inf).to_numpy(), kind="stable")  # NaN last
    return out.iloc[best_first].reset_index(drop=True)


def paired_differences(table: pd.DataFrame, reference_arm: str, direction: str, test: str = "t",
                       seed: int = 0, adjust: str | None = None) -> pd.DataFrame:
    """Seed-by-seed gain of every other arm over ``reference_arm``, with a one-sided p for "gain > 0".

    ``test="t"``: paired t interval and t-test. ``"bootstrap"``: studentized bootstrap interval and p
    (`paired_tests.bootstrap_t`). ``"permutation"``: sign-flip p, exact up to 14 pairs (so never below
    1/2^pairs), with the t interval. ``"rank"``: signed-rank p in which a diverged run is the worst score
    of its seed (`paired_tests.signed_rank_worst_p`), for when divergence may strike the runs that would
    have scored worst; its ``n_pairs`` counts the seeds with a run (finished or diverged) in both arms,
    while the gain and t interval are over the finished pairs. Seeds of the study without such a pair are
    counted in ``n_unpaired``. ``adjust="holm"|"bh"`` adds ``p_adjusted`` over the arms listed.

    >>> d = paired_differences(synthetic_table({"ema": 0.01, "mixup": -0.02}), "baseline", "maximize")
    >>> d[["arm", "n_pairs", "n_unpaired"]].to_dict("records")[0], bool(d.mean_gain.iloc[0] > 0)
    ({'arm': 'ema', 'n_pairs': 3, 'n_unpaired': 0}, True)
    """
    if test not in TESTS:
        raise UserError(f"unknown test {test!r}: expected one of {', '.join(map(repr, TESTS))}")
    wide = _wide(table, direction)
    _require_arms(wide, [reference_arm])
    failed = _wide(table, direction, failed=True) if test == "rank" else None
    rng, rows = np.random.default_rng(seed), []
    for arm in (a for a in wide.columns if a != reference_arm):
        d = (wide[arm] - wide[reference_arm]).dropna().to_numpy()
        row = {"arm": arm, "reference": reference_arm, "n_pairs": len(d), "n_unpaired": len(wide) - len(d),
               **_t_interval(d, "mean_gain"), "p_value": np.nan, "test": test}
        if len(d) >= 2 and test == "t":
            row["p_value"] = one_sided_p(d)  # the leaderboard's test: one p, zero variance included
        elif len(d) >= 2 and test == "bootstrap":
            row["ci_low"], row["ci_high"], row["p_value"] = pt.bootstrap_t(d, rng)
        elif len(d) >= 2 and test == "permutation":
            row["p_value"] = pt.sign_flip_p(d, rng)
        elif test == "rank":
            worst = _worst_first(wide[arm], failed[arm]) - _worst_first(wide[reference_arm], failed[reference_arm])
            worst = worst.dropna().to_numpy()
            row.update(n_pairs=len(worst), n_unpaired=len(wide) - len(worst))
            row["p_value"] = pt.signed_rank_worst_p(worst, rng) if len(worst) >= 2 else np.nan
        rows.append(row)
    columns = ["arm", "reference", "n_pairs", "n_unpaired", *_t_interval(np.zeros(0), "mean_gain"), "p_value", "test"]
    return _adjusted(pd.DataFrame(rows, columns=columns), adjust)  # no rows: no arm beside the reference


def correct(pvalues: Sequence[float], method: str = "holm") -> np.ndarray:
    """Adjusted p-values, Holm (family-wise error) or Benjamini-Hochberg (false discovery rate), by
    statsmodels ``multipletests``. NaN p-values stay NaN and are not counted as tests.

    >>> correct([0.01, 0.04, float("nan")], "holm").round(3).tolist()
    [0.02, 0.04, nan]
    """
    if method not in METHODS:
        raise UserError(f"unknown correction {method!r}: expected 'holm' or 'bh'")
    p = np.asarray(pvalues, dtype=float)
    out, ok = np.full_like(p, np.nan), np.isfinite(p)
    if ok.any():
        gc.freeze()  # statsmodels' Holm calls gc.collect(): costly where Composer's millions of objects live
        try:
            out[ok] = multipletests(p[ok], method=METHODS[method])[1]
        finally:
            gc.unfreeze()
    return out


def factorial_effects(table: pd.DataFrame, tricks: Sequence[str], direction: str,
                      interactions: bool | Sequence[tuple[str, str]] = True, adjust: str | None = None) -> pd.DataFrame:
    """Main effects and two-way interactions by OLS on ±1 codes of the ``on.<trick>`` columns, with a
    dummy per seed (blocking), so noise shared by the arms of a seed cancels as in a paired test.

    Convention: ``estimate`` is 2x the OLS coefficient, the change from code -1 to +1. For a trick: the
    mean gain of switching it on, averaged over the design's settings of the other tricks. For a pair
    ``a:b``: half the difference between a's effect with b on and with b off. Estimates are gains
    (signed by ``direction``); p-values are two-sided. ``interactions``: all pairs (True), none (False)
    or a list of pairs. A term the design cannot tell apart from others (an interaction in
    one-at-a-time data or in a resolution-III fraction) raises `UserError`.

    >>> t = synthetic_table({"ema": 0.01, "mixup": 0.02}, {("ema", "mixup"): -0.01}, noise=0.0)
    >>> factorial_effects(t, ["ema", "mixup"], "maximize").set_index("term").estimate.round(4).to_dict()
    {'ema': 0.005, 'mixup': 0.015, 'ema:mixup': -0.005}
    """
    pairs = list(combinations(tricks, 2)) if interactions is True else [tuple(p) for p in interactions or []]
    unknown = sorted({k for p in pairs for k in p} - set(tricks))
    if unknown:
        raise UserError(f"interaction with {', '.join(unknown)}, which is not among the tricks {list(tricks)}")
    t = _runs(table, direction, tricks)
    t = t[~t.failed]
    x = {k: np.where(t[f"on.{k}"].astype(bool), 1.0, -1.0) for k in tricks}
    x.update({f"{a}:{b}": x[a] * x[b] for a, b in pairs})
    blocks = pd.get_dummies(t.seed.astype(str), dtype=float).to_numpy()  # one intercept per seed
    design, terms, nb = np.column_stack([blocks, *x.values()]), list(x), blocks.shape[1]
    _require_estimable(design, nb, terms, len(tricks))
    if len(t) <= design.shape[1]:
        raise UserError(f"{len(t)} finished runs leave no degrees of freedom for the error of "
                        f"{design.shape[1]} parameters: add seeds or drop interactions")
    fit = OLS(t.signed.to_numpy(), design).fit()
    ci = fit.conf_int(1 - LEVEL)[nb:]
    out = pd.DataFrame({"term": terms, "kind": ["main"] * len(tricks) + ["interaction"] * len(pairs),
                        "estimate": 2 * fit.params[nb:], "se": 2 * fit.bse[nb:], "ci_low": 2 * ci[:, 0],
                        "ci_high": 2 * ci[:, 1], "p_value": fit.pvalues[nb:], "df": fit.df_resid})
    return _adjusted(out, adjust)


@dataclass(frozen=True)
class ShapleyValues:
    """One row per trick (``values``) and the gain of the full stack over the baseline they share, both
    estimated on ``seeds`` only: the seeds with a finished run in every arm used. ``dropped``: each other
    seed of the study -> the arms in which its run diverged or is missing (why it was left out)."""

    values: pd.DataFrame
    total_gain: float
    seeds: tuple = ()
    dropped: dict = field(default_factory=dict)


def shapley_exact(table: pd.DataFrame, tricks: Sequence[str], direction: str) -> ShapleyValues:
    """Exact Shapley values from a full factorial over v(S) = mean signed value of arm S on the seeds
    finished in every arm (``n_seeds``; a seed with a diverged run in any arm is left out of all of them,
    so seed noise cannot leak into the differences). They add up to v(all tricks) - v(baseline) on those
    seeds exactly (to rounding). The interval is a t interval from the Shapley values of each seed.

    >>> s = shapley_exact(synthetic_table({"ema": 0.01, "mixup": 0.02}), ["ema", "mixup"], "maximize")
    >>> list(s.values.trick), bool(abs(s.values.shapley.sum() - s.total_gain) < 1e-12), s.seeds
    (['ema', 'mixup'], True, (0, 1, 2))
    """
    wide, subsets = _wide(table, direction), _subsets(tricks)
    _require_arms(wide, [_arm(s) for s in subsets], "exact Shapley values need a full factorial; "
                  "use shapley_sampled otherwise")
    used, seeds, dropped = _complete_seeds(wide, [_arm(s) for s in subsets], "the factorial")
    values = used.to_numpy().T  # subsets x complete seeds
    means = dict(zip(subsets, np.nanmean(values, axis=1)))
    complete = dict(zip(subsets, values))
    rows = []
    for t, point, per_seed in zip(tricks, _shapley(means, tricks), _shapley(complete, tricks)):
        se = per_seed.std(ddof=1) / math.sqrt(len(per_seed)) if len(per_seed) >= 2 else np.nan
        rows.append({"trick": t, "shapley": point, "se": se, **_interval(point, se, len(per_seed) - 1),
                     "n_seeds": len(per_seed)})
    return ShapleyValues(pd.DataFrame(rows), float(means[subsets[-1]] - means[frozenset()]), seeds, dropped)


def shapley_sampled(table: pd.DataFrame, orders: Sequence[Sequence[str]], direction: str) -> ShapleyValues:
    """Monte-Carlo Shapley values from a ``shapley`` study, whose arms are the prefixes of ``orders``.

    ``raw``: the mean over orders of each trick's gain v(prefix + trick) - v(prefix). ``se`` adds the
    variance over orders (which orders were drawn) and over seeds finished in every arm used (training
    noise); the interval is around ``raw`` with t on min(orders, seeds) - 1 degrees of freedom. Every
    mean is over the same seeds: those finished in every arm used (``n_seeds``; see `shapley_exact`). Each
    order's gains telescope to v(all) - v(baseline), so ``raw`` adds up to ``total_gain`` to rounding;
    ``shapley`` shares out what is left in proportion to the variances, so it adds up exactly. Orders
    with an arm that never finished are left out: ``n_orders`` counts those used.

    >>> t = synthetic_table({"ema": 0.01, "mixup": 0.02})
    >>> s = shapley_sampled(t, [("ema", "mixup"), ("mixup", "ema")], "maximize")
    >>> s.values[["trick", "n_orders"]].to_dict("records")
    [{'trick': 'ema', 'n_orders': 2}, {'trick': 'mixup', 'n_orders': 2}]
    """
    tricks = sorted(orders[0]) if orders else []
    if not tricks or any(sorted(o) != tricks for o in orders):
        raise UserError("orders must be permutations of the same tricks (the study's sampled orders)")
    wide = _wide(table, direction)
    finished = wide.notna().any()
    usable = [o for o in orders if all(finished.get(_arm(frozenset(o[:i])), False) for i in range(len(o) + 1))]
    if not usable:
        raise UserError("no order has a finished run in every one of its arms: cannot estimate Shapley values")
    arms = sorted({_arm(frozenset(o[:i])) for o in usable for i in range(len(o) + 1)})
    col = {a: i for i, a in enumerate(arms)}
    # with[o, t] / before[o, t]: column of the arm where trick t joins order o, and of the arm just before
    with_, before = (np.array([[col[_arm(frozenset(o[:o.index(t) + j]))] for t in tricks] for o in usable])
                     for j in (1, 0))
    used, seed_ids, dropped = _complete_seeds(wide, arms, "the orders used")
    means, seeds = used.mean().to_numpy(), used.to_numpy().T  # arms (x complete seeds)
    by_order, by_seed = means[with_] - means[before], (seeds[with_] - seeds[before]).mean(axis=0)
    raw, m, n = by_order.mean(axis=0), len(usable), seeds.shape[1]
    var = ((by_order.var(axis=0, ddof=1) / m if m >= 2 else np.nan)  # which orders were drawn
           + (by_seed.var(axis=1, ddof=1) / n if n >= 2 else np.nan))  # training noise
    total = float(used[_arm(frozenset(tricks))].mean() - used[BASELINE].mean())  # as before, to the bit
    share = var / var.sum() if np.isfinite(var).all() and var.sum() > 0 else np.full(len(tricks), 1 / len(tricks))
    bounds = pd.DataFrame([_interval(r, s, min(m, n) - 1) for r, s in zip(raw, np.sqrt(var))])
    values = pd.DataFrame({"trick": tricks, "shapley": raw + share * (total - raw.sum()), "raw": raw,
                           "se": np.sqrt(var), **bounds, "n_orders": m, "n_seeds": n})
    return ShapleyValues(values, total, seed_ids, dropped)


@dataclass(frozen=True)
class Additivity:
    """Full-stack gain / sum of single-trick gains: 1 additive, < 1 overlapping, > 1 synergistic."""

    ratio: float
    full_gain: float
    single_gains: dict[str, float]
    reason: str | None = None  # why the ratio is NaN
    seeds: tuple = ()  # the seeds finished in every arm it uses, over which every mean is taken
    dropped: dict = field(default_factory=dict)  # each other seed -> the arms it lacks


def additivity_ratio(table: pd.DataFrame, tricks: Sequence[str], direction: str) -> Additivity:
    """Gain of the full stack over the baseline divided by the sum of the single-trick gains (arm means
    over the seeds finished in all those arms, as in `shapley_exact`).

    >>> a = additivity_ratio(synthetic_table({"ema": 0.01, "mixup": 0.02}, noise=0), ["ema", "mixup"], "maximize")
    >>> round(a.ratio, 6), {t: round(g, 6) for t, g in a.single_gains.items()}
    (1.0, {'ema': 0.01, 'mixup': 0.02})
    >>> additivity_ratio(synthetic_table({"ema": 0.01}), ["ema", "swa"], "maximize").reason
    'arms missing: ema+swa, swa'
    """
    wide, arms = _wide(table, direction), [frozenset(), frozenset(tricks), *(frozenset([t]) for t in tricks)]
    seeds, dropped = (), {}
    if all(wide.get(_arm(s), pd.Series(dtype=float)).notna().any() for s in arms):
        try:
            wide, seeds, dropped = _complete_seeds(wide, [_arm(s) for s in dict.fromkeys(arms)], "the additivity arms")
        except UserError as error:
            return Additivity(np.nan, np.nan, {t: np.nan for t in tricks}, str(error))
    means = wide.mean()
    v = {s: means.get(_arm(s), np.nan) for s in arms}
    singles = {t: float(v[frozenset([t])] - v[frozenset()]) for t in tricks}
    full, missing = float(v[frozenset(tricks)] - v[frozenset()]), sorted(_arm(s) for s, m in v.items() if np.isnan(m))
    if missing:
        return Additivity(np.nan, full, singles, f"arms missing: {', '.join(missing)}")
    if sum(singles.values()) <= 0:
        return Additivity(np.nan, full, singles, "the single-trick gains sum to <= 0: a ratio would mislead", seeds, dropped)
    return Additivity(full / sum(singles.values()), full, singles, None, seeds, dropped)


@dataclass(frozen=True)
class Improvement:
    """How often ``arm`` beats ``reference`` on the same seed (ties count half), Wilson interval."""

    probability: float
    wins: int
    ties: int
    n_pairs: int
    ci_low: float
    ci_high: float


def probability_of_improvement(table: pd.DataFrame, arm: str, reference: str, direction: str) -> Improvement:
    """Fraction of paired seeds on which ``arm`` is better than ``reference``.

    >>> probability_of_improvement(synthetic_table({"ema": 0.05}), "ema", "baseline", "maximize").probability
    1.0
    """
    wide = _wide(table, direction)
    _require_arms(wide, [arm, reference])
    d = (wide[arm] - wide[reference]).dropna().to_numpy()
    if len(d) == 0:
        return Improvement(np.nan, 0, 0, 0, np.nan, np.nan)
    wins, ties = int((d > 0).sum()), int((d == 0).sum())
    low, high = proportion_confint(wins + ties / 2, len(d), alpha=1 - LEVEL, method="wilson")
    return Improvement((wins + ties / 2) / len(d), wins, ties, len(d), float(low), float(high))


def _arm(subset: frozenset[str]) -> str:
    return arm_name(subset)


def _subsets(tricks: Sequence[str]) -> list[frozenset[str]]:
    return [frozenset(c) for r in range(len(tricks) + 1) for c in combinations(tricks, r)]


def _shapley(v: dict, tricks: Sequence[str]) -> list:
    """Each trick's Shapley value for ``v``: subset -> number (or per-seed array, elementwise)."""
    k = len(tricks)
    weight = [math.factorial(r) * math.factorial(k - r - 1) / math.factorial(k) for r in range(k)]
    return [sum(weight[len(s)] * (v[s | {t}] - v[s]) for s in _subsets([u for u in tricks if u != t])) for t in tricks]


def _complete_seeds(wide: pd.DataFrame, arms: Sequence[str], what: str) -> tuple[pd.DataFrame, tuple, dict]:
    """The rows of ``wide[arms]`` with a finished run in every arm, those seeds, and each other seed ->
    the arms it lacks. `UserError` when no seed is complete."""
    sub = wide[list(arms)]
    missing = sub.isna().to_numpy()
    ok = ~missing.any(axis=1)
    dropped = {_plain_seed(seed): [a for a, m in zip(arms, row) if m] for seed, row in zip(sub.index[~ok], missing[~ok])}
    if not ok.any():
        raise UserError(f"no seed has a finished run in every arm of {what}, so no seed-by-seed estimate is possible "
                        f"(seeds and the arms where their runs diverged or are missing: {dropped})")
    return sub[ok], tuple(_plain_seed(x) for x in sub.index[ok]), dropped


def _plain_seed(seed):
    return seed.item() if isinstance(seed, np.generic) else seed


def _runs(table: pd.DataFrame, direction: str = "maximize", tricks: Sequence[str] = ()) -> pd.DataFrame:
    """Evaluation runs: arm, seed, value, ``on.<trick>`` of ``tricks``, ``failed`` (diverged or no
    finite value) and ``signed`` (value x direction, NaN when failed)."""
    need = ["arm", "seed", "value", *(f"on.{k}" for k in tricks)]
    missing = [c for c in need if c not in table]
    if missing:
        present = ", ".join(c[3:] for c in table.columns if c.startswith("on.")) or "none"
        raise UserError(f"the table lacks column(s) {', '.join(missing)} (tricks in it: {present}); "
                        "pass the output of trickstack.ablations.export.tidy")
    keep = need + [c for c in ("diverged", "metric") if c in table]
    t = table.loc[table.phase == "eval", keep] if "phase" in table else table[keep]
    if t.empty:
        raise UserError("the table has no evaluation runs (phase == 'eval')")
    if "metric" in t and t.metric.nunique() > 1:
        raise UserError(f"the table mixes metrics {sorted(t.metric.unique())}: analyse one at a time")
    value = pd.to_numeric(t.value, errors="coerce").to_numpy(float)
    failed = ~np.isfinite(value) | (t.diverged.fillna(False).to_numpy(bool) if "diverged" in t else False)
    return t.assign(value=value, failed=failed, signed=np.where(failed, np.nan, _sign(direction) * value))


def _wide(table: pd.DataFrame, direction: str, failed: bool = False) -> pd.DataFrame:
    """Seeds x arms (in table order) of signed values; NaN where the run diverged or is missing. With
    ``failed``: 1.0 where every run of the seed in the arm failed, 0.0 where one finished, NaN where none ran."""
    t = _runs(table, direction)
    column = t.assign(failed=t.failed.astype(float)).groupby(["seed", "arm"], sort=False)["failed" if failed else "signed"]
    return (column.min() if failed else column.mean()).unstack().sort_index().reindex(columns=t.arm.unique())


def _worst_first(values: pd.Series, failed: pd.Series) -> pd.Series:
    """Signed values of one arm with a failed run as -inf (the worst score), NaN where none ran."""
    return values.where(failed != 1.0, -np.inf).where(failed.notna())


def _t_interval(x: np.ndarray, name: str) -> dict[str, float]:
    n = len(x)
    mean, sd = (float(np.mean(x)) if n else np.nan), (float(np.std(x, ddof=1)) if n >= 2 else np.nan)
    return {name: mean, "sd" if name == "mean" else "sd_diff": sd, **_interval(mean, sd / math.sqrt(max(n, 1)), n - 1)}


def _interval(centre: float, se: float, df: int) -> dict[str, float]:
    half = stats.t.ppf((1 + LEVEL) / 2, df) * se if df >= 1 and np.isfinite(se) else np.nan
    return {"ci_low": centre - half, "ci_high": centre + half}


def _adjusted(out: pd.DataFrame, method: str | None) -> pd.DataFrame:
    return out if method is None else out.assign(p_adjusted=correct(out.p_value, method), adjust=method)


def _require_arms(wide: pd.DataFrame, arms: Sequence[str], why: str = "") -> None:
    finished = wide.notna().any()
    missing = [a for a in arms if not finished.get(a, False)]
    if missing:
        raise UserError(f"no finished run in arm(s) {', '.join(missing)}" + (f": {why}" if why else "")
                        + f" (arms in the table: {', '.join(wide.columns)})")


def _require_estimable(design: np.ndarray, blocks: int, terms: list[str], n_main: int) -> None:
    """Add the terms one at a time: one that does not raise the rank is aliased with those before it."""
    rank = np.linalg.matrix_rank(design[:, :blocks])
    for j, term in enumerate(terms):
        cols = design[:, : blocks + j + 1]
        if np.linalg.matrix_rank(cols) > rank:
            rank += 1
            continue
        coef = np.linalg.lstsq(cols[:, :-1], cols[:, -1], rcond=None)[0][blocks:]
        partners = ", ".join(terms[i] for i in np.flatnonzero(np.abs(coef) > 1e-8)) or "the seed intercepts"
        if j < n_main:
            raise UserError(f"the main effect of {term!r} is not estimable (aliased with {partners}): "
                            "no two arms differ in it alone; run a design that varies it")
        raise UserError(f"interaction {term!r} is not estimable from this design (aliased with {partners}), "
                        "as in one-at-a-time or resolution-III data. Report main effects instead "
                        "(interactions=False), or run a factorial or a resolution-V fractional design")
