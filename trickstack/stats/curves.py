"""Learning curves of many runs: the curve table, each arm's mean curve over seeds, and the arms ranked part way.

The curve table is built here and nowhere else, from run records (`RunRecord` or the same as a JSON dict, as a
study stores them), one row per point of a run's curve (`trickstack.core.records.Curve`):

==============  ===================================================================================
``arm``         the stack's name; ``seed``: the paired seed
``kind``        ``train`` (``value`` is the smoothed training loss) or ``eval`` (``value`` is the eval metric,
                measured outside the budget)
``fraction``    share of the budget spent; ``steps``, ``flops``, ``samples``, ``seconds``: spent so far
``value``       the loss or the metric; NaN where it was not finite
==============  ===================================================================================

A record without a curve (schema 1, or a run that did not record one) adds no row; `missing_curves` counts them.

>>> curves_table({}).empty
True
"""

from __future__ import annotations

import warnings
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from trickstack.stats.table import Record

COLUMNS = ["arm", "seed", "kind", "fraction", "steps", "flops", "samples", "seconds", "value"]
GRID = np.linspace(1 / 64, 1.0, 64)  # the shares of the budget at which seeds' curves are averaged
CHECKPOINTS = (0.25, 0.5, 1.0)  # the shares of the budget at which `ranking` ranks the arms
NOT_SMALLER_BUDGETS = ("These are points on the curves of runs at the full budget, not runs at smaller budgets: "
                       "the learning-rate schedule and every trick's own schedule end at the full budget, so a run "
                       "given 25% of it would anneal sooner and end elsewhere. Only a study at that budget measures one.")


def _dict(record: Record) -> Mapping[str, Any]:
    return record if isinstance(record, Mapping) else record.model_dump(mode="json")


def curve_rows(record: Record, arm: str) -> list[dict[str, Any]]:
    """The rows of ``record``'s curve (none without one)."""
    r = _dict(record)
    curve = r.get("curve")
    if not curve:
        return []
    rows = []
    for kind, points, key in (("train", curve["points"], "train_loss"), ("eval", curve.get("eval_points", []), "value")):
        for p in points:
            rows.append({"arm": arm, "seed": r["seed"], "kind": kind, "fraction": p["fraction"], "steps": p["steps"],
                         "flops": p["flops"], "samples": p["samples"], "seconds": p["seconds"],
                         "value": np.nan if p[key] is None else p[key]})
    return rows


def curves_table(arms: Mapping[str, Iterable[Record]]) -> pd.DataFrame:
    """The curves of several arms' runs (``arm name -> records``)."""
    return pd.DataFrame([row for arm, records in arms.items() for r in records for row in curve_rows(r, arm)],
                        columns=COLUMNS)


def missing_curves(runs: pd.DataFrame, curves: pd.DataFrame) -> pd.DataFrame:
    """Per arm of the runs table ``runs``: its runs (``n``) and how many have no curve (``missing``)."""
    have = set(map(tuple, curves[["arm", "seed"]].drop_duplicates().to_numpy())) if not curves.empty else set()
    flags = [(arm, (arm, seed) not in have) for arm, seed in zip(runs.arm, runs.seed)]
    out = pd.DataFrame(flags, columns=["arm", "missing"]).groupby("arm", sort=False).missing.agg(["size", "sum"])
    return pd.DataFrame({"arm": out.index, "n": out["size"].to_numpy(), "missing": out["sum"].to_numpy()})


def _on_grid(points: pd.DataFrame, grid: np.ndarray) -> dict[str, np.ndarray]:
    """One seed's train curve interpolated at ``grid``. A run that ended with a finite loss is held at its last point
    to the end of the budget (a run ends within a step of it); a diverged one is NaN past its last finite point."""
    points = points.sort_values("fraction")
    p = points.dropna(subset=["value"])
    finished = len(p) and np.isfinite(points.value.iloc[-1])
    end = np.inf if finished else (p.fraction.max() if len(p) else -np.inf)
    out = {}
    for col in ("value", "flops", "seconds"):
        y = np.interp(grid, p.fraction, p[col]) if len(p) else np.full(len(grid), np.nan)
        out[col] = np.where(grid <= end + 1e-9, y, np.nan)
    return out


