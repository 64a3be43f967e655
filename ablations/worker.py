"""The worker: a long-lived process that imports Composer once and runs queued jobs until none is left.

A job is popped from the study with `Study.ask` (Optuna hands each WAITING trial to exactly one
worker), trained with `run_trial` (on a simulated workload: by the
workload's ``simulate``), and told back with its record. A job already COMPLETE under
another trial (a requeued duplicate) is skipped, so every job completes exactly once. A worker told to
stop (SIGTERM) starts no new trial, and finishes or releases the one it trains
(`trickstack.ablations.preemption`).
"""

from __future__ import annotations

import contextlib
import math
import os
import time
import warnings
from dataclasses import replace
from typing import Callable, Optional, Sequence

import optuna
import torch
from optuna.trial import TrialState

from trickstack.ablations import state
from trickstack.ablations.diskfaults import storage_errors
from trickstack.ablations.jobs import (
    TUNE,
    TUNING_SEED_OFFSET,
    Job,
    completed,
    job_of,
    job_states,
)
from trickstack.ablations.preemption import PREEMPTED_EXIT, Preempted, Preemption
from trickstack.ablations.resilient import GAVE_UP_EXIT, StorageUnavailable
from trickstack.ablations.spec import StudySpec
from trickstack.ablations.state import JobTrial, StudyState
from trickstack.ablations.storage import (
    Heartbeat,
    heartbeat_timing,
    open_storage,
    reap_dead_trials,
    requeue,
    shown_url,
    worker_identity,
)
from trickstack.core.errors import MetricNotFinite, UserError
from trickstack.core.stacks import arm_name
from trickstack.stats import rules
from trickstack.trial.runner import run_trial
from trickstack.trial.trackers import Tracker
from trickstack.workloads import get_workload

optuna.logging.set_verbosity(optuna.logging.WARNING)


def worst(direction: str) -> float:
    """The worst value a run can have: what a diverged run tells Optuna."""
    return -rules.sign(direction) * math.inf


def run_job(spec: StudySpec, job: Job, trial: optuna.Trial, device: str = "cpu", deterministic: bool = True,
            trackers: Sequence[Tracker] = ()) -> float:
    """Train the job's runs; store their records on the trial; return the trial's value. With ``trackers``, each
    run is also a tracked run tagged with the study, the job's arm and its phase."""
    wl = get_workload(spec.study.workload)
    base = spec.base_tricks()
    stack = [*base, *sorted(job.arm, key=[*spec.study.tricks].index)]
    overrides = {**spec.study.overrides, **job.trick_params, **job.nuisance}
    overrides = {k: v for k, v in overrides.items() if "." not in k or k.split(".", 1)[0] in stack}
    seeds = [job.seed]
    if job.phase == TUNE:  # every tuning trial of every arm sees the same tuning seeds: paired, and fair
        seeds = [TUNING_SEED_OFFSET + i for i in range(spec.tune.seeds)]
    recipe = spec.base_recipe  # a recipe base: its parameters and nuisance under the overrides, kept in every record
    if wl.simulate is not None:  # a simulated workload: runs drawn from the spec's known truth
        merged = {**(recipe.overrides() if recipe else {}), **overrides}
        records = [wl.simulate(spec.synthetic, wl, stack, seed=s, budget=spec.study.budget.as_budget(),
                               overrides=merged).model_copy(update={"recipe": recipe}) for s in seeds]
    else:
        on_top = [t for t in stack if recipe is None or t not in recipe.stack]
        tags = {"study": spec.study.name, "arm": arm_name(job.arm), "phase": job.phase}
        records = [run_trial(wl, on_top, seed=s, budget=spec.study.budget.as_budget(), overrides=overrides, recipe=recipe,
                             device=device, deterministic=deterministic, trackers=trackers, tags=tags,
                             precision=spec.study.precision,
                             compile=spec.study.compile)  # the study's system settings, whatever the worker's
                   for s in seeds]
    state.set_records(trial, [r.model_dump(mode="json") for r in records])
    values = [r.metrics.eval_value for r in records]
    if any(v is None for v in values):
        return worst(wl.direction)  # a diverged run counts against its arm
    return sum(values) / len(values)


