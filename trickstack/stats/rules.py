"""The comparison rules, in one place: significance levels, the minimum seeds, the sign of a gain.

Every decision that calls one stack better than another reads its thresholds and its test from here:
greedy stacking (`trickstack.ablations.engine`), `recipe derive`'s confirmation, the leaderboard's
statuses and a report's significance. ``../shared/docs/methodology.md``: "A new entry beats the previous
one only with evidence: at least 5 paired seeds and a one-sided paired test at p < 0.01".

Gains are *signed by the metric's direction*, so that + is always better:

>>> sign("maximize"), sign("minimize")
(1.0, -1.0)
>>> passes({"n_pairs": 5, "p": 0.004}), passes({"n_pairs": 4, "p": 0.0001})
(True, False)

A recipe confirmed sequentially (`trickstack.stats.sequential`: seeds added look by look while the
candidate is promising) records its plan and the look where it stopped; it passes at that look's nominal
level, which the plan's alpha spending makes stricter than ``LEADERBOARD_ALPHA`` so that looking more
than once still accepts a candidate no better than the previous recipe at most ``LEADERBOARD_ALPHA`` of
the time:

>>> sequential = {"design": "sequential", "looks": [5, 8, 12], "spending": "pocock", "alpha": 0.01,
...               "futility": 0.5, "looks_taken": 2, "decision": "accept"}
>>> passes({"n_pairs": 8, "p": 0.004}, confirmation=sequential), passes({"n_pairs": 8, "p": 0.002}, confirmation=sequential)
(False, True)
"""

from __future__ import annotations

from typing import Any, Literal, Mapping, Optional, Sequence

import numpy as np
from scipy import stats

from trickstack.core.errors import UserError
from trickstack.stats.sequential import DEFAULT_LOOKS, DEFAULT_SPENDING, Decision, SequentialPlan

Direction = Literal["maximize", "minimize"]
DIRECTIONS: tuple[Direction, ...] = ("maximize", "minimize")

STUDY_ALPHA = 0.05  # default level of a study's tests (a spec's `study.alpha` may change it)
LEADERBOARD_ALPHA = 0.01  # a new leaderboard entry needs a one-sided paired p below this ...
LEADERBOARD_MIN_SEEDS = 5  # ... over at least this many paired evaluation seeds
LEADERBOARD_TEST = "one-sided paired t-test (H1: better than the previous year's recipe)"
SEQUENTIAL = ("a derivation may add evaluation seeds look by look (by default at "
              f"{', '.join(map(str, DEFAULT_LOOKS))} seeds) while a candidate is promising but not yet significant; at "
              "each look its p must beat that look's nominal level, set by an alpha-spending function "
              f"({DEFAULT_SPENDING} by default) so that a candidate with no gain is accepted with chance at most "
              f"{LEADERBOARD_ALPHA} over all the looks; a recipe records its plan and the looks it took, and the "
              "leaderboard replays the looks of an accepted recipe from the evidence")
TIME_TRACK = ("on the time track a budget is seconds of training per run, and times are compared only between runs on "
              "one class of hardware: the GPU model, or the CPU model and torch's thread count (the record's "
              "provenance), on a machine doing nothing else while they train: a busy machine takes steps from some "
              "runs and not others. Every comparison is between runs of one derivation on one machine, paired by seed: the "
              "previous year's recipe and the baseline are run again beside the candidate, never read from another "
              "year's evidence. A timed run does not replay bit for bit (its step count follows the clock), so a rerun "
              "on the same class of hardware is a new sample, compared by its paired gain over a baseline run beside "
              "it, not by its metric to the bit")
SIMULATED_HARDWARE = "simulated"  # the hardware class a simulated workload's time track records: no run is timed
BUSY_SHARE = 0.9  # a timed CPU run that got less of its CPU threads' time than this shared its cores: refused


def busy_runs(records: Sequence) -> list:
    """The timed CPU runs among ``records`` (`RunRecord`s) whose training got less than `BUSY_SHARE` of its threads'
    time (``train_cpu_seconds / (train_seconds * torch_threads)``): the machine was busy, so their time bought fewer
    steps than it would have on an idle one. GPU runs and records without CPU time are not judged."""
    return [r for r in records if r.train_cpu_seconds is not None and r.provenance.accelerator is None and
            r.train_seconds > 0 and r.train_cpu_seconds / (r.train_seconds * r.provenance.torch_threads) < BUSY_SHARE]


def sign(direction: str) -> float:
    """+1 for a metric to maximise, -1 for one to minimise: ``sign * (a - b) > 0`` means a is better."""
    if direction not in DIRECTIONS:
        raise UserError(f"direction must be 'maximize' or 'minimize', got {direction!r}")
    return 1.0 if direction == "maximize" else -1.0


ZERO_SPREAD = 1e-9  # paired differences whose range is below this fraction of their size are taken as all equal


