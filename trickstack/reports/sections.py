"""A study's report, computed from its stored trials only (`tidy(study)`) by `trickstack.stats.analysis`.

`build_report` works out which quantities the study's design supports, computes them, and says for
each of the others why it is missing; `trickstack.reports.render` writes it as rich text, Markdown, JSON,
CSV or one self-contained HTML page (`trickstack.reports.html`). No number is typed: every one comes
from the table of runs or the study's stored attributes (tuning, greedy path, search best).

>>> from trickstack.stats.analysis import synthetic_table
>>> r = report_from_table(synthetic_table({"ema": 0.01, "mixup": 0.02}), StudyInfo("demo", "factorial", ["ema", "mixup"]))
>>> [key for key, s in r.sections.items() if s.available][:6]
['arms', 'baseline', 'full', 'effects', 'shapley', 'additivity']
>>> r.sections["greedy"].unavailable
'only a greedy study records a stacking path; this one is factorial'
"""

from __future__ import annotations

import math
from typing import Any, Callable, Optional, Sequence

import numpy as np
import pandas as pd

from trickstack.ablations.designs import shapley_arms
from trickstack.ablations.export import tidy, tidy_curves
from trickstack.ablations.state import StudyState
from trickstack.core.budget import UNITS
from trickstack.core.errors import UserError, close_matches
from trickstack.core.stacks import BASELINE, arm_name, parse_arm
from trickstack.reports.model import TITLES, Report, Section, StudyInfo
from trickstack.stats import analysis as an
from trickstack.stats import curves as cv
from trickstack.stats import paired_tests, planning
from trickstack.stats.rules import LEADERBOARD_ALPHA, LEADERBOARD_MIN_SEEDS, STUDY_ALPHA

TESTS = an.TESTS
POWER = planning.POWER  # power for "seeds needed": the usual 80%


def build_report(study, adjust: str = "holm", test: str = "t", only: Optional[Sequence[str]] = None) -> Report:
    """The report of an Optuna study made by `trickstack.ablations.engine.ablate`."""
    return report_from_table(tidy(study), study_info(study), adjust, test, only, curves=tidy_curves(study))


def study_info(study) -> StudyInfo:
    """What a report needs to know of a stored study besides its runs."""
    state = StudyState(study)
    s = state.study_section
    tricks = state.trick_order or list(s.get("tricks") or [])
    return StudyInfo(state.name, s.get("design", "unknown"), tricks, state.direction, spec=s,
                     tuned=bool((state.spec or {}).get("tune")), arms=state.arms, orders=state.orders,
                     excluded=state.excluded, failed_jobs=state.failed_jobs, tuning=state.tuning,
                     greedy_path=state.greedy_path if state.finished or state.greedy_path else None,
                     search_best=state.search_best or None, finished=state.finished, stopped=state.stopped)


