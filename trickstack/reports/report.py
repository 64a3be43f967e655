"""A study's report, computed from its stored trials only (`tidy(study)`) by `trickstack.stats.analysis`.

`build_report` works out which quantities the study's design supports, computes them, and says for
each of the others why it is missing; `render` writes the report as rich text, Markdown, JSON, CSV
or one self-contained HTML page (`trickstack.reports.html`). No number is typed: every one comes
from the table of runs or the study's stored attributes (tuning, greedy path, search best).

>>> from trickstack.stats.analysis import synthetic_table
>>> r = report_from_table(synthetic_table({"ema": 0.01, "mixup": 0.02}), StudyInfo("demo", "factorial", ["ema", "mixup"]))
>>> [key for key, s in r.sections.items() if s.available][:6]
['arms', 'baseline', 'full', 'effects', 'shapley', 'additivity']
>>> r.sections["greedy"].unavailable
'only a greedy study records a stacking path; this one is factorial'
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Optional, Sequence

import numpy as np
import pandas as pd

from trickstack.stats import analysis as an
from trickstack.core.errors import UserError, close_matches
from trickstack.core.outputs import check_new_file, spreadsheet_safe_frame

FORMATS = ("text", "md", "html", "json", "csv")
TESTS = ("t", "bootstrap", "permutation")
POWER = 0.8  # power for "seeds needed": the usual 80%
ALPHA, LEADERBOARD_ALPHA, LEADERBOARD_SEEDS = 0.05, 0.01, 5  # methodology: leaderboard claims need p < 0.01, >= 5 seeds

TITLES = {
    "arms": "Arms",
    "baseline": "Gain of each arm over the baseline",
    "full": "Gain of the full stack over each arm",
    "effects": "Main effects and two-way interactions",
    "shapley": "Shapley values",
    "additivity": "Additivity",
    "power": "Probability of improvement and seeds for 80% power, per trick",
    "tuning": "Tuning of the nuisance hyperparameters",
    "greedy": "Greedy stacking path",
    "search": "Search",
    "excluded": "Excluded arms and failed jobs",
}

HOW_TO_READ = {
    "general": "Gains are signed by the metric's direction, so a positive gain is an improvement whether the metric "
               "is maximized or minimized. Seeds are paired: seed i has the same initialisation and data order in every "
               "arm, and arms are compared seed by seed. Intervals are 95%. A diverged run is counted, never averaged.",
    "arms": "n: evaluation runs of the arm; diverged: how many of them diverged (left out of the mean); mean, sd and "
            "the t interval of the others, in the metric's own units.",
    "baseline": "gain: the mean over paired seeds of (arm - baseline). p: one-sided, for 'the arm is better than the "
                "baseline'; p adj.: corrected for testing every arm at once (Holm controls the chance of any false "
                "claim, Benjamini-Hochberg the expected share of false claims). pairs: seeds finished in both arms.",
    "full": "gain: the mean over paired seeds of (full stack - arm), i.e. what the tricks the arm lacks add on top of "
            "it. In a leave-one-out study this is each trick's contribution to the stack. p is one-sided for 'the "
            "full stack is better than the arm'.",
    "effects": "Main effect: the mean gain of switching a trick on, averaged over the settings of the other tricks in "
               "the design. Interaction a:b: half the difference between a's effect with b on and with b off "
               "(positive: they help each other, negative: they overlap). Fitted by least squares with one intercept "
               "per seed; p is two-sided.",
    "shapley": "Each trick's Shapley value is its gain averaged over every order of adding the tricks, so it does not "
               "depend on one arbitrary order; the values add up exactly to the gain of the full stack over the "
               "baseline. Exact from a full factorial; sampled from random orders otherwise, with an interval that "
               "includes which orders were drawn.",
    "additivity": "ratio = gain of the full stack / sum of the single-trick gains: 1 additive, below 1 the tricks "
                  "overlap (part of their gains is the same gain), above 1 they are synergistic.",
    "power": "P(improve): the share of paired seeds on which the trick's arm beats the comparison arm (ties count "
             "half), with a Wilson interval. seeds (80%): paired seeds a one-sided paired t-test at 0.05 needs to "
             "detect the observed gain 80% of the time; leaderboard: the same at 0.01 and at least 5 seeds. Infinite "
             "when the observed gain is not positive. Estimated from few seeds, these are rough.",
    "tuning": "Each arm's nuisance hyperparameters (learning rate, ...) were re-tuned with the same number of trials, "
              "on seeds disjoint from the evaluation seeds; the tuned values and the compute the tuning cost are shown "
              "beside the evaluation compute.",
    "greedy": "Each round adds to the current stack the candidate with the largest significant paired gain (one-sided "
              "t-tests, Holm-corrected); the path depends on the order of decisions, unlike Shapley values.",
    "search": "Configurations (tricks on and their parameters) tried by the sampler on search seeds; the best one was "
              "evaluated again on the evaluation seeds, so its reported gain is not inflated by having been selected.",
    "excluded": "Arms the design asked for that cannot be stacked (conflicting tricks), and jobs that kept failing.",
}


@dataclass(frozen=True)
class StudyInfo:
    """What the report needs to know about a study besides its runs: name, design, tricks, direction and
    the stored attributes (``spec``, ``tuning``, ``greedy_path``, ``search_best``, ``orders``, ...)."""

    name: str
    design: str
    tricks: list[str]
    direction: str = "maximize"
    attrs: dict = field(default_factory=dict)

    @classmethod
    def of(cls, study) -> "StudyInfo":
        attrs = dict(study.user_attrs)
        s = attrs.get("spec", {}).get("study", {})
        tricks = list(attrs.get("trick_order") or s.get("tricks") or [])
        return cls(study.study_name, s.get("design", "unknown"), tricks, study.direction.name.lower(), attrs)

    @property
    def spec(self) -> dict:
        return self.attrs.get("spec", {}).get("study", {})


@dataclass
class Section:
    key: str
    title: str
    table: Optional[pd.DataFrame] = None
    values: dict[str, Any] = field(default_factory=dict)  # scalars: total gain, ratio, ...
    notes: list[str] = field(default_factory=list)
    unavailable: Optional[str] = None  # why this study cannot give it
    labels: dict[str, str] = field(default_factory=dict)  # column -> heading, where it differs from LABELS

    @property
    def available(self) -> bool:
        return self.unavailable is None


@dataclass
class Report:
    info: StudyInfo
    meta: dict[str, Any]
    sections: dict[str, Section]


def build_report(study, adjust: str = "holm", test: str = "t", only: Optional[Sequence[str]] = None) -> Report:
    """The report of an Optuna study made by `trickstack.ablations.engine.ablate`."""
    from trickstack.ablations.export import tidy

    return report_from_table(tidy(study), StudyInfo.of(study), adjust, test, only)


def report_from_table(table: pd.DataFrame, info: StudyInfo, adjust: str = "holm", test: str = "t",
                      only: Optional[Sequence[str]] = None) -> Report:
    """The report of a tidy table of runs; ``only`` restricts it to some sections and refuses (`UserError`)
    a section the study cannot give, saying what it can give instead."""
    if adjust not in an.METHODS:
        raise UserError(f"--adjust must be holm or bh, got {adjust!r}")
    if test not in TESTS:
        raise UserError(f"--test must be t, bootstrap or permutation, got {test!r}")
    unknown = [k for k in only or [] if k not in TITLES]
    if unknown:
        raise UserError(f"unknown section {unknown[0]!r}{close_matches(unknown[0], TITLES)}; sections: {', '.join(TITLES)}")
    if table.empty or "phase" not in table or not (table.phase == "eval").any():
        other = 0 if table.empty else len(table)
        raise UserError(f"study {info.name!r} has no finished evaluation run yet"
                        + (f" (only {other} tuning or search runs)" if other else "") + ", so there is nothing to report; "
                        f"`trickstack status {info.name}` shows its progress"
                        + (f" and `trickstack export {info.name}` lists the runs it has" if other else ""))
    c = _Context(table, info, adjust, test)
    sections = {key: Section(key, title) for key, title in TITLES.items()}
    for key, section in sections.items():
        BUILDERS[key](c, section)
    if only:
        refused = [f"{k} ({sections[k].unavailable})" for k in only if not sections[k].available]
        if refused:
            can = ", ".join(k for k, s in sections.items() if s.available)
            raise UserError(f"study {info.name!r} ({info.design}) cannot report {'; '.join(refused)}. "
                            f"It can report: {can}")
        sections = {k: s for k, s in sections.items() if k in only}
    return Report(info, c.meta(), sections)


class _Context:
    def __init__(self, table: pd.DataFrame, info: StudyInfo, adjust: str, test: str):
        self.table, self.info, self.adjust, self.test = table, info, adjust, test
        self.direction, self.tricks, self.design = info.direction, list(info.tricks), info.design
        self.runs = table[table.phase == "eval"]
        self.summary = an.arm_summary(table, self.direction)
        self.finished = set(self.summary.arm[self.summary.n > self.summary.n_diverged])
        self.full = "+".join(sorted(self.tricks)) or an.BASELINE

    def has(self, *arms: str) -> bool:
        return all(a in self.finished for a in arms)

    def pair(self, arm: str, reference: str, test: str = "t") -> pd.Series:
        """`paired_differences` of ``arm`` over ``reference``, on the runs of those two arms only."""
        two = self.table[self.table.arm.isin([arm, reference])]
        d = an.paired_differences(two, reference, self.direction, test=test)
        return d[d.arm == arm].iloc[0]

    def absent(self, arm: str, what: str) -> str:
        """Why ``arm`` has no finished run: the design lacks it, it was excluded, or its runs failed."""
        why = dict(map(tuple, self.info.attrs.get("excluded", []))).get(arm)
        what = what if arm == an.BASELINE else f"{what} ({arm})"
        if why:
            return f"{what} was excluded: {why}"
        if self.design == "search":
            best = (self.info.attrs.get("search_best") or {}).get("arm")
            return f"a search study evaluates the baseline and its best configuration ({best}) only, not {what}"
        if self.design == "greedy" and arm != an.BASELINE:
            return f"the greedy path stopped before {what}"
        planned = self.info.attrs.get("arms")
        if planned is not None and arm not in planned:
            return f"the {self.design} design does not include {what}"
        return f"{what} has no finished run: every run of it diverged or failed"

    def meta(self) -> dict[str, Any]:
        s, budget = self.info.spec, self.info.spec.get("budget") or {}
        unit = next((u for u in ("flops", "samples", "seconds") if budget.get(u) is not None), None)
        return {"study": self.info.name, "design": self.design, "workload": s.get("workload"),
                "metric": str(self.runs.metric.iloc[0]), "direction": self.direction,
                "budget": f"{budget[unit]:.4g} {unit}" if unit else None, "tricks": self.tricks,
                "base": s.get("base") or [], "overrides": s.get("overrides") or {},
                "seeds": int(self.runs.seed.nunique()), "arms": int(self.runs.arm.nunique()),
                "eval_runs": len(self.runs), "diverged_runs": int(self.summary.n_diverged.sum()),
                "finished": bool(self.info.attrs.get("finished", True)), "test": self.test, "adjust": self.adjust,
                "baseline": an.BASELINE, "full_stack": self.full}


def _arms(c: _Context, s: Section) -> None:
    s.table = c.summary[["arm", "n", "n_diverged", "mean", "sd", "ci_low", "ci_high"]]
    if c.summary.n_diverged.any():
        s.notes.append(f"{int(c.summary.n_diverged.sum())} run(s) diverged; they count in n and are left out of the means.")
    best = c.info.attrs.get("search_best")
    if best and best.get("trick_params"):
        params = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in best["trick_params"].items())
        s.notes.append(f"arm {best['arm']} ran with the parameters found by the search: {params}.")


def _baseline(c: _Context, s: Section) -> None:
    if not c.has(an.BASELINE):
        s.unavailable = c.absent(an.BASELINE, "the baseline")
        return
    d = an.paired_differences(c.table, an.BASELINE, c.direction, test=c.test, adjust=c.adjust)
    if d.empty:
        s.unavailable = "the baseline is the only arm evaluated"
        return
    s.table = d[["arm", "n_pairs", "n_unpaired", "mean_gain", "sd_diff", "ci_low", "ci_high", "p_value", "p_adjusted"]]
    s.notes.append(f"test: {c.test}; p adj.: {c.adjust} over the {len(d)} arms.")


def _full(c: _Context, s: Section) -> None:
    if not c.has(c.full):
        s.unavailable = c.absent(c.full, "the full stack")
        return
    rows = []
    for arm in (a for a in c.summary.arm if a != c.full):
        r = c.pair(c.full, arm, c.test)
        missing = sorted(set(c.tricks) - set(arm.split("+")))
        rows.append({"arm": arm, "lacks": "+".join(missing), **r.drop(["arm", "reference", "test"]).to_dict()})
    if not rows:
        s.unavailable = "the full stack is the only arm evaluated"
        return
    t = pd.DataFrame(rows)
    s.table = t.assign(p_adjusted=an.correct(t.p_value, c.adjust))[
        ["arm", "lacks", "n_pairs", "n_unpaired", "mean_gain", "sd_diff", "ci_low", "ci_high", "p_value", "p_adjusted"]]
    s.notes.append(f"full stack: {c.full}; test: {c.test}; p adj.: {c.adjust} over the {len(t)} arms.")


def _effects(c: _Context, s: Section) -> None:
    if c.design not in ("factorial", "fractional"):
        s.unavailable = "main effects and interactions need a factorial or fractional design; " + {
            "one-at-a-time": f"each trick alone against the baseline is under '{TITLES['baseline']}'",
            "leave-one-out": f"each trick's contribution to the full stack is under '{TITLES['full']}'",
            "shapley": f"the order-independent attribution of this design is under '{TITLES['shapley']}'",
        }.get(c.design, f"a {c.design} study chooses its arms from its results, so they are not a balanced design")
        return
    s.labels = {"p_value": "p (two-sided)"}
    try:
        s.table = an.factorial_effects(c.table, c.tricks, c.direction, interactions=True, adjust=c.adjust)
    except UserError as error:
        try:
            s.table = an.factorial_effects(c.table, c.tricks, c.direction, interactions=False, adjust=c.adjust)
        except UserError as main_error:
            s.unavailable = str(main_error)
            return
        s.notes.append(f"two-way interactions are not reported: {error}")
    s.table = s.table.drop(columns=["adjust"])
    s.notes.append(f"p adj.: {c.adjust} over the {len(s.table)} terms.")


def _shapley(c: _Context, s: Section) -> None:
    if c.design == "factorial":
        try:
            sv = an.shapley_exact(c.table, c.tricks, c.direction)
        except UserError as error:
            s.unavailable = str(error)
            return
        method = f"exact, over the {2 ** len(c.tricks)} arms of the factorial"
    elif c.design == "shapley":
        orders = c.info.attrs.get("orders")
        if orders is None:  # a study run before the orders were stored: they follow from its spec
            from trickstack.ablations.designs import shapley_arms

            orders = shapley_arms(c.info.spec["tricks"], c.info.spec["permutations"], c.info.spec["seed"])[1]
            s.notes.append("the sampled orders were recomputed from the study's spec (permutations, seed).")
        try:
            sv = an.shapley_sampled(c.table, [list(o) for o in orders], c.direction)
        except UserError as error:
            s.unavailable = str(error)
            return
        method = f"sampled, from {int(sv.values.n_orders.iloc[0])} of {len(orders)} random orders with every arm finished"
    else:
        s.unavailable = "Shapley values need every subset of the tricks (factorial) or arms along random orders (shapley); " + (
            "a fraction has some of the subsets only: its main effects are the order-independent attribution"
            if c.design == "fractional" else f"a {c.design} study has neither")
        return
    s.table = sv.values
    s.values = {"method": method, "full_stack_gain": sv.total_gain, "sum_of_values": float(sv.values.shapley.sum())}


def _additivity(c: _Context, s: Section) -> None:
    if len(c.tricks) < 2:
        s.unavailable = "one trick: there is nothing to add up"
        return
    a = an.additivity_ratio(c.table, c.tricks, c.direction)
    if a.reason and a.reason.startswith("arms missing"):
        s.unavailable = f"it needs the baseline, each trick alone and the full stack; {a.reason}"
        return
    s.table = pd.DataFrame({"trick": list(a.single_gains), "single_gain": list(a.single_gains.values())})
    s.values = {"ratio": a.ratio, "full_stack_gain": a.full_gain, "sum_of_single_gains": sum(a.single_gains.values())}
    if a.reason:
        s.notes.append(f"no ratio: {a.reason}")


def _power(c: _Context, s: Section) -> None:
    rows, missing, unsolved = [], [], []
    for t in c.tricks:
        pair = _trick_pair(c, t)
        if pair is None:
            missing.append(t)
            continue
        arm, ref = pair
        d, imp = c.pair(arm, ref), an.probability_of_improvement(c.table, arm, ref, c.direction)
        seeds = [np.nan, np.nan]
        if d.n_pairs >= 2 and d.sd_diff > 0:
            seeds = [_seeds_for_power(d.mean_gain, d.sd_diff, ALPHA),
                     max(LEADERBOARD_SEEDS, _seeds_for_power(d.mean_gain, d.sd_diff, LEADERBOARD_ALPHA))]
            if math.isnan(seeds[0]):
                unsolved.append(t)
        rows.append({"trick": t, "comparison": f"{arm} vs {ref}", "n_pairs": int(d.n_pairs), "mean_gain": d.mean_gain,
                     "sd_diff": d.sd_diff, "p_improve": imp.probability, "p_improve_low": imp.ci_low,
                     "p_improve_high": imp.ci_high, "seeds_80": seeds[0], "seeds_80_leaderboard": seeds[1]})
    if not rows:
        s.unavailable = ("per-trick power needs, for a trick, two finished arms that differ in that trick alone; "
                         f"no pair of arms of this {c.design} study does")
        return
    s.table = pd.DataFrame(rows)
    if missing:
        s.notes.append(f"not available for {', '.join(missing)}: no two finished arms differ in that trick alone.")
    if unsolved:
        s.notes.append(f"no seed count for {', '.join(unsolved)}: statsmodels' power solver did not converge.")


def _seeds_for_power(gain: float, sd: float, alpha: float) -> float:
    """`analysis.seeds_for_power`, NaN where statsmodels' solver still finds no root."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # statsmodels' ConvergenceWarning: the NaN below says it
        try:
            return an.seeds_for_power(gain, sd, alpha, POWER)
        except ValueError:  # math.ceil(nan)
            return math.nan


