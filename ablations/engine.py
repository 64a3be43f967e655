"""The coordinator of a study: plans the arms, queues jobs phase by phase, runs workers, resumes.

``ablate`` on an existing study continues it: finished jobs are never recomputed, jobs left RUNNING
by a dead process are requeued, and a spec may add seeds or tricks (appended to the study's trick
order). Static designs are evaluated in one round; ``greedy`` and ``search`` in rounds, each round
decided from the results of the last.
"""

from __future__ import annotations

import math
import multiprocessing.connection
import statistics
import time
import warnings
from dataclasses import dataclass, field
from typing import Callable, Optional, Sequence

import numpy as np
import optuna
from optuna.trial import TrialState

from trickstack.ablations import designs
from trickstack.ablations.jobs import (
    EVAL,
    SEARCH,
    SEARCH_SEED_OFFSET,
    TUNE,
    TUNING_SEED_OFFSET,
    Job,
    completed,
    enqueue,
    job_states,
    withdraw,
)
from trickstack.ablations.processes import start_worker_server, worker_context, worker_threads
from trickstack.ablations.remote import Remote, check_shared, wait_for_workers, worker_command
from trickstack.ablations.resilient import GAVE_UP_EXIT, StorageUnavailable, retry_seconds, unavailable
from trickstack.ablations.spec import StudySpec
from trickstack.ablations.state import (
    JobTrial,
    StudyState,
    abandon_proposal,
    configuration,
    proposal_index,
    proposals_trained,
    set_excluded_proposal,
    use_param,
)
from trickstack.ablations.storage import default_url, open_storage, shown_url
from trickstack.ablations.worker import work, worker_main
from trickstack.core.errors import MetricNotFinite, UserError
from trickstack.core.stacks import Arm, arm_name
from trickstack.stats import analysis, rules
from trickstack.trial.devices import worker_devices
from trickstack.trial.trackers import Tracker, prepared
from trickstack.tricks.registry import check_compatible, get_trick
from trickstack.workloads import get_workload

MAX_RETRIES = 2  # a job that fails (raises) this many more times is reported, not retried again
MAX_EXCLUDED_PER_TRIAL = 50  # search: conflicting proposals tolerated per configuration trained, then it stops
STATIC = ("one-at-a-time", "leave-one-out", "factorial", "fractional", "shapley")


@dataclass
class Context:
    spec: StudySpec
    storage_url: str
    workers: int
    study: optuna.Study
    order: list[str]
    progress: Optional[Callable[[str, int, int], None]] = None  # (phase label, done, total)
    excluded: list[tuple[Arm, str]] = field(default_factory=list)
    device: str = "cpu"  # what the workers train on (trickstack.trial.devices); not part of the spec
    deterministic: bool = True
    trackers: tuple[Tracker, ...] = ()  # where local workers also write each trial (trial.trackers); not part of the spec
    storage_retry: Optional[float] = None  # seconds a storage server may stop answering (`resilient.retry_seconds`)
    remote: Remote = field(default_factory=Remote)  # workers = 0: how the coordinator waits for remote workers


def open_study(spec: StudySpec, storage_url: Optional[str], workers: int, storage_retry: Optional[float] = None) -> Context:
    url = storage_url or default_url(workers)
    if workers == 0:
        check_shared(url)
    storage = open_storage(url, workers, storage_retry)
    direction = get_workload(spec.study.workload).direction
    study = optuna.create_study(study_name=spec.study.name, storage=storage, direction=direction, load_if_exists=True)
    state = StudyState(study)
    order = state.trick_order
    if state.spec is not None:
        _check_extension(StudySpec.model_validate(state.spec), spec)
    order += [t for t in spec.study.tricks if t not in order]
    state.start(spec.to_dict(), order)
    return Context(spec, url, workers, study, order, storage_retry=storage_retry)


