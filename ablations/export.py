"""A study as a tidy table (one row per training run) and its progress at a glance."""

from __future__ import annotations

import statistics
from typing import Any

import optuna
import pandas as pd
from optuna.trial import TrialState

from trickstack.ablations.jobs import EVAL, job_states
from trickstack.core.outputs import spreadsheet_safe_frame


def tidy(study: optuna.Study) -> pd.DataFrame:
    """One row per run of every COMPLETE job trial: arm, tricks on, their parameters, seed, metrics,
    FLOPs, wall time, divergence, nuisance values, phase and trial number."""
    order = study.user_attrs.get("trick_order", [])
    rows: list[dict[str, Any]] = []
    seen = set()
    for trial in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        key = trial.user_attrs.get("job")
        if key is None or key in seen:
            continue
        seen.add(key)
        for record in trial.user_attrs.get("records", []):
            on = {t["name"] for t in record["tricks"]}
            row = {"trial": trial.number, "phase": trial.user_attrs["phase"], "arm": trial.user_attrs["arm"],
                   "seed": record["seed"]}
            row.update({f"on.{t}": t in on for t in order})
            for t in record["tricks"]:
                row.update({f"{t['name']}.{k}": v for k, v in t["params"].items()})
            row.update({f"nuisance.{k}": v for k, v in record["nuisance"].items()})
            m = record["metrics"]
            row.update({"metric": m["eval_metric"], "value": m["eval_value"], "train_loss": m["train_loss"],
                        "diverged": record["diverged"], "flops": record["flops"], "steps": record["steps"],
                        "budget": record["budget"]["value"], "budget_unit": record["budget"]["unit"],
                        "train_seconds": record["train_seconds"], "eval_seconds": record["eval_seconds"]})
            rows.append(row)
    return pd.DataFrame(rows)


def tidy_csv(table: pd.DataFrame) -> str:
    """The tidy table as CSV text, with no cell a spreadsheet would run as a formula."""
    return spreadsheet_safe_frame(table).to_csv(index=False)


def status(study: optuna.Study) -> dict[str, Any]:
    """Arms and jobs done / total, failures, running, waiting, and an ETA from the runs so far."""
    states = job_states(study)
    trials = study.get_trials(deepcopy=False)
    spec = study.user_attrs.get("spec", {})
    seeds = spec.get("study", {}).get("seeds", 0)
    arms = study.user_attrs.get("arms", [])
    eval_done: dict[str, int] = {}
    for key, state in states.items():
        if key.startswith(EVAL + "/") and state == TrialState.COMPLETE:
            arm = key.split("/")[1]
            eval_done[arm] = eval_done.get(arm, 0) + 1
    seconds = [sum(r["train_seconds"] + r["eval_seconds"] for r in t.user_attrs.get("records", []))
               for t in trials if t.state == TrialState.COMPLETE and "records" in t.user_attrs]
    waiting = sum(s == TrialState.WAITING for s in states.values())
    running = sum(s == TrialState.RUNNING for s in states.values())
    workers = max(1, len({(t.user_attrs.get("worker") or {}).get("pid") for t in trials if t.state == TrialState.RUNNING}))
    failed = [k for k, s in states.items() if s == TrialState.FAIL]
    return {
        "study": study.study_name,
        "design": spec.get("study", {}).get("design"),
        "finished": bool(study.user_attrs.get("finished")),
        "arms_total": len(arms) or len(eval_done),
        "arms_done": sum(n >= seeds for n in eval_done.values()) if seeds else 0,
        "jobs_complete": sum(s == TrialState.COMPLETE for s in states.values()),
        "jobs_running": running,
        "jobs_waiting": waiting,
        "jobs_failed": failed,
        "excluded_arms": study.user_attrs.get("excluded", []),
        "tuning": study.user_attrs.get("tuning", {}),  # per arm: trials, FLOPs, seconds, best values
        "seconds_per_job": statistics.median(seconds) if seconds else None,
        "eta_seconds": (waiting + running) * statistics.median(seconds) / workers if seconds else None,
    }
