"""Workers on a real SLURM cluster: `trickstack launch slurm` submits a three-task array of workers on a small
MNIST-1D study on PostgreSQL, a coordinator (``--workers 0``) fills the queue, and one task is preempted in
the middle of a trial (``scancel --signal=TERM``, then ``scontrol requeue``). The study must complete with
every (arm, seed) run exactly once, and the same metrics, bit for bit, as one worker's run on CPU.

Needs SLURM (`.ci/slurm-up` starts a single-node cluster) and TRICKSTACK_TEST_POSTGRES (`.ci/run`); without
either it skips saying why, except under CI=true, where it fails.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import uuid
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState
from test_engine_workers import assert_each_job_complete_once, eval_keys, make_spec, one_thread, wait_for  # noqa: F401

from trickstack.ablations import engine
from trickstack.ablations.remote import Remote
from trickstack.ablations.spec import StudySpec
from trickstack.ablations.state import JobTrial
from trickstack.ablations.storage import open_storage

TRIAL_FLOPS = 1e10  # about 540 MNIST-1D steps: seconds on one thread, long enough to preempt one mid-trial


@pytest.fixture
def slurm() -> None:
    missing = [tool for tool in ("sbatch", "scancel", "scontrol", "sinfo") if shutil.which(tool) is None]
    reason = f"SLURM's {', '.join(missing)} not on PATH" if missing else None
    if reason is None:
        state = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True)
        if state.returncode != 0 or not state.stdout.strip():
            reason = f"no SLURM controller answers ({' '.join(state.stderr.split()) or 'no node'})"
    if reason:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason} under CI=true: .ci/run should have started a cluster with .ci/slurm-up")
        pytest.skip(f"{reason}: run .ci/slurm-up (a single-node cluster) to test workers on SLURM")


@pytest.fixture
def postgres() -> str:
    url = os.environ.get("TRICKSTACK_TEST_POSTGRES")
    if not url:
        if os.environ.get("CI") == "true":
            pytest.fail("TRICKSTACK_TEST_POSTGRES is unset under CI=true: .ci/run should have started PostgreSQL")
        pytest.skip("TRICKSTACK_TEST_POSTGRES is unset: set it to postgresql://USER:PASS@HOST:PORT/DB "
                    "(.ci/run starts a local server) to test workers on SLURM")
    return url


def array_task(pid: int) -> str:
    """The SLURM array task (``JOB_TASK``) a worker process runs in, read from its environment."""
    environ = dict(item.split("=", 1) for item in Path(f"/proc/{pid}/environ").read_text().split("\0") if "=" in item)
    return f"{environ['SLURM_ARRAY_JOB_ID']}_{environ['SLURM_ARRAY_TASK_ID']}"


def metrics(study: optuna.Study) -> dict:
    return {(JobTrial(t).arm, t.params["seed"]): JobTrial(t).records[0]["metrics"]
            for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))}


def run(*args: str) -> str:
    done = subprocess.run(list(args), capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, f"{' '.join(args)}: {done.stderr}"
    return done.stdout


def test_a_slurm_array_of_workers_survives_a_preemption_and_matches_one_worker(tmp_path, cli, slurm, postgres):
    name = f"slurm-{uuid.uuid4().hex[:10]}"  # the database outlives the test
    spec_path = tmp_path / f"{name}.toml"
    spec_path.write_text(f'[study]\nname = "{name}"\nworkload = "mnist1d"\nbudget = {{ flops = {TRIAL_FLOPS} }}\n'
                         'seeds = 2\ndesign = "one-at-a-time"\ntricks = ["label_smoothing"]\n')  # 2 arms x 2 seeds
    spec = StudySpec.load(spec_path)
    coordinator = threading.Thread(target=engine.ablate, args=(spec, postgres),
                                   kwargs={"workers": 0, "remote": Remote(poll=0.5)}, daemon=True)
    job, logs = None, tmp_path / "run" / "logs"
    try:
        coordinator.start()
        code, out, err = cli("launch", "slurm", str(spec_path), "--storage", postgres, "--workers", "3",
                             "--poll", "1", "--grace", "0", "--out", str(tmp_path / "run"))  # released at once
        assert code == 0, err
        job = out.strip()
        study = wait_for(lambda: _loaded(name, postgres), "the study, created by the coordinator")
        victim = wait_for(lambda: _running(study), "a trial running in a SLURM worker")
        task = array_task(victim.user_attrs["worker"]["pid"])
        # As a preemption: SIGTERM mid-trial (--full: scancel signals only job steps otherwise, and the worker is
        # the batch shell), then the task requeued; SLURM holds a requeued job for 2 minutes, lifted here.
        run("scancel", "--signal=TERM", "--full", task)
        wait_for(lambda: study.trials[victim.number].state == TrialState.FAIL, "the preempted trial released")
        run("scontrol", "requeue", task)
        run("scontrol", "update", f"JobId={task}", "StartTime=now")
        coordinator.join(timeout=240)
        assert not coordinator.is_alive(), f"the study did not finish; worker logs in {logs}"
        wait_for(lambda: not run("squeue", "-h", "-j", job).strip(), "every worker gone once the study finished")
    finally:
        if job:
            subprocess.run(["scancel", job], capture_output=True)

    study = optuna.load_study(study_name=name, storage=open_storage(postgres, workers=2))
    assert_each_job_complete_once(study, eval_keys(spec))
    released = study.trials[victim.number]
    assert released.state == TrialState.FAIL
    [retry] = [t for t in study.trials if t.user_attrs.get("retry_of") == victim.number]
    assert retry.state == TrialState.COMPLETE and retry.user_attrs["retry_reason"] == "released"
    assert len({t.user_attrs["worker"]["pid"] for t in study.trials if "worker" in t.user_attrs}) >= 2
    [log] = logs.glob(f"*_{task.split('_')[1]}.out")
    assert log.read_text().count("worker ran") == 2, f"the requeued task did not run a worker again:\n{log.read_text()}"

    alone = engine.ablate(make_spec(f"{name}-alone", seeds=2, flops=TRIAL_FLOPS), f"sqlite:///{tmp_path}/one.db").study
    assert metrics(study) == metrics(alone), "the SLURM workers' metrics differ from one worker's"
    optuna.delete_study(study_name=name, storage=postgres)


def _loaded(name: str, url: str):
    try:
        return optuna.load_study(study_name=name, storage=open_storage(url, workers=2))
    except KeyError:
        return None


def _running(study: optuna.Study):
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if "worker" in trial.user_attrs and trial.user_attrs["worker"]["pid"] != os.getpid():
            return trial
    return None