def _trick_pair(c: _Context, trick: str) -> Optional[tuple[str, str]]:
    """Two finished arms that differ in ``trick`` alone: the trick alone vs the baseline if run, else the
    full stack vs the full stack without it, else the first such pair found."""
    arms = {a: frozenset() if a == an.BASELINE else frozenset(a.split("+")) for a in c.finished}
    name = {v: k for k, v in arms.items()}
    full = frozenset(c.tricks)
    for with_, without in [(frozenset([trick]), frozenset()), (full, full - {trick})]:
        if with_ in name and without in name:
            return name[with_], name[without]
    return next(((name[a], name[a - {trick}]) for a in sorted(arms.values(), key=len)
                 if trick in a and a - {trick} in name), None)


def _tuning(c: _Context, s: Section) -> None:
    tuning, nuisance = c.info.attrs.get("tuning") or {}, [k for k in c.runs if k.startswith("nuisance.")]
    if not tuning:
        used = c.runs[nuisance].drop_duplicates()
        values = "; ".join(", ".join(f"{k[9:]}={v:g}" if isinstance(v, float) else f"{k[9:]}={v}" for k, v in row.items())
                           for row in used.to_dict("records"))
        s.unavailable = ("the study did not re-tune the nuisance hyperparameters per arm" +
                         (" (tuning has not finished)" if c.info.attrs.get("spec", {}).get("tune") else " (no [tune] section)")
                         + f"; every arm ran with {values or 'the workload defaults'}, which may suit some arms better than others")
        return
    eval_flops = c.runs.groupby("arm").flops.sum()
    rows = [{"arm": arm, "trials": t["trials"], "tuning_flops": t["flops"], "tuning_seconds": t["seconds"],
             "eval_flops": eval_flops.get(arm, np.nan), **{f"tuned.{k}": v for k, v in (t.get("best") or {}).items()}}
            for arm, t in tuning.items()]
    s.table = pd.DataFrame(rows)
    trials = sorted({r["trials"] for r in rows})
    s.notes.append(f"every arm had {trials[0]} tuning trial(s)" if len(trials) == 1
                   else f"the arms had unequal tuning budgets ({trials} trials): the comparison is not fair")