def report_from_table(table: pd.DataFrame, info: StudyInfo, adjust: str = "holm", test: str = "t",
                      only: Optional[Sequence[str]] = None, curves: Optional[pd.DataFrame] = None) -> Report:
    """The report of a tidy table of runs; ``only`` restricts it to some sections and refuses (`UserError`)
    a section the study cannot give, saying what it can give instead. ``curves``: the evaluation runs' curve table
    (`trickstack.stats.curves`); without it, no run has a curve."""
    if adjust not in an.METHODS:
        raise UserError(f"multiple-comparison adjustment must be holm or bh, got {adjust!r}")
    if test not in TESTS:
        raise UserError(f"test must be one of {', '.join(TESTS)}, got {test!r}")
    unknown = [k for k in only or [] if k not in TITLES]
    if unknown:
        raise UserError(f"unknown section {unknown[0]!r}{close_matches(unknown[0], TITLES)}; sections: {', '.join(TITLES)}")
    if (table.empty or "phase" not in table or not (table.phase == "eval").any()) and info.stopped:
        raise UserError(f"study {info.name!r} was stopped before any evaluation run finished: {info.stopped}")
    if table.empty or "phase" not in table or not (table.phase == "eval").any():
        other = 0 if table.empty else len(table)
        raise UserError(f"study {info.name!r} has no finished evaluation run yet"
                        + (f" (only {other} tuning or search runs)" if other else "") + ", so there is nothing to report; "
                        f"`trickstack status {info.name}` shows its progress"
                        + (f" and `trickstack export {info.name}` lists the runs it has" if other else ""))
    c = _Context(table, info, adjust, test, curves)
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
    def __init__(self, table: pd.DataFrame, info: StudyInfo, adjust: str, test: str,
                 curves: Optional[pd.DataFrame] = None):
        self.table, self.info, self.adjust, self.test = table, info, adjust, test
        self.curves = curves if curves is not None else cv.curves_table({})
        self.direction, self.tricks, self.design = info.direction, list(info.tricks), info.design
        self.runs = table[table.phase == "eval"]
        self.summary = an.arm_summary(table, self.direction)
        self.finished = set(self.summary.arm[self.summary.n > self.summary.n_diverged])
        self.full = arm_name(self.tricks)
        self.diverged_share = float(self.summary.n_diverged.sum() / max(1, self.summary.n.sum()))
        self.worst_too = self.test != "rank" and self.diverged_share > 0  # show the conservative p beside it

    def has(self, *arms: str) -> bool:
        return all(a in self.finished for a in arms)

    def pair(self, arm: str, reference: str, test: str = "t") -> pd.Series:
        """`paired_differences` of ``arm`` over ``reference``, on the runs of those two arms only."""
        two = self.table[self.table.arm.isin([arm, reference])]
        d = an.paired_differences(two, reference, self.direction, test=test)
        return d[d.arm == arm].iloc[0]

    def absent(self, arm: str, what: str) -> str:
        """Why ``arm`` has no finished run: the design lacks it, it was excluded, or its runs failed."""
        why = dict(map(tuple, self.info.excluded)).get(arm)
        what = what if arm == BASELINE else f"{what} ({arm})"
        if why:
            return f"{what} was excluded: {why}"
        if self.design == "search":
            best = (self.info.search_best or {}).get("arm")
            return f"a search study evaluates the baseline and its best configuration ({best}) only, not {what}"
        if self.design == "greedy" and arm != BASELINE:
            return f"the greedy path stopped before {what}"
        planned = self.info.arms
        if planned is not None and arm not in planned:
            return f"the {self.design} design does not include {what}"
        return f"{what} has no finished run: every run of it diverged or failed"

    def meta(self) -> dict[str, Any]:
        s, budget = self.info.spec, self.info.spec.get("budget") or {}
        unit = next((u for u in UNITS if budget.get(u) is not None), None)
        return {"study": self.info.name, "design": self.design, "workload": s.get("workload"),
                "metric": str(self.runs.metric.iloc[0]), "direction": self.direction,
                "budget": f"{budget[unit]:.4g} {unit}" if unit else None, "tricks": self.tricks,
                "base": s.get("base") or [], "overrides": s.get("overrides") or {},
                "seeds": int(self.runs.seed.nunique()), "arms": int(self.runs.arm.nunique()),
                "eval_runs": len(self.runs), "diverged_runs": int(self.summary.n_diverged.sum()),
                "finished": self.info.finished, "test": self.test, "adjust": self.adjust,
                "baseline": BASELINE, "full_stack": self.full}


def _arms(c: _Context, s: Section) -> None:
    s.table = c.summary[["arm", "n", "n_diverged", "mean", "sd", "ci_low", "ci_high"]]
    if c.summary.n_diverged.any():
        s.notes.append(f"{int(c.summary.n_diverged.sum())} run(s) diverged; they count in n and are left out of the means.")
    best = c.info.search_best
    if best and best.get("trick_params"):
        params = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in best["trick_params"].items())
        s.notes.append(f"arm {best['arm']} ran with the parameters found by the search: {params}.")


def _baseline(c: _Context, s: Section) -> None:
    if not c.has(BASELINE):
        s.unavailable = c.absent(BASELINE, "the baseline")
        return
    d = an.paired_differences(c.table, BASELINE, c.direction, test=c.test, adjust=c.adjust)
    if d.empty:
        s.unavailable = "the baseline is the only arm evaluated"
        return
    s.table = d[["arm", "n_pairs", "n_unpaired", "mean_gain", "sd_diff", "ci_low", "ci_high", "p_value", "p_adjusted"]]
    s.notes.append(f"test: {c.test}; p adj.: {c.adjust} over the {len(d)} arms.")
    worst = {arm: c.pair(arm, BASELINE, "rank").p_value for arm in d.arm} if c.worst_too else {}
    _test_caveats(c, s, d.n_pairs.min(), worst)


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
    worst = {arm: c.pair(c.full, arm, "rank").p_value for arm in t.arm} if c.worst_too else {}
    _test_caveats(c, s, t.n_pairs.min(), worst)


