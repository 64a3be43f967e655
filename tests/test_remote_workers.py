"""A coordinator that trains nothing (``--workers 0``): it queues the rounds, workers elsewhere run them; it says
when no worker is alive, prints the command a worker needs (password masked), and resumes after a kill.

Workers here are `work` in a thread of this process (the synthetic workload: runs in microseconds), or
`trickstack worker` processes; the storage is a journal file, which separate processes may share.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections import Counter

import optuna
import pytest
from optuna.trial import TrialState
from test_engine_workers import assert_each_job_complete_once, trickstack_command, wait_for
from test_hostile_input import one_error
from test_synthetic import write_spec

from trickstack.ablations import engine, worker
from trickstack.ablations.jobs import EVAL, completed
from trickstack.ablations.remote import Remote, wait_for_study
from trickstack.ablations.state import JobTrial
from trickstack.ablations.storage import open_storage
from trickstack.derive.derive import DeriveOptions, derive

FAST = 0.02  # seconds between looks at the queue: the synthetic runs take microseconds


@pytest.fixture
def runs_by_thread(monkeypatch):
    """The threads each job trained in, by key."""
    seen: Counter = Counter()
    real = worker.run_job

    def counting(spec, job, trial, *hardware):
        seen[threading.current_thread().name] += 1
        return real(spec, job, trial, *hardware)

    monkeypatch.setattr(worker, "run_job", counting)
    return seen


def start_worker_when(condition, study: str, url: str) -> threading.Thread:
    """A worker thread that starts once ``condition()`` holds and polls until the study is finished."""
    def serve() -> None:
        while not condition():
            time.sleep(FAST)
        wait_for_study(study, url, FAST, lambda message: None)
        worker.work(study, url, poll_seconds=FAST)

    thread = threading.Thread(target=serve, name="remote-worker", daemon=True)
    thread.start()
    return thread


def eval_keys(study: optuna.Study) -> set[str]:
    return {JobTrial(t).key for t in study.get_trials(deepcopy=False) if JobTrial(t).key}


def test_a_coordinator_without_workers_runs_every_round_through_remote_ones_and_says_when_none_is_alive(
        tmp_path, runs_by_thread):
    url = f"journal:///{tmp_path}/j.log"
    spec = write_spec(tmp_path, design="greedy", seeds=3, name="remote")  # rounds decided from the last one's results
    said: list[str] = []
    remote = Remote(notify=said.append, idle_warning=0.2, poll=FAST)
    helper = start_worker_when(lambda: len(said) >= 2, "remote", url)  # the warning is repeated, then a worker comes

    ctx = engine.ablate(spec, url, workers=0, remote=remote)
    helper.join(timeout=60)

    assert not helper.is_alive(), "the worker did not stop when the study finished"
    assert set(runs_by_thread) == {"remote-worker"}, f"jobs trained outside the worker: {runs_by_thread}"
    assert len(ctx.study.user_attrs["greedy_path"]) >= 2, "greedy stopped after one round: no later round was queued"
    assert_each_job_complete_once(ctx.study, eval_keys(ctx.study))
    assert ctx.study.user_attrs["finished"] is True
    assert said[0].startswith("no worker alive: ") and "waiting, none running" in said[0]
    assert f"start workers: trickstack worker remote --storage journal:///{tmp_path}/j.log --poll 10" in said[0]


def test_the_coordinator_prints_the_worker_command_with_the_password_masked(tmp_path, cli):
    write_spec(tmp_path, name="masked")
    url = "postgresql://u:s3cret@127.0.0.1:1/db"
    code, out, err = cli("ablate", str(tmp_path / "masked.toml"), "--workers", "0", "--storage", url)
    assert code == 2 and "cannot open the storage" in err  # nothing listens there: the command came first
    assert "s3cret" not in out + err
    assert "\n  trickstack worker masked --storage 'postgresql://u:***@127.0.0.1:1/db' --poll 10\n" in err  # one line
    assert "TRICKSTACK_STORAGE or --storage-file FILE" in err


@pytest.mark.parametrize("storage", ["sqlite:///{tmp}/s.db", "memory://x"])
def test_a_storage_remote_workers_cannot_share_is_refused(tmp_path, cli, storage):
    write_spec(tmp_path, name="unshared")
    code, _, err = cli("ablate", str(tmp_path / "unshared.toml"), "--workers", "0", "--storage", storage.format(tmp=tmp_path))
    message = one_error(code, err)
    assert "postgresql://" in message


def test_a_killed_coordinator_started_again_resumes_what_it_queued(tmp_path, runs_by_thread):
    url = f"journal:///{tmp_path}/j.log"
    spec_path = tmp_path / "resumed.toml"
    spec = write_spec(tmp_path, design="factorial", seeds=2, name="resumed")
    storage = open_storage(url, workers=2)
    log = tmp_path / "coordinator.log"
    with log.open("w") as out:
        proc = subprocess.Popen([*trickstack_command(), "ablate", str(spec_path), "--workers", "0", "--storage", url],
                                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        def queued():
            try:
                study = optuna.load_study(study_name="resumed", storage=storage)
            except KeyError:
                return None
            return study if len(study.get_trials(deepcopy=False, states=(TrialState.WAITING,))) == 16 else None

        study = wait_for(queued, "the coordinator's 16 queued jobs (8 arms x 2 seeds)", proc, log)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert not completed(study), "the coordinator trained a job itself"
    before = len(study.get_trials(deepcopy=False))

    helper = start_worker_when(lambda: True, "resumed", url)
    ctx = engine.ablate(spec, url, workers=0, remote=Remote(poll=FAST))
    helper.join(timeout=60)
    assert len(ctx.study.get_trials(deepcopy=False)) == before, "the restarted coordinator queued its jobs again"
    assert_each_job_complete_once(ctx.study, eval_keys(ctx.study))
    assert {JobTrial(t).phase for t in completed(ctx.study)} == {EVAL}


def test_recipe_derive_without_workers_keeps_the_study_open_until_its_last_phase(tmp_path, runs_by_thread):
    url = f"journal:///{tmp_path}/j.log"
    truth = {"baseline": 0.5, "seed_noise": 0.02, "run_noise": 0.002, "effects": {"label_smoothing": 0.05}}
    helper = start_worker_when(lambda: True, "derive-synthetic-2016", url)
    d = derive("synthetic", 2016, DeriveOptions(trials=4, tricks=("label_smoothing", "cosine_schedule")), truth=truth,
               recipes=tmp_path / "recipes", storage=url, workers=0, remote=Remote(poll=FAST))
    helper.join(timeout=60)
    assert not helper.is_alive()
    assert set(runs_by_thread) == {"remote-worker"}
    assert d.accepted and d.path.exists()
    study = optuna.load_study(study_name="derive-synthetic-2016", storage=open_storage(url, workers=2))
    assert study.user_attrs["finished"] is True


def test_recipe_derive_without_workers_names_its_study_in_the_worker_command(tmp_path, cli):
    truth = tmp_path / "truth.toml"
    truth.write_text("[synthetic]\nbaseline = 0.5\n")
    args = ["recipe", "derive", "--workload", "synthetic", "--year", "2016", "--synthetic", str(truth), "--recipes",
            str(tmp_path / "recipes"), "--workers", "0", "--storage"]
    code, _, err = cli(*args, "postgresql://u:pw@127.0.0.1:1/db")
    assert code == 2 and "pw@" not in err
    assert "\n  trickstack worker derive-synthetic-2016 --storage 'postgresql://u:***@127.0.0.1:1/db' --poll 10\n" in err
    code, _, err = cli(*args, "memory://x")
    assert "no worker can reach it" in one_error(code, err) and "trickstack worker" not in err  # refused first
