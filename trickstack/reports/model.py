"""A study's report as data: its sections, each a table, scalar values and notes, or the reason it is missing.

Built by `trickstack.reports.sections`; rendered by `trickstack.reports.render` (text, Markdown, JSON, CSV)
and `trickstack.reports.html`. `StudyInfo` is what a report knows of a study besides its runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

import pandas as pd

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
    "wall_clock": "Wall-clock time per run",
    "curves": "Learning curves",
    "budget": "Ranking of the arms part way through the budget",
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
               "includes which orders were drawn. Every arm's mean is over the same seeds (seeds used): a seed with a "
               "diverged run in any arm is left out of all of them, so its seed noise cannot pose as a gain.",
    "additivity": "ratio = gain of the full stack / sum of the single-trick gains: 1 additive, below 1 the tricks "
                  "overlap (part of their gains is the same gain), above 1 they are synergistic.",
    "power": "P(improve): the share of paired seeds on which the trick's arm beats the comparison arm (ties count "
             "half), with a Wilson interval. seeds (80%): paired seeds a one-sided paired t-test at 0.05 needs to "
             "detect the observed gain 80% of the time; leaderboard: the same at 0.01 and at least 5 seeds. Infinite "
             "when the observed gain is not positive. These take the study's own estimates as the truth, so from few "
             "seeds they fall short about half the time; cautious: the leaderboard figure for a gain at the lower 80% "
             "confidence bound of gain/sd, which falls short at most 20% of the time.",
    "tuning": "Each arm's nuisance hyperparameters (learning rate, ...) were re-tuned with the same number of trials, "
              "on seeds disjoint from the evaluation seeds; the tuned values and the compute the tuning cost are shown "
              "beside the evaluation compute.",
    "greedy": "Each round adds to the current stack the candidate with the largest significant paired gain (one-sided "
              "t-tests, Holm-corrected); the path depends on the order of decisions, unlike Shapley values.",
    "search": "Configurations (tricks on and their parameters) tried by the sampler on search seeds; the best one was "
              "evaluated again on the evaluation seeds, so its reported gain is not inflated by having been selected.",
    "excluded": "Arms the design asked for that cannot be stacked (conflicting tricks), and jobs that kept failing.",
    "wall_clock": "Equal FLOPs is not equal time. Per arm: the median training seconds of its finished evaluation runs "
                  "(evaluation excluded) and its ratio to the baseline's median, both measured in this study, on the "
                  "hardware named (CPU model and torch threads, from the runs' provenance). Times from a machine shared "
                  "with other work are noisy; the median resists single slow runs.",
    "curves": "Each run records its training loss at about 64 points spaced by the share of the budget spent, each "
              "point the mean loss of the steps since the previous one. Per arm: the mean over seeds of those curves "
              "(each seed's interpolated at the same shares of the budget) with a 95% t band, against the FLOPs spent "
              "and, where the runs were timed, the training seconds. Runs whose records predate curves (schema 1) "
              "are counted as missing.",
    "budget": "The arms ranked by their mean smoothed training loss (1: lowest) at 25%, 50% and 100% of the budget "
              "spent, read off the learning curves; where the workload measures its eval metric during training, "
              "also by that metric (1: best). These points are not runs at smaller budgets: the schedules end at the "
              "full budget, so only a study at a smaller budget measures one.",
}


@dataclass(frozen=True)
class StudyInfo:
    """What the report needs to know about a study besides its runs, typed: a stored study's fields come
    from `trickstack.ablations.state.StudyState` (`trickstack.reports.sections.study_info`); a table of runs
    that is no study (a recipe's evidence) gives what it has."""

    name: str
    design: str
    tricks: list[str]
    direction: str = "maximize"
    spec: dict = field(default_factory=dict)  # the spec's [study] table: workload, budget, seeds, ...
    tuned: bool = False  # the spec has a [tune] section
    arms: Optional[list[str]] = None  # the arms a static design asked for
    orders: Optional[list[list[str]]] = None  # a Shapley design's sampled orders
    excluded: list = field(default_factory=list)  # [arm, reason] pairs
    failed_jobs: list[str] = field(default_factory=list)
    tuning: dict = field(default_factory=dict)  # per arm: tuning trials, FLOPs, seconds, best values
    stopped: Optional[str] = None  # why a worker stopped the study before its end (a metric not finite)
    greedy_path: Optional[list[dict]] = None
    search_best: Optional[dict] = None
    finished: bool = True


@dataclass
class Section:
    key: str
    title: str
    table: Optional[pd.DataFrame] = None
    values: dict[str, Any] = field(default_factory=dict)  # scalars: total gain, ratio, ...
    notes: list[str] = field(default_factory=list)
    unavailable: Optional[str] = None  # why this study cannot give it
    labels: dict[str, str] = field(default_factory=dict)  # column -> heading, where it differs from LABELS
    series: Optional[pd.DataFrame] = None  # what a plot draws and no table shows (the mean learning curves)

    @property
    def available(self) -> bool:
        return self.unavailable is None


@dataclass
class Report:
    info: StudyInfo
    meta: dict[str, Any]
    sections: dict[str, Section]