def _test_caveats(c: _Context, s: Section, fewest_pairs: int, worst: dict[str, float]) -> None:
    """What the chosen test cannot show at this size, and the p with diverged runs ranked worst beside it."""
    if c.test == "bootstrap":
        s.notes.append("the bootstrap is studentized: honest for near-normal differences from 5 pairs, but with heavy-"
                       "tailed differences its p runs above the level (the t-test stays honest there), and with "
                       "fewer than 10 pairs it has less power than the t-test.")
    floor = paired_tests.smallest_p(c.test, int(fewest_pairs))
    if floor >= LEADERBOARD_ALPHA:
        s.notes.append(f"with {int(fewest_pairs)} pairs the smallest p the {c.test} test can give is {floor:.3g}: it "
                       f"cannot pass the leaderboard's p < {LEADERBOARD_ALPHA:g}, which needs at least "
                       f"{paired_tests.pairs_for_smallest_p(c.test, LEADERBOARD_ALPHA)} pairs.")
    if worst:
        s.table = s.table.assign(p_worst=s.table.arm.map(worst))
        s.labels = {**s.labels, "p_worst": "p (diverged = worst)"}
        s.notes.append(f"{c.diverged_share:.0%} of the evaluation runs diverged. p assumes a run's divergence is "
                       "unrelated to how it would have scored, and leaves the pair out; p (diverged = worst) is a "
                       "signed-rank test that counts each diverged run as the worst score of its seed, which stays "
                       "honest if divergence strikes the runs that would have scored worst.")


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
        orders = c.info.orders
        if orders is None:  # a study run before the orders were stored: they follow from its spec
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
    s.values = {"method": method, "full_stack_gain": sv.total_gain, "sum_of_values": float(sv.values.shapley.sum()),
                "seeds_used": ", ".join(map(str, sv.seeds))}
    s.notes += _dropped_note(sv.seeds, sv.dropped)


def _dropped_note(seeds: tuple, dropped: dict) -> list[str]:
    """Which seeds an estimate over common seeds left out, and why (none: no note)."""
    if not dropped:
        return []
    left = "; ".join(f"seed {seed} (no finished run in {', '.join(arms)})" for seed, arms in dropped.items())
    return [f"estimated on the {len(seeds)} seeds finished in every arm used, so that every arm's mean is over the "
            f"same seeds; left out of every arm: {left}."]


def _additivity(c: _Context, s: Section) -> None:
    if len(c.tricks) < 2:
        s.unavailable = "one trick: there is nothing to add up"
        return
    a = an.additivity_ratio(c.table, c.tricks, c.direction)
    if a.reason and (a.reason.startswith("arms missing") or not a.seeds):
        s.unavailable = f"it needs the baseline, each trick alone and the full stack; {a.reason}"
        return
    s.table = pd.DataFrame({"trick": list(a.single_gains), "single_gain": list(a.single_gains.values())})
    s.values = {"ratio": a.ratio, "full_stack_gain": a.full_gain, "sum_of_single_gains": sum(a.single_gains.values()),
                "seeds_used": ", ".join(map(str, a.seeds))}
    if a.reason:
        s.notes.append(f"no ratio: {a.reason}")
    s.notes += _dropped_note(a.seeds, a.dropped)