def _check_extension(old: StudySpec, new: StudySpec) -> None:
    """A study can grow (more seeds, more tricks) but not change what its finished trials measured."""
    fixed = ("workload", "budget", "base", "overrides", "design", "search_nuisance", "first_seed", "precision", "compile")
    for name in fixed:
        if getattr(old.study, name) != getattr(new.study, name):
            was = getattr(old.study, name)
            shown = str(was.as_budget()) if name == "budget" else repr(was)
            raise UserError(f"{new.source}: study {new.study.name!r} exists with a different study.{name} "
                            f"({shown}); use a new study name")
    if old.base_recipe != new.base_recipe:
        raise UserError(f"{new.source}: study {new.study.name!r} exists with a different base recipe "
                        f"({old.base_recipe.name if old.base_recipe else 'none'}: its tricks, parameters or nuisance "
                        "values differ); use a new study name")
    if old.tune != new.tune:
        raise UserError(f"{new.source}: study {new.study.name!r} exists with a different tune section")
    if old.synthetic != new.synthetic:
        raise UserError(f"{new.source}: study {new.study.name!r} exists with a different synthetic truth; use a new study name")
    dropped = set(old.study.tricks) - set(new.study.tricks)
    if dropped:
        raise UserError(f"{new.source}: study {new.study.name!r} exists with tricks {sorted(dropped)} that the spec drops")


def plan_arms(spec: StudySpec) -> tuple[list[Arm], list[tuple[Arm, str]]]:
    s = spec.study
    wl = get_workload(s.workload)
    if s.design in STATIC:
        arms = designs.generate(s.design, s.tricks, resolution=s.resolution, permutations=s.permutations, seed=s.seed)
    elif s.design == "greedy":
        arms = [frozenset()] + designs.greedy_candidates(frozenset(), s.tricks)
    else:  # search: the baseline, then configurations proposed by the sampler
        arms = [frozenset()]
    with_base = [(arm, frozenset(spec.study.base) | arm) for arm in arms]
    kept, excluded = designs.exclude_conflicting([full for _, full in with_base], wl.provides, wl.name, wl.includes,
                                                 s.system)
    kept_set = set(kept)
    return [arm for arm, full in with_base if full in kept_set], [(arm - set(s.base), why) for arm, why in excluded]


def evaluation_seeds(spec: StudySpec) -> range:
    """The study's paired evaluation seeds: ``first_seed`` and the ``seeds - 1`` after it."""
    return range(spec.study.first_seed, spec.study.first_seed + spec.study.seeds)


def jobs_for(ctx: Context, arms: list[Arm]) -> tuple[list[Job], Callable[[], list[Job]]]:
    """Tuning jobs now, and a function giving the evaluation jobs once tuning has finished."""
    spec = ctx.spec
    per_arm = range(spec.tune.trials_per_arm) if spec.tune else range(0)
    tune = [Job(TUNE, arm, TUNING_SEED_OFFSET, tune_index=i) for arm in arms for i in per_arm]

    def evaluation() -> list[Job]:
        best = best_nuisance(ctx) if spec.tune else {}
        return [Job(EVAL, arm, seed, nuisance=best.get(arm_name(arm), {})) for arm in arms for seed in evaluation_seeds(spec)]

    return tune, evaluation


def best_nuisance(ctx: Context) -> dict[str, dict]:
    """Each arm's best tuned nuisance values, and its tuning compute, saved on the study."""
    sign = rules.sign(StudyState(ctx.study).direction)
    summary: dict[str, dict] = {}
    for trial in completed(ctx.study, TUNE):
        job = JobTrial(trial)
        arm = job.arm
        entry = summary.setdefault(arm, {"best": None, "value": -math.inf, "trials": 0, "flops": 0.0, "seconds": 0.0})
        entry["trials"] += 1
        for record in job.records:
            entry["flops"] += record["flops"]
            entry["seconds"] += record["train_seconds"] + record["eval_seconds"]
        if sign * trial.value > entry["value"]:
            entry["value"], entry["best"] = sign * trial.value, job.nuisance
    StudyState(ctx.study).set_tuning({arm: {k: v for k, v in e.items() if k != "value"} for arm, e in summary.items()})
    return {arm: e["best"] for arm, e in summary.items() if e["best"] is not None}


