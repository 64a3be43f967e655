"""Preemption and vanished machines: a worker told to stop (SIGTERM) starts no new trial and finishes or
releases the one it trains; a worker whose machine vanishes (SIGKILL, no clean-up) is reclaimed by its
heartbeat. The fleet test runs workers in their own PID namespaces (``unshare --pid``), where the
same-machine pid check cannot judge them, so only the heartbeat can. Every (arm, seed) completes once.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
import types
import uuid
import weakref

import optuna
import psutil
import pytest
from optuna.trial import TrialState
from test_engine_workers import assert_each_job_complete_once, eval_keys, postgres_url, trickstack_command  # noqa: F401

from trickstack.ablations import engine, worker
from trickstack.ablations.jobs import enqueue
from trickstack.ablations.preemption import PREEMPTED_EXIT, Preempted, Preemption
from trickstack.ablations.spec import StudySpec
from trickstack.ablations.storage import GRACE_ENV, HEARTBEAT_ENV, heartbeat_timing, open_storage
from trickstack.core.errors import UserError
from trickstack.simulator import workload as simulated

TIMEOUT = 240  # seconds to wait for other processes: the machine is shared


def synthetic_spec(name: str, run_seconds: float, seeds: int = 2) -> StudySpec:
    return StudySpec.from_toml_text(
        f'[study]\nname = "{name}"\nworkload = "synthetic"\nbudget = {{ flops = 1e9 }}\nseeds = {seeds}\n'
        f'design = "one-at-a-time"\ntricks = ["ema", "mixup"]\n'
        f'[synthetic]\neffects = {{ ema = 0.02 }}\nseed_noise = 0.01\nrun_seconds = {run_seconds}\n', source=f"{name}.toml")


def queue_jobs(spec: StudySpec, url: str) -> optuna.Study:
    """Queue the study's evaluation jobs as its coordinator does, and run no worker."""
    ctx = engine.open_study(spec, url, workers=1)
    _, evaluation = engine.jobs_for(ctx, engine.plan_arms(spec)[0])
    for job in evaluation():
        enqueue(ctx.study, job, ctx.order)
    return optuna.load_study(study_name=spec.study.name, storage=open_storage(url))


def retry_reasons(study: optuna.Study) -> list[str]:
    return sorted(t.user_attrs["retry_reason"] for t in study.get_trials(deepcopy=False) if "retry_reason" in t.user_attrs)


def sigterm_at_training_start(monkeypatch) -> None:
    real = worker.run_job

    def stopped(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGTERM)  # handled in this (the main) thread before the next line runs
        return real(*args, **kwargs)

    monkeypatch.setattr(worker, "run_job", stopped)


@pytest.mark.parametrize("grace,run_seconds,outcome", [(30.0, 0.2, "finished"), (0.2, 30.0, "released")])
def test_sigterm_finishes_the_trial_within_the_grace_or_releases_it(tmp_path, monkeypatch, grace, run_seconds, outcome):
    sigterm_at_training_start(monkeypatch)
    url = f"sqlite:///{tmp_path}/s.db"
    spec = synthetic_spec("stop", run_seconds)
    study = queue_jobs(spec, url)
    before = signal.getsignal(signal.SIGTERM)
    started = time.monotonic()
    with pytest.raises(Preempted) as stopped, Preemption(grace, say=lambda line: None) as preemption:
        worker.work(spec.study.name, url, preemption=preemption)
    assert signal.getsignal(signal.SIGTERM) is before, "the handler outlived the worker"
    assert time.monotonic() - started < 20, "the worker waited out the trial instead of releasing it"
    trials = study.get_trials(deepcopy=False)
    first = trials[min(t.number for t in trials if "worker" in t.user_attrs)]
    waiting = [t for t in trials if t.state == TrialState.WAITING]
    if outcome == "finished":
        assert stopped.value.args == (1,) and first.state == TrialState.COMPLETE
        assert len(waiting) == len(eval_keys(spec)) - 1 and retry_reasons(study) == []
    else:
        assert stopped.value.args == (0,) and first.state == TrialState.FAIL
        assert len(waiting) == len(eval_keys(spec)) and retry_reasons(study) == ["released"]
    assert [t for t in trials if t.state == TrialState.RUNNING] == [], "a trial was started after the SIGTERM"
    monkeypatch.undo()
    # the simulated runs' own seconds are not waited out again (6 x 30 s): what is tested is that each job completes once
    monkeypatch.setattr(simulated, "time", types.SimpleNamespace(**{**vars(time), "sleep": lambda seconds: None}))
    worker.work(spec.study.name, url)  # another worker: the released job is run from scratch, once
    assert_each_job_complete_once(study, eval_keys(spec))


def test_heartbeat_timing_comes_from_the_environment_and_is_checked(monkeypatch):
    monkeypatch.setenv(HEARTBEAT_ENV, "2")
    monkeypatch.setenv(GRACE_ENV, "5")
    assert heartbeat_timing() == (2, 5)
    for heartbeat, grace in (("0", "5"), ("1.5", "5"), ("5", "5")):
        monkeypatch.setenv(HEARTBEAT_ENV, heartbeat)
        monkeypatch.setenv(GRACE_ENV, grace)
        with pytest.raises(UserError):
            heartbeat_timing()


def test_a_worker_holds_a_bounded_pool_of_database_connections(postgres_url):  # noqa: F811
    storage = open_storage(postgres_url)
    pool = storage._inner._backend.engine.pool
    assert (pool.size(), pool._max_overflow) == (1, 1)
    assert open_storage(postgres_url, pool_size=7)._inner._backend.engine.pool.size() == 7