def suggest_nuisance(study: optuna.Study, spec: StudySpec, job: Job) -> dict:
    """TPE over the arm's finished tuning trials only, so each arm is tuned on its own evidence."""
    distributions = {name: optuna.distributions.FloatDistribution(r.low, r.high, log=r.log)
                     for name, r in spec.tune.params.items()}
    history = [t for t in completed(study, TUNE) if JobTrial(t).arm == arm_name(job.arm)]
    sampler = optuna.samplers.TPESampler(seed=spec.study.seed * 7919 + job.tune_index, n_startup_trials=4)
    local = optuna.create_study(direction=study.direction.name.lower(), sampler=sampler)
    for t in history:
        if math.isfinite(t.value):
            local.add_trial(optuna.trial.create_trial(
                params={k: JobTrial(t).nuisance[k] for k in distributions}, distributions=distributions, value=t.value))
    return local.ask(distributions).params


def work(study_name: str, storage_url: Optional[str], workers: int = 1, threads: Optional[int] = None,
         on_trial: Optional[Callable[[], None]] = None, poll_seconds: float = 0.0, device: str = "cpu",
         deterministic: bool = True, storage_retry: Optional[float] = None, outage_lines: bool = True,
         preemption: Optional[Preemption] = None, trackers: Sequence[Tracker] = (), precision: Optional[str] = None,
         compile: Optional[bool] = None) -> int:
    """Run queued jobs until none is WAITING (with ``poll_seconds``, wait while the study is open) on ``device``.
    Runs train in the study's precision and compilation (its spec's system settings); ``precision`` and
    ``compile``, when given, are what this worker was asked for: one that differs from the study's is a
    `UserError` before any trial is taken (None: the study's).
    A storage server that stops answering is retried for ``storage_retry`` seconds (`open_storage`).
    With an active ``preemption``, a SIGTERM ends the loop: `Preempted` (its argument: trials run) is raised
    once the current trial is stored or released. ``trackers``: each trial also written there."""
    preemption = preemption or Preemption(math.inf)  # inactive: never requested
    if threads:
        torch.set_num_threads(threads)
    storage = open_storage(storage_url, workers, storage_retry, outage_lines)
    study = optuna.load_study(study_name=study_name, storage=storage)
    spec = StudySpec.model_validate(StudyState(study).spec)
    check_system(spec, precision, compile)
    done, idle_since_reap, reaped = 0, False, -math.inf
    while True:
        if preemption.requested:
            raise Preempted(done)
        stopped, finished = state.queue_flags(study)
        if stopped:  # another worker found the workload broken: retrying cannot help
            return done
        # An idle worker's look costs two queries; the reaper's several more: while idle, it reaps once a heartbeat
        # interval (a dead trial is found after the heartbeat grace anyway), so a fleet polling often stays cheap.
        if not idle_since_reap or time.monotonic() - reaped >= heartbeat_timing()[0]:
            reap_dead_trials(study, storage)
            idle_since_reap, reaped = False, time.monotonic()
        if not study.get_trials(deepcopy=False, states=(TrialState.WAITING,)):
            if poll_seconds and not finished:
                time.sleep(poll_seconds)
                idle_since_reap = True
                continue
            return done
        with warnings.catch_warnings():  # we record heartbeats ourselves (see storage.Heartbeat)
            warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used")
            trial = study.ask()
        if JobTrial(trial).key is None:  # another worker took the last WAITING trial first: ask() made a fresh one
            study.tell(trial, state=TrialState.PRUNED)
            continue
        state.suggest_job_params(trial, StudyState(study).trick_order)  # fixed by the queue: arm, seed, tricks
        job = job_of(trial)
        if job_states(study).get(job.key) == TrialState.COMPLETE:
            state.set_duplicate(trial, job.key)
            study.tell(trial, state=TrialState.PRUNED)
            continue
        state.set_worker(trial, worker_identity())
        if job.phase == TUNE:
            job = replace(job, nuisance=suggest_nuisance(study, spec, job))
            state.set_nuisance(trial, job.nuisance)
        with Heartbeat(storage, trial._trial_id):
            try:
                if preemption.requested:
                    raise Preempted()  # told to stop between the queue and the training: the trial goes back
                with preemption.training():
                    value = run_job(spec, job, trial, device, deterministic, trackers)
            except Preempted:
                release(study, trial)
                raise Preempted(done) from None
            except optuna.exceptions.UpdateFinishedTrialError:
                continue  # failed and requeued meanwhile by another worker (stale heartbeat): the retry runs it
            except StorageUnavailable:
                raise  # storing the records gave up on the storage: nothing more can be stored
            except MetricNotFinite as error:  # the workload is broken: every job would fail alike, so stop the study
                state.set_error(trial, str(error))
                study.tell(trial, state=TrialState.FAIL)
                StudyState(study).stop(str(error))
                raise
            except Exception as error:  # a bug, not a result: recorded and left for a retry
                state.set_error(trial, f"{type(error).__name__}: {error}")
                study.tell(trial, state=TrialState.FAIL)
                continue
        if study.tell(trial, value, skip_if_finished=True).state != TrialState.COMPLETE:
            continue  # likewise, failed and requeued between the records and the result
        done += 1
        if on_trial:
            on_trial()
    return done