def one_sided_p(gains: Sequence[float]) -> float:
    """The one-sided paired p of "the mean signed gain is > 0" from per-seed signed gains: the p of every
    comparison by the leaderboard's test (`trickstack.stats.compare`, the board, `recipe derive`, greedy
    stacking), a one-sided paired t-test (scipy's ``ttest_rel(a, b, alternative="greater")``). 1.0 when there
    is nothing to test: fewer than 2 pairs or a non-finite gain.

    When every difference is the same (zero variance of the differences: bit-identical runs, or an effect that
    no seed varies) the t statistic is 0/0 or infinite, and no t p exists. The p is then the exact sign-flip
    (permutation) p, which needs no variance: under "no effect" each difference is as likely negated, so

    * every difference 0: p = 1 (no evidence of a gain; the runs are the same);
    * every difference the same gain c > 0: p = 1/2^n, the chance that all n signs come out +, and not the 0 that
      an infinite t would give (a variance estimated as 0 from a few seeds is no evidence that it is 0): 1/32 at
      5 seeds, so the leaderboard's alpha of 0.01 needs 7;
    * every difference the same loss c < 0: p = 1.

    >>> one_sided_p([0.0, 0.0, 0.0]), round(one_sided_p([0.1, 0.2, 0.15]), 4)
    (1.0, 0.0175)
    >>> one_sided_p([0.01] * 5), one_sided_p([-0.01] * 5), one_sided_p([0.01])
    (0.03125, 1.0, 1.0)
    """
    d = np.asarray(gains, dtype=float)
    if len(d) < 2 or not np.all(np.isfinite(d)):
        return 1.0
    if np.ptp(d) <= ZERO_SPREAD * np.max(np.abs(d)):  # all equal (all 0 included): the sign-flip p
        return 0.5 ** len(d) if d[0] > 0 else 1.0
    return float(stats.ttest_1samp(d, 0.0, alternative="greater").pvalue)


def passes(comparison: Mapping[str, float], alpha: Optional[float] = None, min_seeds: Optional[int] = None,
           confirmation: Optional[Mapping[str, Any]] = None) -> bool:
    """The leaderboard's rule: at least ``min_seeds`` pairs (default `LEADERBOARD_MIN_SEEDS`) and a
    one-sided p below ``alpha`` (default `LEADERBOARD_ALPHA`). ``comparison`` holds ``n_pairs`` and ``p``
    (as `trickstack.stats.compare.compare` returns). ``confirmation``: a recipe's
    ``provenance.confirmation`` (none for a fixed number of seeds); a sequential one passes where its plan
    accepts at the look it stopped at (`sequential_level`)."""
    alpha = LEADERBOARD_ALPHA if alpha is None else alpha
    min_seeds = LEADERBOARD_MIN_SEEDS if min_seeds is None else min_seeds
    if confirmation is not None:
        alpha = min(alpha, sequential_level(confirmation))
    return comparison["n_pairs"] >= min_seeds and bool(comparison["p"] < alpha)


def sequential_plan(confirmation: Mapping[str, Any]) -> SequentialPlan:
    """The plan a recipe's ``provenance.confirmation`` records; its alpha may not exceed the leaderboard's."""
    if confirmation.get("design") != "sequential":
        raise UserError(f"confirmation design {confirmation.get('design')!r}: only 'sequential' is recorded")
    plan = SequentialPlan(looks=tuple(confirmation["looks"]), alpha=float(confirmation["alpha"]),
                          spending=str(confirmation["spending"]), futility=float(confirmation["futility"]))
    if plan.alpha > LEADERBOARD_ALPHA or plan.looks[0] < LEADERBOARD_MIN_SEEDS:
        raise UserError(f"a sequential confirmation at alpha {plan.alpha} from {plan.looks[0]} seeds is looser than the "
                        f"leaderboard's rule (alpha {LEADERBOARD_ALPHA}, at least {LEADERBOARD_MIN_SEEDS} seeds)")
    return plan


def sequential_level(confirmation: Mapping[str, Any]) -> float:
    """The p a sequentially confirmed recipe must beat: its plan's nominal level at the look it stopped at."""
    plan, look = sequential_plan(confirmation), int(confirmation["looks_taken"])
    if not 1 <= look <= len(plan.looks):
        raise UserError(f"confirmation.looks_taken = {look}, but the plan has looks {list(plan.looks)}")
    return plan.nominal[look - 1]


def sequential_decision(plan: SequentialPlan, look: int, comparison: Mapping[str, float]) -> Decision:
    """`recipe derive`'s decision at ``look`` (1-based) of ``plan`` from the paired test of the seeds so far:
    accept, add the next look's seeds, or stop. Accepting here is `passes` with the recorded plan."""
    if comparison["n_pairs"] < LEADERBOARD_MIN_SEEDS:  # too few pairs finished (the others diverged)
        return plan.judge(look, 1.0, int(comparison["n_pairs"]))
    return plan.judge(look, float(comparison["p"]), int(comparison["n_pairs"]))