def run_phase(ctx: Context, jobs: list[Job], label: str, within: Optional[tuple[int, int]] = None) -> list[str]:
    """Queue the jobs not yet done and run workers until all are COMPLETE; return the keys that failed.
    ``within``: these jobs are one batch of a longer phase, (jobs of the phase done before it, jobs of the
    whole phase), and progress counts the whole phase."""
    keys = {job.key for job in jobs}
    retries: dict[str, int] = {}
    while True:
        states = job_states(ctx.study)
        queued: set[str] = set()
        try:
            for job in jobs:
                state = states.get(job.key)
                if state == TrialState.FAIL:
                    retries[job.key] = retries.get(job.key, 0) + 1
                live = (TrialState.COMPLETE, TrialState.RUNNING, TrialState.WAITING)
                if state not in live and retries.get(job.key, 0) <= MAX_RETRIES:
                    enqueue(ctx.study, job, ctx.order)
                    queued.add(job.key)
        except StorageUnavailable:
            raise  # the storage is gone: nothing can be withdrawn (a worker may run the half-queued round)
        except BaseException:  # Ctrl-C while queueing: leave no half-queued round for a worker to pick up
            withdraw(ctx.study, queued)
            raise
        _run_workers(ctx, keys, label, within)
        states = job_states(ctx.study)
        done = sum(states.get(k) == TrialState.COMPLETE for k in keys)
        if done == len(keys):
            return []
        running = [k for k in keys if states.get(k) == TrialState.RUNNING]
        gave_up = [k for k in keys if states.get(k) == TrialState.FAIL and retries.get(k, 0) >= MAX_RETRIES]
        if not running and len(gave_up) + done == len(keys):
            return gave_up
        if running:
            time.sleep(2)  # jobs still running in workers elsewhere (or a dead one about to be reaped)


def _run_workers(ctx: Context, keys: set[str], label: str, within: Optional[tuple[int, int]] = None) -> None:
    def report(states: Optional[dict[str, TrialState]] = None) -> None:
        if ctx.progress:
            states = job_states(ctx.study) if states is None else states
            before, total = within or (0, len(keys))
            ctx.progress(label, before + sum(states.get(k) == TrialState.COMPLETE for k in keys), total)

    report()
    if ctx.workers == 0:  # a coordinator only: workers elsewhere run the jobs
        wait_for_workers(ctx.study, keys, report, ctx.remote, worker_command(ctx.spec.study.name, ctx.storage_url))
        report()
        return
    devices = worker_devices(ctx.device, ctx.workers)  # several GPUs: one each, shared in turn past the count
    if ctx.workers <= 1:
        try:
            work(ctx.spec.study.name, ctx.storage_url, on_trial=report, device=devices[0], deterministic=ctx.deterministic,
                 storage_retry=ctx.storage_retry, trackers=ctx.trackers)
        except MetricNotFinite:
            pass  # stored as the study's reason to stop (`stop_if_stopped`)
        stop_if_stopped(ctx)
        return
    threads = worker_threads(ctx.workers)
    start_worker_server(ctx.workers, [ctx.spec.study.workload])  # if the command has not started it already
    stopped = worker_context().SimpleQueue()  # a worker's UserError: the study cannot go on (a full disk)
    procs = [worker_context().Process(target=worker_main, args=(ctx.spec.study.name, ctx.storage_url, ctx.workers,
                                                                threads, device, ctx.deterministic, ctx.storage_retry,
                                                                stopped), kwargs={"trackers": ctx.trackers})
             for device in devices]
    for p in procs:
        p.start()
    while alive := [p for p in procs if p.is_alive()]:
        multiprocessing.connection.wait([p.sentinel for p in alive], timeout=1)  # wakes at once when one ends
        report(job_states(ctx.study))  # read even without progress: the coordinator prints an outage's lines
    for p in procs:
        p.join()
    if not stopped.empty():  # said once, here: new workers would stop the same way, forever
        raise UserError(stopped.get())
    if any(p.exitcode == GAVE_UP_EXIT for p in procs):  # a worker gave up on the storage: say so once, here
        raise unavailable(shown_url(ctx.storage_url), retry_seconds(ctx.storage_retry))
    report()
    stop_if_stopped(ctx)


def stop_if_stopped(ctx: Context) -> None:
    """A worker stopped the study (a workload whose metric is not finite): say why, instead of retrying its jobs."""
    reason = StudyState(ctx.study).stopped
    if reason:
        raise UserError(f"study {ctx.spec.study.name!r} stopped: {reason}")


def evaluate(ctx: Context, arms: list[Arm]) -> list[str]:
    tune, evaluation = jobs_for(ctx, arms)
    failed = run_phase(ctx, tune, "tuning") if tune else []
    return failed + run_phase(ctx, evaluation(), "evaluation")