@pytest.fixture
def unshare() -> str:
    path = shutil.which("unshare")
    probe = subprocess.run([path, "--pid", "--fork", "--mount-proc", "true"], capture_output=True) if path else None
    if probe is None or probe.returncode != 0:
        why = "unshare is not installed" if probe is None else f"unshare --pid fails here: {probe.stderr.decode().strip()}"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{why} (CI runs as root with util-linux)")
        pytest.skip(f"{why}: the PID-namespace fleet test needs it (root, util-linux)")
    return path


def namespace_of(launcher: subprocess.Popen) -> tuple[int, str]:
    """(host pid, PID namespace) of the worker that ``unshare --fork`` started."""
    deadline = time.monotonic() + TIMEOUT
    while not (children := psutil.Process(launcher.pid).children()):
        assert time.monotonic() < deadline and launcher.poll() is None, "unshare started no worker"
        time.sleep(0.05)
    return children[0].pid, os.readlink(f"/proc/{children[0].pid}/ns/pid")


def wait_for(condition, what: str):
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(0.1)
    pytest.fail(f"no {what} after {TIMEOUT} s")


def test_workers_in_their_own_pid_namespaces_killed_and_preempted_mid_trial(tmp_path, postgres_url, unshare):  # noqa: F811
    name = f"fleet-{uuid.uuid4().hex[:10]}"  # the database outlives the test
    spec = synthetic_spec(name, run_seconds=5, seeds=4)  # 12 jobs: none of the workers runs out of jobs early
    study = queue_jobs(spec, postgres_url)
    env = {**os.environ, HEARTBEAT_ENV: "1", GRACE_ENV: "3", "OMP_NUM_THREADS": "1"}
    logs = [tmp_path / f"worker{i}.log" for i in range(3)]
    launchers = []
    try:
        for log in logs:
            with log.open("w") as out:
                launchers.append(subprocess.Popen(
                    [unshare, "--pid", "--fork", "--mount-proc", *trickstack_command(), "worker", name, "--storage",
                     postgres_url, "--grace", "0.5", "--poll", "0.2"],
                    stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, start_new_session=True))
        workers = {namespace_of(launcher)[1]: (launcher, namespace_of(launcher)[0]) for launcher in launchers}
        assert len(workers) == 3, "the workers share a PID namespace"

        def two_trials():  # RUNNING on two workers; the one to stop started under 2 s ago (5 s > 2 s + its 0.5 s grace)
            running = [t for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)) if "worker" in t.user_attrs]
            by_worker = {t.user_attrs["worker"]["pidns"]: t for t in running}
            fresh = [t for t in by_worker.values() if time.time() - t.datetime_start.timestamp() < 2.0]
            others = [t for t in by_worker.values() if fresh and t is not fresh[0]]
            return (others[0], fresh[0]) if others else None

        killed, stopped = wait_for(two_trials, "two trials in flight on two workers")
        assert killed.user_attrs["worker"]["pid"] == stopped.user_attrs["worker"]["pid"] == 1  # same pids, other namespaces
        os.kill(workers[killed.user_attrs["worker"]["pidns"]][1], signal.SIGKILL)  # the machine vanishes
        os.kill(workers[stopped.user_attrs["worker"]["pidns"]][1], signal.SIGTERM)  # preempted
        assert workers[stopped.user_attrs["worker"]["pidns"]][0].wait(timeout=60) == PREEMPTED_EXIT
        assert workers[killed.user_attrs["worker"]["pidns"]][0].wait(timeout=60) != 0

        keys = eval_keys(spec)

        def done() -> bool:
            complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
            return len({t.user_attrs["job"] for t in complete}) == len(keys)

        wait_for(done, "completed study")
        survivor = next(launcher for launcher, _ in workers.values() if launcher.poll() is None)
        os.kill(namespace_of(survivor)[0], signal.SIGTERM)
        assert survivor.wait(timeout=60) == PREEMPTED_EXIT
    finally:
        for launcher in launchers:
            if launcher.poll() is None:
                os.killpg(launcher.pid, signal.SIGKILL)
                launcher.wait()
    log_text = "\n".join(f"--- {log.name}\n{log.read_text()}" for log in logs)
    trials = study.get_trials(deepcopy=False)
    assert_each_job_complete_once(study, keys)
    assert trials[killed.number].state == trials[stopped.number].state == TrialState.FAIL, log_text
    reasons = {t.user_attrs["retry_of"]: t.user_attrs["retry_reason"] for t in trials if "retry_of" in t.user_attrs}
    assert reasons == {killed.number: "heartbeat", stopped.number: "released"}, log_text  # no live worker was reaped
    try:
        optuna.delete_study(study_name=name, storage=postgres_url)
    except Exception:
        pass


def test_a_release_swallowed_where_it_was_raised_is_raised_again_with_no_grace():
    """With --grace 0 the release is raised at the SIGTERM; code it lands in may swallow it (a weakref callback run
    by the collector prints "Exception ignored" and goes on: seen in a SLURM worker), so it is raised again."""

    class Model:
        pass

    with Preemption(0, say=lambda line: None) as preemption, pytest.raises(Preempted):
        with preemption.training():
            model = Model()
            watch = weakref.ref(model, lambda ref: os.kill(os.getpid(), signal.SIGTERM))  # noqa: F841
            del model  # the callback runs; the handler runs inside it and its exception is swallowed there
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:  # training goes on
                pass