def _greedy(c: _Context, s: Section) -> None:
    path = c.info.attrs.get("greedy_path")
    if c.design != "greedy" or path is None:
        s.unavailable = (f"only a greedy study records a stacking path; this one is {c.design}" if c.design != "greedy"
                         else "the greedy path is stored when the study finishes")
        return
    s.table = pd.DataFrame([{"round": i + 1, "current": r["current"], "candidate": arm, "gain": gain, "p_value": p,
                             "added": r["added"] is not None and set(arm.split("+")) - set(r["current"].split("+")) == {r["added"]}}
                            for i, r in enumerate(path) for arm, gain, p in r["tests"]])
    last = path[-1] if path else {"current": an.BASELINE, "added": None}
    stack = "+".join(sorted({*last["current"].split("+"), last["added"] or an.BASELINE} - {an.BASELINE})) or an.BASELINE
    s.values = {"final_stack": stack, "alpha": c.info.spec.get("alpha")}
    s.labels = {"p_value": "p (one-sided)"}


def _search(c: _Context, s: Section) -> None:
    best = c.info.attrs.get("search_best")
    if c.design != "search" or best is None:
        s.unavailable = (f"only a search study has a best configuration; this one is {c.design}" if c.design != "search"
                         else "the best configuration is stored when the search finishes")
        return
    runs = c.table[c.table.phase == "search"]
    params = [k for k in runs if "." in k and not k.startswith(("on.", "nuisance."))
              and k.split(".", 1)[0] in c.tricks and runs[k].notna().any()]
    s.table = runs.groupby("trial", sort=True).agg(
        arm=("arm", "first"), seeds=("seed", "nunique"), mean_value=("value", "mean"), **{k: (k, "first") for k in params}
    ).reset_index(drop=True)
    s.values = {"best_arm": best["arm"], "best_search_value": best["value"],
                **{f"best.{k}": v for k, v in best["trick_params"].items()}}
    s.notes.append(f"{best['arm']} was evaluated again on the evaluation seeds: see '{TITLES['arms']}' and '{TITLES['baseline']}'.")