def _power(c: _Context, s: Section) -> None:
    rows, missing, unsolved = [], [], []
    fewest = max(LEADERBOARD_MIN_SEEDS, paired_tests.pairs_for_smallest_p(c.test, LEADERBOARD_ALPHA))
    for t in c.tricks:
        pair = _trick_pair(c, t)
        if pair is None:
            missing.append(t)
            continue
        arm, ref = pair
        d, imp = c.pair(arm, ref), an.probability_of_improvement(c.table, arm, ref, c.direction)
        seeds = [np.nan, np.nan, np.nan]
        if d.n_pairs >= 2 and d.sd_diff > 0:
            seeds = [planning.seeds_needed(d.mean_gain, d.sd_diff, STUDY_ALPHA),
                     *planning.leaderboard_seeds(d.mean_gain, d.sd_diff, int(d.n_pairs), fewest)]
            if any(math.isnan(n) for n in seeds):
                unsolved.append(t)
        rows.append({"trick": t, "comparison": f"{arm} vs {ref}", "n_pairs": int(d.n_pairs), "mean_gain": d.mean_gain,
                     "sd_diff": d.sd_diff, "p_improve": imp.probability, "p_improve_low": imp.ci_low,
                     "p_improve_high": imp.ci_high, "seeds_80": seeds[0], "seeds_80_leaderboard": seeds[1],
                     "seeds_80_cautious": seeds[2]})
    if not rows:
        s.unavailable = ("per-trick power needs, for a trick, two finished arms that differ in that trick alone; "
                         f"no pair of arms of this {c.design} study does")
        return
    s.table = pd.DataFrame(rows)
    if missing:
        s.notes.append(f"not available for {', '.join(missing)}: no two finished arms differ in that trick alone.")
    if unsolved:
        s.notes.append(f"no seed count for {', '.join(unsolved)}: statsmodels' power solver did not converge.")
    s.notes.append(f"seeds (80%) and seeds (leaderboard) take this study's own gain and sd as the truth: from few seeds "
                   f"they fall short of the seeds really needed about half the time (and a gain that passed a test is "
                   f"usually overestimated). seeds (cautious) uses a lower {planning.CAUTION:.0%} confidence bound on "
                   f"gain/sd instead, so it falls short at most {1 - planning.CAUTION:.0%} of the time.")
    if fewest > LEADERBOARD_MIN_SEEDS:
        s.notes.append(f"the {c.test} test's smallest p is 1/2^pairs: the leaderboard's p < {LEADERBOARD_ALPHA:g} needs "
                       f"at least {fewest} pairs, so no leaderboard figure is below {fewest}; the figures are t-test "
                       "power, which a sign-flip test does not quite reach.")


def _trick_pair(c: _Context, trick: str) -> Optional[tuple[str, str]]:
    """Two finished arms that differ in ``trick`` alone: the trick alone vs the baseline if run, else the
    full stack vs the full stack without it, else the first such pair found."""
    arms = {a: parse_arm(a) for a in c.finished}
    name = {v: k for k, v in arms.items()}
    full = frozenset(c.tricks)
    for with_, without in [(frozenset([trick]), frozenset()), (full, full - {trick})]:
        if with_ in name and without in name:
            return name[with_], name[without]
    return next(((name[a], name[a - {trick}]) for a in sorted(arms.values(), key=len)
                 if trick in a and a - {trick} in name), None)


def _tuning(c: _Context, s: Section) -> None:
    tuning, nuisance = c.info.tuning, [k for k in c.runs if k.startswith("nuisance.")]
    if not tuning:
        used = c.runs[nuisance].drop_duplicates()
        values = "; ".join(", ".join(f"{k[9:]}={v:g}" if isinstance(v, float) else f"{k[9:]}={v}" for k, v in row.items())
                           for row in used.to_dict("records"))
        s.unavailable = ("the study did not re-tune the nuisance hyperparameters per arm" +
                         (" (tuning has not finished)" if c.info.tuned else " (no [tune] section)")
                         + f"; every arm ran with {values or 'the workload defaults'}, which may suit some arms "
                         "better than others")
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
    path = c.info.greedy_path
    if c.design != "greedy" or path is None:
        s.unavailable = (f"only a greedy study records a stacking path; this one is {c.design}" if c.design != "greedy"
                         else "the greedy path is stored when the study finishes")
        return
    s.table = pd.DataFrame([{"round": i + 1, "current": r["current"], "candidate": arm, "gain": gain, "p_value": p,
                             "added": r["added"] is not None and parse_arm(arm) - parse_arm(r["current"]) == {r["added"]}}
                            for i, r in enumerate(path) for arm, gain, p in r["tests"]])
    last = path[-1] if path else {"current": BASELINE, "added": None}
    stack = arm_name(parse_arm(last["current"]) | ({last["added"]} if last["added"] else set()))
    s.values = {"final_stack": stack, "alpha": c.info.spec.get("alpha")}
    s.labels = {"p_value": "p (one-sided)"}


def _search(c: _Context, s: Section) -> None:
    best = c.info.search_best
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
    s.notes.append(f"{best['arm']} was evaluated again on the evaluation seeds: see '{TITLES['arms']}' and "
                   f"'{TITLES['baseline']}'.")


def _excluded(c: _Context, s: Section) -> None:
    rows = [{"arm": arm, "reason": why} for arm, why in c.info.excluded]
    rows += [{"arm": job, "reason": "job failed on every retry"} for job in c.info.failed_jobs]
    s.table = pd.DataFrame(rows, columns=["arm", "reason"])
    if not rows:
        s.notes.append("none: every arm the design asked for was run.")