def check_system(spec: StudySpec, precision: Optional[str], compile: Optional[bool]) -> None:
    """A `UserError` when a worker asked for a precision or compilation other than its study's: a study's runs
    all train alike, so the worker refuses rather than train the study's setting while told another."""
    s = spec.study
    wanted = {"precision": precision, "compile": compile}
    for key, value in wanted.items():
        if value is not None and value != getattr(s, key):
            raise UserError(f"study {s.name!r} trains with {key} = {getattr(s, key)!r} (its spec's study.{key}); "
                            f"this worker was asked for {value!r}: every run of a study trains alike (leave it out "
                            "to train the study's)")


STOPPED_EXIT = 3  # a local worker process that stopped the study (not GAVE_UP_EXIT: its coordinator tells them apart)


def release(study: optuna.Study, trial: optuna.Trial) -> bool:
    """Give a trial that a stopped worker cannot finish back to the queue: FAIL it and queue its job again
    (``retry_reason = "released"``). False when it had finished (or was reaped) already: nothing to give back."""
    storage = study._storage
    try:
        if not storage.set_trial_state_values(trial._trial_id, state=TrialState.FAIL):
            return False
    except optuna.exceptions.UpdateFinishedTrialError:
        return False
    requeue(study, storage.get_trial(trial._trial_id), "released")
    return True


def worker_main(study_name: str, storage_url: str, workers: int, threads: int, device: str = "cpu",
                deterministic: bool = True, storage_retry: Optional[float] = None, stopped=None,
                grace: Optional[float] = None, trackers: Sequence[Tracker] = ()) -> None:
    """Entry point of a spawned local worker process. Its coordinator watches the same storage, so it prints
    the outage lines and, when this worker gives up (exit `GAVE_UP_EXIT`), the one message. A `UserError` (a
    full disk under the storage) ends it: its message is put on ``stopped`` (a queue: the coordinator says it
    once and stops) or printed. With ``grace``, a SIGTERM stops it as `Preemption` says (exit
    `PREEMPTED_EXIT`); without, SIGTERM ends it at once, as before."""
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))
    try:
        with storage_errors(shown_url(storage_url)), \
                (Preemption(grace) if grace is not None else contextlib.nullcontext()) as preemption:
            work(study_name, storage_url, workers=workers, threads=threads, device=device, deterministic=deterministic,
                 storage_retry=storage_retry, outage_lines=False, preemption=preemption, trackers=trackers)
    except Preempted:
        raise SystemExit(PREEMPTED_EXIT)
    except StorageUnavailable:
        raise SystemExit(GAVE_UP_EXIT)
    except MetricNotFinite:
        raise SystemExit(STOPPED_EXIT)  # stored as the study's reason to stop: the coordinator says it, once
    except UserError as error:
        if stopped is None:
            raise SystemExit(f"worker: {error}")
        stopped.put(str(error))
        raise SystemExit(2)