def mean_curves(curves: pd.DataFrame, grid: Sequence[float] = GRID) -> pd.DataFrame:
    """Each arm's mean training-loss curve over its seeds at the shares of the budget ``grid``, with a 95% t band
    (``low``, ``high``; none from one seed) and the mean FLOPs and seconds spent there; ``n``: seeds averaged."""
    grid = np.asarray(grid, float)
    out = []
    for arm, runs in curves[curves.kind == "train"].groupby("arm", sort=False):
        seeds = [_on_grid(points, grid) for _, points in runs.groupby("seed")]
        loss = np.vstack([s["value"] for s in seeds])
        n = np.sum(np.isfinite(loss), axis=0)
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a share of the budget no seed reached: NaN, said so
            mean, sd = np.nanmean(loss, axis=0), np.nanstd(loss, axis=0, ddof=1)
            half = stats.t.ppf(0.975, np.maximum(n - 1, 1)) * sd / np.sqrt(n)
            flops = np.nanmean(np.vstack([s["flops"] for s in seeds]), axis=0)
            seconds = np.nanmean(np.vstack([s["seconds"] for s in seeds]), axis=0)
        half = np.where(n > 1, half, np.nan)
        out.append(pd.DataFrame({"arm": arm, "fraction": grid, "n": n, "mean": mean, "low": mean - half,
                                 "high": mean + half, "flops": flops, "seconds": seconds}))
    return pd.concat(out, ignore_index=True) if out else pd.DataFrame(
        columns=["arm", "fraction", "n", "mean", "low", "high", "flops", "seconds"])


def ranking(curves: pd.DataFrame, at: Sequence[float] = CHECKPOINTS) -> pd.DataFrame:
    """The arms ranked by their mean smoothed training loss at the shares ``at`` of the budget (1: lowest loss),
    read off the curves (`NOT_SMALLER_BUDGETS`): columns ``arm``, then ``loss_<pct>`` and ``rank_<pct>`` each."""
    means = mean_curves(curves, at)
    if means.empty:
        return pd.DataFrame(columns=["arm"])
    table = means.pivot(index="arm", columns="fraction", values="mean").reindex(columns=list(at))
    out = pd.DataFrame({"arm": table.index})
    for f in at:
        loss = table[f].to_numpy()
        out[f"loss_{f:.0%}"] = loss
        out[f"rank_{f:.0%}"] = pd.Series(loss).rank(method="min").to_numpy()
    return out.sort_values(f"rank_{at[-1]:.0%}", na_position="last", kind="stable").reset_index(drop=True)


def metric_ranking(curves: pd.DataFrame, runs: pd.DataFrame, direction: str, at: Sequence[float] = CHECKPOINTS,
                   tolerance: float = 1 / 64) -> pd.DataFrame:
    """The arms ranked by their mean eval metric at the shares ``at`` of the budget (1: best): from the curves' eval
    points within ``tolerance`` of each share, and at 1 from the runs' final values (``runs``: the runs table). A
    share no eval point is near is left out; empty when only the final values remain."""
    evals = curves[curves.kind == "eval"]
    columns: dict[float, pd.Series] = {}
    for f in at:
        if f == 1.0:
            finished = runs[~runs.diverged.astype(bool)]
            columns[f] = finished.groupby("arm", sort=False).value.mean()
            continue
        near = evals[(evals.fraction - f).abs() <= tolerance]
        if not near.empty:
            columns[f] = near.groupby("arm", sort=False).value.mean()
    if not any(f != 1.0 for f in columns):
        return pd.DataFrame(columns=["arm"])
    table = pd.DataFrame(columns)
    out = pd.DataFrame({"arm": table.index})
    for f in table.columns:
        value = table[f].to_numpy(float)
        out[f"metric_{f:.0%}"] = value
        out[f"rank_{f:.0%}"] = pd.Series(value).rank(method="min", ascending=direction == "minimize").to_numpy()
    return out.sort_values(out.columns[-1], na_position="last", kind="stable").reset_index(drop=True)