def _wall_clock(c: _Context, s: Section) -> None:
    runs = c.runs[~c.runs.diverged.astype(bool)] if "train_seconds" in c.runs else c.runs.iloc[:0]
    if runs.empty:
        s.unavailable = "no evaluation run finished with a recorded training time"
        return
    medians = runs.groupby("arm", sort=False).train_seconds.agg(["size", "median"])
    base = medians["median"].get(BASELINE)
    s.table = pd.DataFrame({"arm": medians.index, "n": medians["size"].to_numpy(),
                            "median_train_seconds": medians["median"].to_numpy(),
                            "ratio_to_baseline": medians["median"].to_numpy() / base if base else np.nan})
    s.labels = {"median_train_seconds": "median train s", "ratio_to_baseline": "x baseline"}
    if base is None:
        s.notes.append("the baseline has no finished evaluation run in this study, so there is no ratio to it.")
    hardware = runs[[col for col in ("cpu", "torch_threads") if col in runs]].drop_duplicates()
    where = [f"{h.get('cpu') or 'unknown CPU'}, {h.get('torch_threads', '?')} torch thread(s)"
             for h in hardware.to_dict("records")]
    if where:
        s.values["hardware"] = "; ".join(where)
        s.notes.append(f"measured on {s.values['hardware']}" + (" -- runs on different hardware: the ratios mix them."
                                                                  if len(where) > 1 else "."))


def _curves(c: _Context, s: Section) -> None:
    missing = cv.missing_curves(c.runs, c.curves)
    if c.curves.empty or not (c.curves.kind == "train").any():
        s.unavailable = (f"curves missing: none of the {len(c.runs)} evaluation runs recorded a learning curve (their "
                         "records predate curves: run-record schema 1)")
        return
    train, evals = c.curves[c.curves.kind == "train"], c.curves[c.curves.kind == "eval"]
    ends = cv.mean_curves(c.curves, [1.0]).set_index("arm")
    s.table = pd.DataFrame({"arm": missing.arm, "n": missing.n, "missing": missing.missing,
                            "points": [int(train[train.arm == a].groupby("seed").size().median())
                                       if (train.arm == a).any() else 0 for a in missing.arm],
                            "eval_points": [int(evals[evals.arm == a].groupby("seed").size().median())
                                            if (evals.arm == a).any() else 0 for a in missing.arm],
                            "final_loss": [ends["mean"].get(a, np.nan) for a in missing.arm]})
    s.labels = {"missing": "without curve", "points": "points per run", "eval_points": "eval points per run",
                "final_loss": "smoothed loss at 100%"}
    absent = int(missing.missing.sum())
    if absent:
        s.notes.append(f"curves missing for {absent} of {len(c.runs)} evaluation runs (records of schema 1, written "
                       "before curves): each arm's curve is the mean of its other runs.")
    s.series = cv.mean_curves(c.curves)


def _budget(c: _Context, s: Section) -> None:
    if c.curves.empty or not (c.curves.kind == "train").any():
        s.unavailable = "curves missing: no evaluation run of this study recorded a learning curve (run-record schema 1)"
        return
    s.table = cv.ranking(c.curves)
    s.labels = {col: col.replace("_", " at ").replace("loss", "smoothed loss") for col in s.table.columns if col != "arm"}
    metric = cv.metric_ranking(c.curves, c.runs, c.direction)
    if not metric.empty:
        s.table = s.table.merge(metric, on="arm", how="left", suffixes=("", "_metric"))
        s.labels.update({col: col.replace("_metric", "").replace("_", " at ").replace("metric", c.runs.metric.iloc[0])
                         + (" (metric)" if col.startswith("rank") else "") for col in metric.columns if col != "arm"})
    orders = {f: list(s.table.sort_values(f"rank_{f:.0%}", kind="stable").arm) for f in cv.CHECKPOINTS}
    same = all(order == orders[1.0] for order in orders.values())
    s.notes.append("by smoothed training loss, the order of the arms is the same at 25%, 50% and 100% of the budget"
                   if same else "by smoothed training loss, the order of the arms changes between 25%, 50% and 100% of "
                   "the budget")
    s.notes.append(cv.NOT_SMALLER_BUDGETS)


BUILDERS: dict[str, Callable[[_Context, Section], None]] = {
    "arms": _arms, "baseline": _baseline, "full": _full, "effects": _effects, "shapley": _shapley,
    "additivity": _additivity, "power": _power, "tuning": _tuning, "greedy": _greedy, "search": _search,
    "excluded": _excluded, "wall_clock": _wall_clock, "curves": _curves, "budget": _budget,
}