def _excluded(c: _Context, s: Section) -> None:
    rows = [{"arm": arm, "reason": why} for arm, why in c.info.attrs.get("excluded", [])]
    rows += [{"arm": job, "reason": "job failed on every retry"} for job in c.info.attrs.get("failed_jobs", [])]
    s.table = pd.DataFrame(rows, columns=["arm", "reason"])
    if not rows:
        s.notes.append("none: every arm the design asked for was run.")


BUILDERS: dict[str, Callable[[_Context, Section], None]] = {
    "arms": _arms, "baseline": _baseline, "full": _full, "effects": _effects, "shapley": _shapley,
    "additivity": _additivity, "power": _power, "tuning": _tuning, "greedy": _greedy, "search": _search,
    "excluded": _excluded,
}

# ---- rendering -----------------------------------------------------------------------------------------

LABELS = {"n_diverged": "diverged", "n_pairs": "pairs", "n_unpaired": "unpaired", "mean_gain": "gain",
          "sd_diff": "sd of diff", "p_value": "p (one-sided)", "p_adjusted": "p adj.", "p_improve": "P(improve)",
          "seeds_80": "seeds (80%)", "seeds_80_leaderboard": "seeds (leaderboard)", "n_seeds": "seeds",
          "n_orders": "orders", "single_gain": "gain alone", "tuning_flops": "tuning FLOPs",
          "tuning_seconds": "tuning s", "eval_flops": "evaluation FLOPs", "mean_value": "mean over search seeds"}
