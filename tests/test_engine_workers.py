"""Studies that stop and go on: resuming without recomputing, several workers on one storage, a worker
killed mid-trial (journal file and PostgreSQL), and bad input to the study commands.

Each (arm, seed) job must end COMPLETE exactly once: nothing lost, nothing run twice to completion.
Training runs on one thread: on a busy two-core machine two threads per run are many times slower.
PostgreSQL tests need TRICKSTACK_TEST_POSTGRES=postgresql://USER:PASS@HOST:PORT/DB (`.ci/run` starts
a server and sets it); without it they skip, except under CI=true, where they fail.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from trickstack.ablations import engine
from trickstack.ablations.jobs import EVAL, Job, enqueue
from trickstack.ablations.processes import worker_context
from trickstack.ablations.spec import StudySpec
from trickstack.ablations.storage import open_storage

SMALL = 1e9  # FLOPs: about 54 MNIST-1D steps, under a second on one thread
LONG = 1e10  # about 540 steps, a few seconds: long enough to kill a worker mid-trial
TIMEOUT = 240  # seconds to wait for another process: generous, the machine is shared


@pytest.fixture(autouse=True)
def one_thread(monkeypatch):
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # worker subprocesses
    yield
    torch.set_num_threads(before)


def make_spec(name: str, *, tricks=("label_smoothing",), seeds: int = 2, flops: float = SMALL,
              design: str = "one-at-a-time") -> StudySpec:
    return StudySpec.from_toml_text(
        f'[study]\nname = "{name}"\nworkload = "mnist1d"\nbudget = {{ flops = {flops} }}\n'
        f'seeds = {seeds}\ndesign = "{design}"\ntricks = {json.dumps(list(tricks))}\n', source=f"{name}.toml")


def eval_keys(spec: StudySpec) -> set[str]:
    arms, _ = engine.plan_arms(spec)
    return {Job(EVAL, arm, seed).key for arm in arms for seed in range(spec.study.seeds)}


def complete_counts(study: optuna.Study) -> Counter:
    return Counter(t.user_attrs["job"] for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
                   if "job" in t.user_attrs)


def assert_each_job_complete_once(study: optuna.Study, keys: set[str]) -> None:
    counts = complete_counts(study)
    assert set(counts) == keys, f"missing {sorted(keys - set(counts))}, unexpected {sorted(set(counts) - keys)}"
    assert all(n == 1 for n in counts.values()), f"completed more than once: { {k: n for k, n in counts.items() if n > 1} }"
    left = [(t.number, t.state.name) for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING, TrialState.WAITING))]
    assert not left, f"trials left unfinished: {left}"
    for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        if "job" in t.user_attrs:
            assert len(t.user_attrs["records"]) == 1 and t.user_attrs["records"][0]["seed"] == t.params["seed"]


@pytest.fixture
def count_runs(monkeypatch):
    """Count the jobs trained in this process, by key."""
    from trickstack.ablations import worker

    runs: list[str] = []
    real = worker.run_job

    def counting(spec, job, trial, *hardware):  # hardware: the worker's device and deterministic flag
        runs.append(job.key)
        return real(spec, job, trial, *hardware)

    monkeypatch.setattr(worker, "run_job", counting)
    return runs


# --- 1. resume ----------------------------------------------------------------------------------------

def test_resume_recomputes_nothing_and_new_seeds_run_alone(tmp_path, count_runs):
    url = f"sqlite:///{tmp_path}/s.db"
    spec = make_spec("resume")
    keys = eval_keys(spec)
    assert len(keys) == 4  # baseline and label_smoothing, seeds 0 and 1

    study = engine.ablate(spec, url).study
    assert sorted(count_runs) == sorted(keys)
    assert_each_job_complete_once(study, keys)
    trials = len(study.get_trials(deepcopy=False))

    count_runs.clear()
    study = engine.ablate(spec, url).study
    assert count_runs == [], "a finished study was trained again"
    assert len(study.get_trials(deepcopy=False)) == trials, "resuming created trials"
    assert_each_job_complete_once(study, keys)
    assert study.user_attrs["finished"] is True

    count_runs.clear()
    more = make_spec("resume", seeds=3)
    new = eval_keys(more) - keys
    assert new == {"eval/baseline/2", "eval/label_smoothing/2"}
    study = engine.ablate(more, url).study
    assert sorted(count_runs) == sorted(new), "extending the seeds re-ran old jobs"
    assert len(study.get_trials(deepcopy=False)) == trials + len(new)
    assert_each_job_complete_once(study, keys | new)


def test_extending_with_a_trick_runs_only_the_new_arms(tmp_path, count_runs):
    url = f"sqlite:///{tmp_path}/s.db"
    first = make_spec("grow", tricks=("label_smoothing",), design="factorial")
    study = engine.ablate(first, url).study
    old = eval_keys(first)
    masks = {t.user_attrs["job"]: t.params["arm_mask"] for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))}

    count_runs.clear()
    grown = make_spec("grow", tricks=("label_smoothing", "ema"), design="factorial")
    study = engine.ablate(grown, url).study
    new = eval_keys(grown) - old
    assert {k.split("/")[1] for k in new} == {"ema", "ema+label_smoothing"}
    assert sorted(count_runs) == sorted(new), "adding a trick re-ran arms that were finished"
    assert_each_job_complete_once(study, old | new)
    assert study.user_attrs["trick_order"] == ["label_smoothing", "ema"]  # appended: old arm masks keep their meaning
    for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        if t.user_attrs["job"] in masks:
            assert t.params["arm_mask"] == masks[t.user_attrs["job"]]


# --- 2. two worker processes ------------------------------------------------------------------------------

def test_two_worker_processes_on_a_journal_complete_each_job_once(tmp_path):
    url = f"journal:///{tmp_path}/j.log"
    spec = make_spec("pair", tricks=("label_smoothing", "ema"), seeds=2)
    keys = eval_keys(spec)
    assert len(keys) == 6
    study = engine.ablate(spec, url, workers=2).study
    assert_each_job_complete_once(study, keys)
    assert study.user_attrs["finished"] is True and study.user_attrs["failed_jobs"] == []
    pids = {t.user_attrs["worker"]["pid"] for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))}
    assert os.getpid() not in pids, "jobs ran in the coordinator, not in worker processes"


@pytest.mark.parametrize("probe", ["composer_was_loaded", "trainer_env_was_read", "collector_frozen"])
def test_worker_processes_start_with_composer_already_imported(probe):
    # Local workers fork from a server that imported the worker module (Composer, torch) once, read the
    # package metadata every Trainer logs and froze its objects out of the collector's walks, so a worker
    # does not pay those seconds itself (a spawned one starts from a bare interpreter).
    import preload_probe

    context = worker_context()
    queue = context.Queue()
    proc = context.Process(target=getattr(preload_probe, probe), args=(queue,))
    proc.start()
    try:
        assert queue.get(timeout=TIMEOUT) is True
    finally:
        proc.join(timeout=TIMEOUT)
    assert proc.exitcode == 0


def test_worker_processes_start_with_the_study_workload_loaded(tmp_path):
    # The fork server loads the workloads it is started for (`ablate` and `recipe derive` start it with the
    # spec's), so each worker does not load the data again. A fresh process: this one's server may run already.
    from trickstack.ablations.processes import spec_workloads

    spec = tmp_path / "s.toml"
    spec.write_text('[study]\nname = "s"\nworkload = "mnist1d"\n')
    assert spec_workloads(spec) == ["mnist1d"] and spec_workloads(tmp_path / "missing.toml") == []
    code = (f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); import preload_probe\n"
            "from trickstack.ablations.processes import start_worker_server, worker_context\n"
            "start_worker_server(2, ['mnist1d', 'no-such-workload'])\n"
            "context = worker_context(); queue = context.Queue()\n"
            "proc = context.Process(target=preload_probe.workload_was_loaded, args=(queue, 'mnist1d')); proc.start()\n"
            f"print(queue.get(timeout={TIMEOUT})); proc.join()\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=TIMEOUT)
    assert done.stdout.strip() == "True", done.stderr


# --- 3 and 4. a worker killed mid-trial ---------------------------------------------------------------------

def trickstack_command() -> list[str]:
    script = Path(sys.executable).with_name("trickstack")
    return [str(script)] if script.exists() else [sys.executable, "-m", "trickstack.cli"]


def wait_for(condition, what: str, proc: subprocess.Popen | None = None, log: Path | None = None):
    """Poll ``condition`` until it returns something truthy; fail after TIMEOUT or if ``proc`` exits."""
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        if proc is not None and proc.poll() is not None:
            pytest.fail(f"the worker exited with {proc.returncode} before {what}:\n{log.read_text() if log else ''}")
        time.sleep(0.1)
    pytest.fail(f"no {what} after {TIMEOUT} s")


def claimed_running_trial(study: optuna.Study):
    running = [t for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)) if "worker" in t.user_attrs]
    return running[0] if running else None


def kill_a_worker_mid_trial_then_finish(spec: StudySpec, url: str, tmp_path: Path) -> optuna.Study:
    keys = eval_keys(spec)
    ctx = engine.open_study(spec, url, workers=2)  # queue the jobs as the coordinator does, run no worker
    arms, _ = engine.plan_arms(spec)
    _, evaluation = engine.jobs_for(ctx, arms)
    for job in evaluation():
        enqueue(ctx.study, job, ctx.order)
    study = optuna.load_study(study_name=spec.study.name, storage=open_storage(url, workers=2))

    log = tmp_path / "worker.log"
    with log.open("w") as out:
        proc = subprocess.Popen([*trickstack_command(), "worker", spec.study.name, "--storage", url],
                                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        victim = wait_for(lambda: claimed_running_trial(study), "RUNNING trial with a worker recorded", proc, log)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert victim.user_attrs["worker"]["pid"] == proc.pid
    assert proc.returncode == -signal.SIGKILL
    assert study.trials[victim.number].state == TrialState.RUNNING, "the trial ended before the kill: raise LONG"
    assert not complete_counts(study).get(victim.user_attrs["job"])

    study = engine.ablate(spec, url).study  # another worker (in process) finds the dead trial and finishes
    assert_each_job_complete_once(study, keys)
    trials = study.get_trials(deepcopy=False)
    assert trials[victim.number].state == TrialState.FAIL
    retries = [t for t in trials if t.user_attrs.get("retry_of") == victim.number]
    assert len(retries) == 1, f"expected one retry of trial {victim.number}, got {[t.number for t in retries]}"
    assert retries[0].state == TrialState.COMPLETE
    assert retries[0].user_attrs["job"] == victim.user_attrs["job"]
    assert retries[0].params == victim.params
    assert study.user_attrs["failed_jobs"] == []
    return study


def test_a_worker_killed_mid_trial_on_a_journal_loses_and_duplicates_nothing(tmp_path):
    spec = make_spec("killed", seeds=1, flops=LONG)
    kill_a_worker_mid_trial_then_finish(spec, f"journal:///{tmp_path}/j.log", tmp_path)


@pytest.mark.parametrize("when", ["during", "after"])
def test_a_live_worker_whose_trial_was_declared_dead_drops_its_result(tmp_path, monkeypatch, when):
    """A heartbeat can go stale while the worker lives (a database outage, a suspended machine): another
    worker fails and requeues the trial. The first worker must neither crash nor complete the job twice."""
    from trickstack.ablations import worker
    from trickstack.ablations.storage import requeue

    real, victims = worker.run_job, []

    def declared_dead(spec, job, trial, *hardware):  # hardware: the worker's device and deterministic flag
        def reap():  # what another host's reap_dead_trials does on a stale heartbeat
            victims.append(trial.number)
            trial.study._storage.set_trial_state_values(trial._trial_id, state=TrialState.FAIL)
            requeue(trial.study, trial.study._storage.get_trial(trial._trial_id))

        if victims:
            return real(spec, job, trial, *hardware)
        if when == "during":
            reap()
            return real(spec, job, trial, *hardware)  # its records cannot be stored any more
        value = real(spec, job, trial, *hardware)
        reap()  # between the records and the result
        return value

    monkeypatch.setattr(worker, "run_job", declared_dead)
    spec = make_spec("stale", seeds=1)
    study = engine.ablate(spec, f"sqlite:///{tmp_path}/s.db").study
    assert_each_job_complete_once(study, eval_keys(spec))
    [victim] = victims
    assert study.trials[victim].state == TrialState.FAIL
    assert [t.state for t in study.trials if t.user_attrs.get("retry_of") == victim] == [TrialState.COMPLETE]


@pytest.fixture
def postgres_url() -> str:
    url = os.environ.get("TRICKSTACK_TEST_POSTGRES")
    if not url:
        if os.environ.get("CI") == "true":
            pytest.fail("TRICKSTACK_TEST_POSTGRES is unset under CI=true: .ci/run should have started PostgreSQL")
        pytest.skip("TRICKSTACK_TEST_POSTGRES is unset: set it to postgresql://USER:PASS@HOST:PORT/DB "
                    "(.ci/run starts a local server) to test studies on PostgreSQL")
    return url


def test_a_worker_killed_mid_trial_on_postgresql_loses_and_duplicates_nothing(tmp_path, postgres_url):
    # A unique name: the database outlives the test. The dead worker's trial is found by its pid (same
    # host) at once, without waiting for its heartbeat to go stale.
    name = f"killed-{uuid.uuid4().hex[:10]}"
    spec = make_spec(name, seeds=1, flops=LONG)
    try:
        kill_a_worker_mid_trial_then_finish(spec, postgres_url, tmp_path)
    finally:
        try:
            optuna.delete_study(study_name=name, storage=postgres_url)
        except Exception:
            pass


# --- 5. bad input -------------------------------------------------------------------------------------------

def one_message(code: int, out: str, err: str) -> str:
    """Assert a user error: exit 2, one message on stderr, no traceback; return it on one line."""
    assert code == 2, (code, out, err)
    assert "Traceback" not in err and out == ""
    assert err.count("error:") == 1, err
    return " ".join(err.split())


def write_spec(tmp_path: Path, body: str, name: str = "bad") -> Path:
    path = tmp_path / f"{name}.toml"
    path.write_text(body)
    return path


GOOD = '[study]\nname = "bad"\nworkload = "mnist1d"\nbudget = { flops = 1e9 }\nseeds = 2\ndesign = "factorial"\n'


@pytest.mark.parametrize("body,expected", [
    ('[study\nname = "bad"\n', ["malformed TOML"]),
    (GOOD + 'tricks = ["ema"]\ncolour = "red"\n', ["study.colour", "Extra inputs are not permitted"]),
    (GOOD + 'tricks = ["ema", "label_smothing"]\n', ["unknown trick 'label_smothing'", "did you mean: label_smoothing"]),
    (GOOD.replace('"mnist1d"', '"mnist"') + 'tricks = ["ema"]\n', ["unknown workload 'mnist'", "mnist1d"]),
], ids=["malformed-toml", "unknown-key", "unknown-trick", "unknown-workload"])
def test_bad_specs_exit_2_naming_the_file(tmp_path, cli, body, expected):
    path = write_spec(tmp_path, body)
    for args in (["ablate", str(path), "--storage", f"sqlite:///{tmp_path}/s.db"], ["ablate", str(path), "--dry-run"]):
        message = one_message(*cli(*args))
        assert str(path) in message
        for part in expected:
            assert part in message


@pytest.fixture
def twenty_tricks(monkeypatch) -> list[str]:
    """The registered tricks, padded to 20 with renamed copies of real ones (only 11 are registered)."""
    from trickstack.tricks import registry

    names = registry.list_tricks()
    for i in range(20 - len(names)):
        info = registry.get_trick(names[i % len(names)])
        monkeypatch.setitem(registry._REGISTRY, f"{info.name}_copy{i}", dataclasses.replace(info, name=f"{info.name}_copy{i}"))
    return registry.list_tricks()


@pytest.mark.parametrize("padded", [False, True], ids=["all-registered", "twenty"])
def test_an_oversized_factorial_is_refused_before_the_study_is_created(tmp_path, cli, request, padded):
    from trickstack.tricks.registry import list_tricks

    tricks = request.getfixturevalue("twenty_tricks") if padded else list_tricks()
    arms = f"{2 ** len(tricks):,}"
    path = write_spec(tmp_path, GOOD + f"tricks = {json.dumps(tricks)}\n")
    storage = f"sqlite:///{tmp_path}/s.db"
    for args in (["ablate", str(path), "--storage", storage], ["ablate", str(path), "--dry-run"]):
        message = one_message(*cli(*args))
        assert f"over {len(tricks)} tricks needs {arms} arms" in message
        assert "fractional" in message and "shapley" in message  # what to use instead
    # Refused up front: no half-made study whose stored spec would block the corrected one.
    message = one_message(*cli("status", "bad", "--storage", storage))
    assert "no study 'bad'" in message


def test_an_unreachable_storage_exits_2_with_one_message(tmp_path, cli):
    url = "postgresql://nobody@127.0.0.1:1/x"
    path = write_spec(tmp_path, GOOD + 'tricks = ["ema"]\n')
    for args in (["ablate", str(path), "--storage", url], ["status", "bad", "--storage", url],
                 ["worker", "bad", "--storage", url], ["export", "bad", "--storage", url]):
        message = one_message(*cli(*args))
        assert f"storage {url}" in message and "cannot open the storage" in message


@pytest.mark.parametrize("storage", ["sqlite", "journal"])
@pytest.mark.parametrize("command", ["status", "export", "worker"])
def test_a_study_that_does_not_exist_exits_2(tmp_path, cli, command, storage):
    url = f"sqlite:///{tmp_path}/s.db" if storage == "sqlite" else f"journal:///{tmp_path}/j.log"
    optuna.create_study(study_name="present", storage=open_storage(url))
    message = one_message(*cli(command, "absent", "--storage", url))
    assert "no study 'absent'" in message