def arm_values(ctx: Context, arm: Arm) -> dict[int, float]:
    """Evaluation values of an arm by seed, signed so that larger is better."""
    sign = rules.sign(StudyState(ctx.study).direction)
    name = arm_name(arm)
    return {t.params["seed"]: sign * t.value for t in completed(ctx.study, EVAL)
            if JobTrial(t).arm == name and not JobTrial(t).trick_params}


def greedy(ctx: Context) -> list[str]:
    """Forward stacking: add the trick with the best significant paired gain until none is significant."""
    wl = get_workload(ctx.spec.study.workload)
    current: Arm = frozenset()
    remaining = list(ctx.spec.study.tricks)
    path, failed = [], evaluate(ctx, [current])
    while remaining:
        candidates, _ = designs.exclude_conflicting(
            [frozenset(ctx.spec.study.base) | c for c in designs.greedy_candidates(current, remaining)],
            wl.provides, wl.name, wl.includes, ctx.spec.study.system)
        candidates = [c - set(ctx.spec.study.base) for c in candidates]
        if not candidates:
            break
        failed += evaluate(ctx, candidates)
        base = arm_values(ctx, current)
        tests = []
        for cand in candidates:
            values = arm_values(ctx, cand)
            seeds = sorted(set(values) & set(base))
            a, b = [values[s] for s in seeds], [base[s] for s in seeds]
            finite = all(math.isfinite(x) for x in a + b) and len(seeds) >= 2 and a != b
            p = rules.one_sided_p([x - y for x, y in zip(a, b)])
            tests.append((cand, statistics.mean(x - y for x, y in zip(a, b)) if finite else -math.inf, p))
        reject = analysis.correct([p for _, _, p in tests], "holm") <= ctx.spec.study.alpha
        winners = [(gain, cand) for (cand, gain, _), r in zip(tests, reject) if r and gain > 0]
        round_info = {"current": arm_name(current), "tests": [[arm_name(c), g, p] for c, g, p in tests]}
        if not winners:
            path.append({**round_info, "added": None})
            break
        gain, best = max(winners, key=lambda w: w[0])
        added = next(iter(best - current))
        path.append({**round_info, "added": added})
        current, remaining = best, [t for t in remaining if t != added]
    StudyState(ctx.study).set_greedy_path(path)
    return failed


def proposal_sampler(seed: int, index: int) -> optuna.samplers.TPESampler:
    """The sampler that draws the search's proposal number ``index``: TPE seeded from the study's seed and the
    index, so a proposal depends only on the stored proposals before it, never on how many this process asked
    (a search resumed after an interruption asks what an uninterrupted one would have asked)."""
    derived = int(np.random.SeedSequence([seed, index]).generate_state(1)[0])
    return optuna.samplers.TPESampler(seed=derived, constant_liar=True)