INTEGERS = {"n", "n_diverged", "n_pairs", "n_unpaired", "n_seeds", "n_orders", "trials", "round", "seeds", "df",
            "seeds_80", "seeds_80_leaderboard"}


def fmt(column: str, value: Any) -> str:
    """One cell for people: dashes for missing, ∞ for 'no number of seeds', units-aware precision."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, str) or not isinstance(value, (int, float, np.number)):
        return str(value)
    if math.isinf(value):
        return "∞" if value > 0 else "-∞"
    if column in INTEGERS:
        return f"{int(value)}"
    if "." in column:  # a tuned nuisance value or a trick parameter: significant digits, not decimals
        return f"{value:.4g}"
    if column.startswith("p_improve"):
        return f"{value:.2f}"
    if column.startswith("p_") or "flops" in column:
        return f"{value:.3g}"
    if column.endswith("seconds"):
        return f"{value:.1f}"
    return f"{value:.4f}" if value == 0 or 1e-4 <= abs(value) < 1e4 else f"{value:.3g}"


def display(section: Section) -> tuple[list[str], list[list[str]]]:
    """Headings and formatted rows; ``x_low``/``x_high`` (``ci_low``/``ci_high``) become one interval column."""
    t, heads, cols = section.table, [], []
    for col in t.columns:
        if col.endswith("_high") and col[:-5] + "_low" in t:
            continue
        if col.endswith("_low") and col[:-4] + "_high" in t:
            base = col[:-4]
            heads.append("95% CI" if base == "ci" else f"{LABELS.get(base, base)} 95% CI")
            cols.append((col, col[:-4] + "_high"))
        else:
            heads.append(section.labels.get(col, LABELS.get(col, col)))
            cols.append((col,))
    rows = [[f"[{fmt(c[0], r[c[0]])}, {fmt(c[1], r[c[1]])}]" if len(c) == 2 else fmt(c[0], r[c[0]]) for c in cols]
            for r in t.to_dict("records")]
    return heads, rows


def header_lines(report: Report) -> list[str]:
    m = report.meta
    lines = [f"design {m['design']} over {len(m['tricks'])} trick(s): {', '.join(m['tricks'])}",
             f"workload {m['workload']}, metric {m['metric']} ({m['direction']}), budget {m['budget']}",
             f"{m['eval_runs']} evaluation runs in {m['arms']} arms on {m['seeds']} paired seeds; "
             f"{m['diverged_runs']} diverged",
             f"paired test {m['test']}, multiple-comparison correction {m['adjust']}"]
    if m["base"] or m["overrides"]:
        lines.append(f"every arm starts from: {', '.join(m['base']) or 'no trick'}"
                     + (f"; fixed values: {', '.join(f'{k}={v}' for k, v in m['overrides'].items())}" if m["overrides"] else ""))
    if not m["finished"]:
        lines.append("the study has not finished: these numbers are from the runs so far")
    return lines


def value_lines(section: Section) -> list[str]:
    return [f"{k if '.' in k else k.replace('_', ' ')}: {fmt(k, v)}" for k, v in section.values.items() if v is not None]


def how_to_read(report: Report) -> list[tuple[str, str]]:
    return [("general", HOW_TO_READ["general"])] + [
        (s.title, HOW_TO_READ[k]) for k, s in report.sections.items() if s.available]


def render_text(report: Report, console) -> None:
    from rich.table import Table
    from rich.text import Text  # Text, not markup: notes hold brackets ([tune]) and colons (a:b:) verbatim

    console.print(Text(f"Report of study {report.info.name}", style="bold"))
    for line in header_lines(report):
        console.print(Text(f"  {line}"))
    for s in report.sections.values():
        console.print()
        if not s.available:
            console.print(Text.assemble((s.title, "bold"), ": ", ("not available", "yellow"), f" - {s.unavailable}"))
            continue
        if s.table is not None and not s.table.empty:
            heads, rows = display(s)
            table = Table(*heads, title=s.title, title_style="bold", title_justify="left")
            for row in rows:
                table.add_row(*(Text(cell) for cell in row))
            console.print(table)
        else:
            console.print(Text(s.title, style="bold"))
        for line in value_lines(s) + s.notes:
            console.print(Text(f"  {line}"))
    console.print()
    console.print(Text("How to read this", style="bold"))
    for title, text in how_to_read(report):
        console.print(Text.assemble("  ", (title, "bold"), f": {text}"))


def render_markdown(report: Report) -> str:
    def cell(text: str) -> str:
        return text.replace("|", "\\|")

    out = [f"# Report of study `{report.info.name}`", "", *[f"- {line}" for line in header_lines(report)]]
    for s in report.sections.values():
        out += ["", f"## {s.title}", ""]
        if not s.available:
            out.append(f"*Not available:* {s.unavailable}")
            continue
        if s.table is not None and not s.table.empty:
            heads, rows = display(s)
            out += ["| " + " | ".join(map(cell, heads)) + " |", "|" + " --- |" * len(heads)]
            out += ["| " + " | ".join(map(cell, row)) + " |" for row in rows] + [""]
        out += [f"- {line}" for line in value_lines(s) + s.notes]
    out += ["", "## How to read this", ""] + [f"- **{title}**: {text}" for title, text in how_to_read(report)]
    return "\n".join(out) + "\n"


def _plain(value: Any) -> Any:
    """JSON-safe: numpy scalars to Python, NaN and infinities to null (the CSV keeps 'inf')."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def to_dict(report: Report) -> dict[str, Any]:
    sections = {k: {"title": s.title, "available": s.available, "reason": s.unavailable, "values": s.values,
                    "notes": s.notes, "rows": [] if s.table is None else s.table.to_dict("records")}
                for k, s in report.sections.items()}
    return _plain({"study": report.info.name, "meta": report.meta, "sections": sections,
                   "how_to_read": {k: v for k, v in HOW_TO_READ.items() if k == "general" or k in sections}})


