"""Jobs: one Optuna trial each. An evaluation job is one (arm, seed) pair, whose arm and seed are
trial parameters (`trickstack.ablations.state.job_params`); the full run record is stored with the
trial. Tuning and search jobs train on seeds disjoint from evaluation's.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Optional, Sequence

import optuna
from optuna.trial import FrozenTrial, TrialState

from trickstack.ablations.state import JobTrial, job_attrs, job_params, mark_withdrawn
from trickstack.core.stacks import Arm, arm_name

EVAL, TUNE, SEARCH = "eval", "tune", "search"
TUNING_SEED_OFFSET = 1_000_000  # tuning seeds are 1,000,000 + i: never an evaluation seed
SEARCH_SEED_OFFSET = 2_000_000  # search seeds likewise
MAX_SEED = 2**31 - 1


@dataclass(frozen=True)
class Job:
    phase: str
    arm: Arm
    seed: int
    nuisance: dict[str, Any] = field(default_factory=dict, compare=False)  # fixed nuisance values (eval)
    trick_params: dict[str, Any] = field(default_factory=dict)  # "trick.param" values (search)
    tune_index: int = 0

    @property
    def key(self) -> str:
        key = f"{self.phase}/{arm_name(self.arm)}/{self.seed}"
        if self.phase == TUNE:
            key += f"/{self.tune_index}"
        if self.trick_params:
            key += "/" + hashlib.sha1(json.dumps(self.trick_params, sort_keys=True).encode()).hexdigest()[:10]
        return key


def enqueue(study: optuna.Study, job: Job, order: Sequence[str]) -> None:
    study.enqueue_trial(job_params(job.arm, job.seed, order),
                        user_attrs=job_attrs(job.key, job.phase, job.arm, job.nuisance, job.trick_params, job.tune_index))


def withdraw(study: optuna.Study, keys: set[str]) -> int:
    """Take the WAITING trials of the jobs ``keys`` out of the queue (PRUNED, marked ``withdrawn``), so that
    no worker runs them; a later ``ablate`` queues them again. Returns how many were withdrawn."""
    storage, n = study._storage, 0
    for trial in study.get_trials(deepcopy=False, states=(TrialState.WAITING,)):
        if JobTrial(trial).key in keys and storage.get_trial(trial._trial_id).state == TrialState.WAITING:
            try:
                mark_withdrawn(storage, trial._trial_id)
                n += bool(storage.set_trial_state_values(trial._trial_id, state=TrialState.PRUNED))
            except optuna.exceptions.UpdateFinishedTrialError:
                pass  # a worker took it meanwhile: it runs to the end like any other
    return n


def job_of(trial: FrozenTrial | optuna.Trial) -> Optional[Job]:
    t = JobTrial(trial)
    if t.key is None:
        return None
    return Job(t.phase, t.arm_set, t.seed, t.nuisance, t.trick_params, t.tune_index)


_RANK = {TrialState.COMPLETE: 3, TrialState.RUNNING: 2, TrialState.WAITING: 1}


def job_states(study: optuna.Study) -> dict[str, TrialState]:
    """Each job's most advanced state: COMPLETE over RUNNING over WAITING over anything else."""
    states: dict[str, TrialState] = {}
    for trial in study.get_trials(deepcopy=False):
        key = JobTrial(trial).key
        if key is not None and _RANK.get(trial.state, 0) >= _RANK.get(states.get(key), 0):
            states[key] = trial.state
    return states


def completed(study: optuna.Study, phase: Optional[str] = None) -> list[FrozenTrial]:
    """COMPLETE job trials (of one phase), one per job: the first to complete."""
    seen, out = set(), []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        t = JobTrial(trial)
        if t.key and t.key not in seen and (phase is None or t.phase == phase):
            seen.add(t.key)
            out.append(trial)
    return out