def search(ctx: Context) -> list[str]:
    """Optuna TPE over which tricks are on, their parameters and ``search_nuisance``; the best is
    re-evaluated on fresh seeds. Proposals whose tricks conflict are excluded (pruned) and not counted
    in ``search_trials``; a proposal left unanswered by an interrupted coordinator is finished first.
    Each proposal is drawn by `proposal_sampler` for its index, so a resumed search proposes what an
    uninterrupted one would have."""
    s = ctx.spec.study
    wl = get_workload(s.workload)
    proposals = StudyState(ctx.study).search_study()
    failed = evaluate(ctx, [frozenset()])

    def jobs_of(params: dict) -> list[Job]:
        arm, trick_params = configuration(s.tricks, params)
        return [Job(SEARCH, arm, SEARCH_SEED_OFFSET + i, trick_params=trick_params) for i in range(s.search_seeds)]

    def finish(batch: list) -> None:
        nonlocal failed
        all_jobs = [job for _, jobs in batch for job in jobs]
        before = len(proposals.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.FAIL)))
        within = (before * s.search_seeds, s.search_trials * s.search_seeds)  # progress: runs of the whole search
        failed += run_phase(ctx, all_jobs, "search", within) if all_jobs else []
        results = {JobTrial(t).key: t.value for t in completed(ctx.study, SEARCH)}
        for number, jobs in batch:
            values = [results.get(job.key) for job in jobs]
            if any(v is None for v in values):
                proposals.tell(number, state=TrialState.FAIL)
            else:
                proposals.tell(number, sum(values) / len(values))

    resumed = []  # RUNNING proposals: their coordinator died between asking and telling
    for trial in proposals.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        arm = configuration(s.tricks, trial.params)[0]
        expected = {use_param(t) for t in s.tricks} | set(s.search_nuisance)
        expected |= {f"{t}.{p.name}" for t in arm for p in get_trick(t).params if p.searchable}
        if set(trial.params) == expected:
            resumed.append((trial.number, jobs_of(trial.params)))
        else:  # interrupted while its values were drawn: nothing of it ran
            abandon_proposal(proposals, trial)
    finish(resumed)
    while True:
        trained = proposals_trained(proposals)
        excluded = len(proposals.get_trials(deepcopy=False, states=(TrialState.PRUNED,)))
        if trained >= s.search_trials or excluded >= MAX_EXCLUDED_PER_TRIAL * s.search_trials:
            break
        batch = []
        for _ in range(max(1, min(ctx.workers, s.search_trials - trained))):
            with warnings.catch_warnings():  # the proposal study shares the storage's heartbeat setting
                warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used")
                proposals.sampler = proposal_sampler(s.seed, proposal_index(proposals))
                trial = proposals.ask()
            arm = frozenset(t for t in s.tricks if trial.suggest_categorical(use_param(t), [False, True]))
            problem = check_compatible([*s.base, *sorted(arm)], wl.provides, wl.name, wl.includes, s.system)
            if problem:
                set_excluded_proposal(trial, problem)
                proposals.tell(trial, state=TrialState.PRUNED)
                continue
            for t in sorted(arm):
                for p in get_trick(t).params:
                    if p.searchable:
                        p.suggest(trial, t)
            for name, r in s.search_nuisance.items():
                trial.suggest_float(name, r.low, r.high, log=r.log)
            batch.append((trial.number, jobs_of(trial.params)))
        finish(batch)
    if not proposals.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        raise UserError(f"study {s.name!r}: the search trained no configuration (every one proposed conflicted or "
                        "failed; see `trickstack status`)")
    best = proposals.best_trial
    arm, params = configuration(s.tricks, best.params)
    StudyState(ctx.study).set_search_best(arm, params, best.value)
    final = [Job(EVAL, arm, seed, trick_params=params) for seed in evaluation_seeds(ctx.spec)]
    return failed + run_phase(ctx, final, "re-evaluation on fresh seeds")


def ablate(spec: StudySpec, storage_url: Optional[str] = None, workers: int = 1,
           progress: Optional[Callable[[str, int, int], None]] = None, device: str = "cpu",
           deterministic: bool = True, storage_retry: Optional[float] = None, remote: Optional[Remote] = None,
           close: bool = True, trackers: Sequence[Tracker] = ()) -> Context:
    """Run (or continue) the study of ``spec`` to the end. Returns its context; see `Context.study`.

    ``device`` (`trickstack.trial.devices`): with ``auto`` or ``cuda`` and several GPUs, each local worker
    gets its own (`worker_devices`). A device the machine lacks is refused before the study is created.
    ``storage_retry``: seconds a storage server may stop answering before the study gives up
    (`trickstack.ablations.resilient`; None: ``TRICKSTACK_STORAGE_RETRY`` or the default).
    ``workers=0``: train nothing, wait for workers elsewhere (``remote``: how). ``close=False`` leaves the
    study open at the end (`recipe derive` queues more), so that polling workers keep waiting for jobs.
    ``trackers``: the local workers also write each trial there (`trickstack.trial.trackers`); workers elsewhere
    name their own."""
    worker_devices(device, workers)
    arms, excluded = plan_arms(spec)  # an oversized design is refused before the study is created
    ctx = open_study(spec, storage_url, workers, storage_retry)
    ctx.progress, ctx.device, ctx.deterministic = progress, device, deterministic
    ctx.trackers = prepared(trackers, spec.study.name)
    ctx.remote = remote or Remote()
    ctx.excluded = excluded
    state = StudyState(ctx.study)
    state.set_excluded(ctx.excluded)
    if spec.study.design in STATIC:
        s = spec.study  # a Shapley design's sampled orders are what `analysis.shapley_sampled` needs
        orders = designs.shapley_arms(s.tricks, s.permutations, s.seed)[1] if s.design == "shapley" else None
        state.set_arms(arms, orders)
        failed = evaluate(ctx, arms)
    elif spec.study.design == "greedy":
        failed = greedy(ctx)
    else:
        failed = search(ctx)
    state.finish(failed, close)
    return ctx