def render_json(report: Report) -> str:
    return json.dumps(to_dict(report), indent=1, allow_nan=False) + "\n"


def csv_tables(report: Report) -> dict[str, pd.DataFrame]:
    """One table per section with rows, and ``values``: the header, scalars and reasons, as (section, name, value)."""
    rows = [("study", k, json.dumps(v) if isinstance(v, (list, dict)) else v) for k, v in report.meta.items()]
    for k, s in report.sections.items():
        rows += [(k, "unavailable", s.unavailable)] if not s.available else []
        rows += [(k, name, v) for name, v in s.values.items()] + [(k, "note", n) for n in s.notes]
    tables = {k: s.table for k, s in report.sections.items() if s.table is not None and not s.table.empty}
    return {**tables, "values": pd.DataFrame(rows, columns=["section", "name", "value"])}


def render_csv(report: Report) -> str:
    """Every table in one CSV: ``section`` first, then the tables' columns, then ``name`` and ``value``, which
    only the section's scalars, notes and reasons fill (read back, group by section, and split on ``name``)."""
    tables = csv_tables(report)
    values = tables.pop("values")
    merged = pd.concat([t.assign(section=k) for k, t in tables.items()] + [values], ignore_index=True)
    merged = spreadsheet_safe_frame(merged[["section", *(c for c in merged if c != "section")]])
    return merged.to_csv(index=False, quoting=csv.QUOTE_MINIMAL)


def safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)


def write(report: Report, fmt_: str, out_dir: Optional[Path], overwrite: bool = False,
          protected: Iterable[Optional[Path]] = ()) -> tuple[Optional[str], list[Path]]:
    """Render ``report``; return (text for standard output or None, files written). An existing file
    is replaced only with ``overwrite``, a ``protected`` one (the study's storage) never."""
    if fmt_ not in FORMATS:
        raise UserError(f"--format must be one of {', '.join(FORMATS)}, got {fmt_!r}")
    stem = safe_name(report.info.name)
    if fmt_ == "csv" and out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        tables = csv_tables(report)
        paths = [check_new_file(out_dir / f"{stem}-{key}.csv", overwrite, protected) for key in tables]
        for path, t in zip(paths, tables.values()):
            spreadsheet_safe_frame(t).to_csv(path, index=False)
        return None, paths
    if fmt_ == "text":
        from rich.console import Console

        buffer = io.StringIO()
        render_text(report, Console(file=buffer, width=140, color_system=None))
        text = buffer.getvalue()
    elif fmt_ == "html":
        from trickstack.reports.html import render_html

        text, out_dir = render_html(report), out_dir or Path(".")
    else:
        text = {"md": render_markdown, "json": render_json, "csv": render_csv}[fmt_](report)
    if out_dir is None:
        return text, []
    out_dir.mkdir(parents=True, exist_ok=True)
    path = check_new_file(out_dir / f"{stem}-report.{'txt' if fmt_ == 'text' else fmt_}", overwrite, protected)
    path.write_text(text, encoding="utf-8")
    return None, [path]
