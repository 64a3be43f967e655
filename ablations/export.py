"""A study as a tidy table (one row per training run) and its progress at a glance."""

from __future__ import annotations

import statistics
from typing import Any

import optuna
import pandas as pd
from optuna.trial import TrialState

from trickstack.ablations.jobs import EVAL, job_states
from trickstack.ablations.state import JobTrial, StudyState
from trickstack.core.outputs import spreadsheet_safe_frame
from trickstack.stats.curves import COLUMNS as CURVE_COLUMNS
from trickstack.stats.curves import curve_rows
from trickstack.stats.table import row


def tidy(study: optuna.Study) -> pd.DataFrame:
    """The runs table (`trickstack.stats.table`) of every COMPLETE job trial, one row per run, with the
    trial number, the phase and the tricks' parameters."""
    order = StudyState(study).trick_order
    rows: list[dict[str, Any]] = []
    seen = set()
    for trial in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        job = JobTrial(trial)
        if job.key is None or job.key in seen:
            continue
        seen.add(job.key)
        rows += [row(record, job.arm, job.phase, order, trial=trial.number, params=True) for record in job.records]
    return pd.DataFrame(rows)


def tidy_curves(study: optuna.Study) -> pd.DataFrame:
    """The curve table (`trickstack.stats.curves`) of the evaluation runs of every COMPLETE job trial; a run
    without a curve (a record of schema 1) adds no row."""
    rows: list[dict[str, Any]] = []
    seen = set()
    for trial in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        job = JobTrial(trial)
        if job.key is None or job.key in seen or job.phase != EVAL:
            continue
        seen.add(job.key)
        rows += [r for record in job.records for r in curve_rows(record, job.arm)]
    return pd.DataFrame(rows, columns=CURVE_COLUMNS)


def tidy_csv(table: pd.DataFrame) -> str:
    """The tidy table as CSV text, with no cell a spreadsheet would run as a formula."""
    return spreadsheet_safe_frame(table).to_csv(index=False)


def status(study: optuna.Study) -> dict[str, Any]:
    """Arms and jobs done / total, failures, running, waiting, and an ETA from the runs so far."""
    states = job_states(study)
    trials = study.get_trials(deepcopy=False)
    stored = StudyState(study)
    seeds = stored.study_section.get("seeds", 0)
    arms = stored.arms or []
    eval_done: dict[str, int] = {}
    for key, state in states.items():
        if key.startswith(EVAL + "/") and state == TrialState.COMPLETE:
            arm = key.split("/")[1]
            eval_done[arm] = eval_done.get(arm, 0) + 1
    seconds = [sum(r["train_seconds"] + r["eval_seconds"] for r in JobTrial(t).records)
               for t in trials if t.state == TrialState.COMPLETE and JobTrial(t).has_records]
    waiting = sum(s == TrialState.WAITING for s in states.values())
    running = sum(s == TrialState.RUNNING for s in states.values())
    workers = max(1, len({(JobTrial(t).worker or {}).get("pid") for t in trials if t.state == TrialState.RUNNING}))
    failed = [k for k, s in states.items() if s == TrialState.FAIL]
    return {
        "study": study.study_name,
        "design": stored.study_section.get("design"),
        "finished": stored.finished,
        "arms_total": len(arms) or len(eval_done),
        "arms_done": sum(n >= seeds for n in eval_done.values()) if seeds else 0,
        "jobs_complete": sum(s == TrialState.COMPLETE for s in states.values()),
        "jobs_running": running,
        "jobs_waiting": waiting,
        "jobs_failed": failed,
        "excluded_arms": stored.excluded,
        "tuning": stored.tuning,  # per arm: trials, FLOPs, seconds, best values
        "seconds_per_job": statistics.median(seconds) if seconds else None,
        "eta_seconds": (waiting + running) * statistics.median(seconds) / workers if seconds else None,
    }
