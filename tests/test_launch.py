"""`trickstack launch slurm|k8s` and where a worker reads its storage: the Kubernetes Job checked against
Kubernetes' own schemas (kubernetes-validate, strict: an unknown or misspelled field fails), the sbatch
script checked by bash and by its directives, no password in either, owner-only storage files, and a
worker that gets SIGTERM mid-trial releasing it. A real SLURM cluster runs the script in tests/test_slurm.py."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess

import kubernetes_validate
import optuna
import pytest
import yaml
from optuna.trial import TrialState
from test_engine_workers import assert_each_job_complete_once, eval_keys, make_spec
from test_hostile_input import one_error
from test_trackers import needs

from trickstack.ablations import engine, worker
from trickstack.ablations.launch import BACKOFF_PER_INDEX, GRACE_SECONDS
from trickstack.ablations.preemption import PREEMPTED_EXIT, Preempted, Preemption
from trickstack.ablations.remote import STORAGE_ENV
from trickstack.ablations.storage import open_storage

KUBERNETES = "1.33"  # backoffLimitPerIndex is generally available from 1.33 (beta from 1.29)
PASSWORD = "pa55word"
URL = f"postgresql://trick:{PASSWORD}@db.example:5432/studies"


def manifest(cli, *extra: str) -> dict:
    code, out, err = cli("launch", "k8s", "mnist1d-sweep", "--image", "registry.example/trickstack:1", *extra)
    assert code == 0, err
    assert PASSWORD not in out + err
    return yaml.safe_load(out)


@pytest.mark.parametrize("gpus", [0, 2])
def test_the_kubernetes_job_is_valid_against_the_kubernetes_schema(cli, gpus):
    job = manifest(cli, "--workers", "4", "--gpus-per-worker", str(gpus))
    kubernetes_validate.validate(job, KUBERNETES, strict=True)  # raises on a wrong type or an unknown field
    spec = job["spec"]
    assert (spec["completionMode"], spec["completions"], spec["parallelism"]) == ("Indexed", 4, 4)
    assert spec["backoffLimitPerIndex"] == BACKOFF_PER_INDEX
    pod = spec["template"]["spec"]
    assert pod["restartPolicy"] == "Never" and pod["terminationGracePeriodSeconds"] == GRACE_SECONDS
    ignored = [rule for rule in spec["podFailurePolicy"]["rules"] if rule["action"] == "Ignore"]
    assert ignored[0]["onPodConditions"] == [{"type": "DisruptionTarget", "status": "True"}]  # preemption
    [container] = pod["containers"]
    assert container["command"][:3] == ["trickstack", "worker", "mnist1d-sweep"]
    command = container["command"]
    assert command[command.index("--device") + 1] == ("cuda" if gpus else "cpu")
    [storage] = [e for e in container["env"] if e["name"] == STORAGE_ENV]
    assert storage["valueFrom"]["secretKeyRef"] == {"name": "trickstack-storage", "key": "url"}
    resources = container["resources"]
    if gpus:
        assert resources["requests"]["nvidia.com/gpu"] == resources["limits"]["nvidia.com/gpu"] == "2"
    else:
        assert "nvidia.com/gpu" not in resources["requests"]


def test_the_schema_check_fails_on_a_misspelled_field(cli):
    job = manifest(cli, "--workers", "2")
    job["spec"]["backofLimitPerIndex"] = job["spec"].pop("backoffLimitPerIndex")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(job, KUBERNETES, strict=True)


def test_the_slurm_dry_run_prints_a_job_array_script_without_the_password(tmp_path, cli):
    code, out, err = cli("launch", "slurm", "mnist1d-sweep", "--storage", URL, "--workers", "3", "--gpus-per-worker",
                         "1", "--partition", "gpu", "--time", "01:00:00", "--account", "lab", "--out",
                         str(tmp_path / "run"), "--dry-run")
    assert code == 0, err
    assert PASSWORD not in out + err
    assert not (tmp_path / "run").exists(), "a dry run wrote files"
    subprocess.run(["bash", "-n"], input=out, text=True, check=True)  # a script bash can read
    directives = [line.split(None, 1)[1] for line in out.splitlines() if line.startswith("#SBATCH ")]
    for directive in ("--array=0-2", "--gres=gpu:1", f"--signal=B:TERM@{GRACE_SECONDS}", "--requeue",
                      "--partition=gpu", "--time=01:00:00", "--account=lab"):
        assert directive in directives
    [command] = [shlex.split(line)[1:] for line in out.splitlines() if line.startswith("exec ")]
    assert command[command.index("--device") + 1] == "cuda"
    assert command[command.index("--storage-file") + 1] == str(tmp_path / "run" / "storage.url")
    assert "--storage" not in command


def test_the_slurm_launch_writes_the_password_to_an_owner_only_file(tmp_path, cli, monkeypatch):
    calls = []

    def fake_sbatch(args, **kwargs):  # no SLURM here: the script and the call are what is checked
        calls.append(args)
        return subprocess.CompletedProcess(args, 0, stdout="4242\n", stderr="")

    monkeypatch.setattr(subprocess, "run", fake_sbatch)
    code, out, err = cli("launch", "slurm", "s", "--storage", URL, "--workers", "2", "--out", str(tmp_path / "run"))
    assert code == 0, err
    assert out.strip() == "4242"
    [[sbatch, parsable, script]] = calls
    assert (sbatch, parsable) == ("sbatch", "--parsable")
    assert PASSWORD not in open(script).read()
    secret = tmp_path / "run" / "storage.url"
    assert secret.read_text().strip() == URL and (secret.stat().st_mode & 0o777) == 0o600


def test_a_storage_file_others_may_read_is_refused(tmp_path, cli):
    secret = tmp_path / "storage.url"
    secret.write_text(URL)
    secret.chmod(0o644)
    for args in (["worker", "s", "--storage-file", str(secret)],
                 ["launch", "slurm", "s", "--storage-file", str(secret), "--workers", "1", "--dry-run"]):
        code, _, err = cli(*args)
        message = one_error(code, err)
        assert "may be read by others (mode 0644)" in message and f"chmod 600 {secret}" in message
        assert PASSWORD not in err


def test_a_worker_reads_its_storage_from_the_environment_or_an_owner_only_file(tmp_path, cli, monkeypatch):
    url = f"journal:///{tmp_path}/j.log"
    optuna.create_study(study_name="present", storage=open_storage(url))
    secret = tmp_path / "storage.url"
    secret.write_text(url)
    secret.chmod(0o600)
    monkeypatch.setenv(STORAGE_ENV, url)
    for args in (["worker", "absent"], ["worker", "absent", "--storage-file", str(secret)]):
        message = one_error(*cli(*args)[::2])
        assert "no study 'absent'" in message and f"journal:///{tmp_path}/j.log" in message  # that storage was read


def test_a_worker_that_gets_sigterm_mid_trial_releases_it_and_takes_no_other(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path}/s.db"
    spec = make_spec("preempted", seeds=2)
    real, trained = worker.run_job, []

    def preempted(spec, job, trial, *hardware):
        trained.append(trial.number)
        if len(trained) == 1:
            os.kill(os.getpid(), signal.SIGTERM)  # as the scheduler does, mid-trial
        return real(spec, job, trial, *hardware)

    ctx = engine.open_study(spec, url, workers=1)
    arms, _ = engine.plan_arms(spec)
    for job in engine.jobs_for(ctx, arms)[1]():
        engine.enqueue(ctx.study, job, ctx.order)
    monkeypatch.setattr(worker, "run_job", preempted)
    with Preemption(0) as preemption, pytest.raises(Preempted) as stopped:  # no grace: released at once
        worker.work("preempted", url, preemption=preemption)
    assert preemption.requested and stopped.value.args == (0,) and len(trained) == 1, "a trial was started after SIGTERM"
    study = ctx.study
    victim = study.trials[trained[0]]
    assert victim.state == TrialState.FAIL
    [retry] = [t for t in study.trials if t.user_attrs.get("retry_of") == victim.number]
    assert retry.state == TrialState.WAITING and retry.user_attrs["retry_reason"] == "released"
    assert retry.system_attrs["fixed_params"] == victim.params

    monkeypatch.setattr(worker, "run_job", real)
    study = engine.ablate(spec, url).study  # the released job runs once, elsewhere
    assert_each_job_complete_once(study, eval_keys(spec))
    assert study.user_attrs["failed_jobs"] == []


def test_the_worker_command_exits_143_after_sigterm(tmp_path, cli, monkeypatch):
    url = f"sqlite:///{tmp_path}/s.db"
    spec = make_spec("stopped", seeds=1)
    ctx = engine.open_study(spec, url, workers=1)
    arms, _ = engine.plan_arms(spec)
    for job in engine.jobs_for(ctx, arms)[1]():
        engine.enqueue(ctx.study, job, ctx.order)
    monkeypatch.setattr(worker, "run_job", lambda *args: os.kill(os.getpid(), signal.SIGTERM) or 0.0)
    before = signal.getsignal(signal.SIGTERM)
    code, _, err = cli("worker", "stopped", "--storage", url, "--device", "cpu")
    assert code == PREEMPTED_EXIT and "stopped by SIGTERM" in err
    assert signal.getsignal(signal.SIGTERM) is before, "the handler outlived the command"


def test_the_workers_get_the_trackers_named_at_launch(tmp_path, cli, monkeypatch):
    monkeypatch.chdir(tmp_path)
    store = tmp_path / "mlflow.db"
    args = ("launch", "slurm", "s", "--storage", URL, "--workers", "2", "--out", str(tmp_path / "run"),
            "--tracker", "tensorboard:tb", "--tracker", f"mlflow:sqlite:///{store}")
    code, out, err = cli(*args, "--dry-run")
    assert code == 0, err
    [command] = [shlex.split(line)[1:] for line in out.splitlines() if line.startswith("exec ")]
    trackers = [command[i + 1] for i, arg in enumerate(command) if arg == "--tracker"]
    assert trackers == [f"tensorboard:{tmp_path / 'tb'}", f"mlflow:sqlite:///{store}"]  # a folder made absolute here
    assert not store.exists() and not (tmp_path / "run").exists(), "a dry run wrote files"

    monkeypatch.setattr(subprocess, "run", lambda args, **kwargs: subprocess.CompletedProcess(args, 0, "7\n", ""))
    import trickstack.cli.launch

    with monkeypatch.context() as without_mlflow:  # MLflow not installed here: launched all the same, nothing made
        without_mlflow.setattr(trickstack.cli.launch.importlib.util, "find_spec", lambda name: None)
        code, out, err = cli(*args)
    assert code == 0 and out.strip() == "7" and not store.exists(), err
    code, out, err = cli(*args)
    assert code == 0, err
    needs("mlflow", "mlflow")
    from mlflow import MlflowClient  # the store made here, with the study's experiment: no race among the workers

    assert MlflowClient(f"sqlite:///{store}").get_experiment_by_name("s") is not None


def test_pods_get_trackers_inside_their_containers(cli):
    job = manifest(cli, "--workers", "2", "--tracker", "tensorboard:/runs/tb", "--tracker", "mlflow:http://mlflow:5000")
    command = job["spec"]["template"]["spec"]["containers"][0]["command"]
    assert [command[i + 1] for i, arg in enumerate(command) if arg == "--tracker"] == [
        "tensorboard:/runs/tb", "mlflow:http://mlflow:5000"]
    for tracker, says in (("tensorboard:tb", "absolute path as the workers see it"), ("neptune:x", "tensorboard:DIR"),
                          ("mlflow:", "needs a tracking URI")):
        code, out, err = cli("launch", "k8s", "s", "--image", "i:1", "--workers", "1", "--tracker", tracker)
        message = one_error(code, err)
        assert not out and f"--tracker {tracker}: " in message and says in message, err
