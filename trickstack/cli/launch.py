"""``trickstack launch slurm|k8s``: workers of a study started on a scheduler, and where a worker finds
the storage (``--storage``, the ``TRICKSTACK_STORAGE`` environment variable, ``--storage-file``)."""

from __future__ import annotations

import dataclasses
import importlib.util
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import List, Optional

import typer
import yaml

from trickstack.cli.consoles import err
from trickstack.core.errors import UserError
from trickstack.core.outputs import write_file

launch_app = typer.Typer(no_args_is_help=True, help="Start a study's workers on a cluster scheduler (SLURM, Kubernetes).")

TARGET_HELP = "a study spec (SPEC.toml: its study name) or a study name"
WORKERS_HELP = "workers: one per array task (SLURM) or pod (Kubernetes)"
GPUS_HELP = "GPUs of each worker (it trains with --device cuda on them); 0: on CPU"
CPUS_HELP = "CPUs of each worker: its torch threads (1 gives the same bits as any one-thread run)"
GRACE_HELP = ("after SIGTERM (preemption), seconds a worker may finish its current trial before it releases it to the "
              "queue (default 100: the scheduler kills it 120 s after the signal)")
POLL_HELP = "seconds between a worker's looks for the next round's jobs (default: as `ablate --workers 0` prints)"
LAUNCH_TRACKER_HELP = ("each worker also writes each trial as a run to tensorboard:DIR, mlflow:URI or wandb-offline:DIR, "
                       "the folder or URI as the workers see it; repeatable; the workers need the tracker's extra, "
                       "pip install 'trickstack[tensorboard]' (or [mlflow], [wandb])")


def storage_url(storage: Optional[str], storage_file: Optional[Path]) -> Optional[str]:
    """The storage a worker or launcher was given: ``--storage``, else ``--storage-file`` (owner-only), else the
    ``TRICKSTACK_STORAGE`` environment variable, else None (the default storage)."""
    from trickstack.ablations.launch import read_storage_file
    from trickstack.ablations.remote import STORAGE_ENV

    if storage is not None and storage_file is not None:
        raise UserError("give the storage once: --storage URL or --storage-file FILE")
    if storage_file is not None:
        try:
            return read_storage_file(storage_file)
        except UserError as error:
            raise UserError(f"--storage-file: {error}") from None
    return storage if storage is not None else os.environ.get(STORAGE_ENV) or None


def coordinator(study: str, storage: Optional[str], workers: int, idle_warning: Optional[float]):
    """With ``--workers 0``: say what a worker needs, and how the coordinator waits (`Remote`); else None."""
    from trickstack.ablations.remote import (
        IDLE_WARNING_SECONDS,
        STORAGE_ENV,
        Remote,
        check_shared,
        has_password,
        worker_command,
    )
    from trickstack.ablations.storage import default_url

    if idle_warning is not None and not (math.isfinite(idle_warning) and idle_warning > 0):
        raise UserError(f"--idle-warning {idle_warning:g}: give seconds, a finite number > 0")
    if workers:
        if idle_warning is not None:
            raise UserError("--idle-warning is for a coordinator without workers: add --workers 0")
        return None
    url = storage or default_url(0)
    check_shared(url)  # before the command is printed: no worker could use it
    hint = f"\n  (*** is the password: give it in {STORAGE_ENV} or --storage-file FILE, owner-only)" if has_password(url) else ""
    err.print(f"coordinating only: training runs wait for workers; start each with\n  {worker_command(study, url)}{hint}"
              "\n  or many at once: trickstack launch slurm|k8s", highlight=False, soft_wrap=True)  # a command stays one line
    return Remote(notify=lambda message: err.print(f"warning: {message}", highlight=False, soft_wrap=True),
                  idle_warning=idle_warning or IDLE_WARNING_SECONDS)


def fleet_trackers(texts: list[str], study: str, in_containers: bool, prepare: bool = True) -> tuple[str, ...]:
    """``--tracker`` values for workers elsewhere, as each worker will be given them. On SLURM (compute nodes share
    this file system) a folder is made absolute here and checked, and with ``prepare`` an MLflow store gets its
    tables and the study's experiment here (where MLflow is installed), before many workers starting at once would
    race to make them. In containers a folder must be the absolute path inside them, and nothing is checked here."""
    from trickstack.trial.trackers import Tracker

    given = []
    for text in texts:
        try:
            tracker = Tracker.parse(text, local=not in_containers)
            if prepare and not in_containers and tracker.kind == "mlflow" and importlib.util.find_spec("mlflow"):
                tracker.prepare(study)
        except UserError as error:
            raise UserError(f"--tracker {text}: {error}") from None
        given.append(str(tracker))
    return tuple(given)


def _fleet(target: str, workers: int, gpus: int, cpus: int, poll: Optional[float], grace: Optional[float],
           trackers: list[str], in_containers: bool = False, prepare: bool = True):
    from trickstack.ablations.launch import Fleet
    from trickstack.ablations.spec import StudySpec

    if poll is not None and not (math.isfinite(poll) and poll > 0):
        raise UserError(f"--poll {poll:g}: give seconds, a finite number > 0")
    study = StudySpec.load(Path(target)).study.name if target.endswith(".toml") else target
    given = {"poll": poll, "grace": grace}
    fleet = Fleet(study, workers, gpus, cpus, **{k: v for k, v in given.items() if v is not None})
    return dataclasses.replace(fleet, trackers=fleet_trackers(trackers, study, in_containers, prepare))


@launch_app.command("slurm")
def launch_slurm(
    target: str = typer.Argument(..., metavar="SPEC.toml|STUDY", help=TARGET_HELP),
    storage: Optional[str] = typer.Option(None, help="the study's storage, postgresql://... (default: the "
                                          "TRICKSTACK_STORAGE environment variable); a password goes to an "
                                          "owner-only file the workers read, never into the script"),
    storage_file: Optional[Path] = typer.Option(None, "--storage-file", help="a file (chmod 600) holding the URL: "
                                                "the workers read it"),
    workers: int = typer.Option(..., help=WORKERS_HELP),
    gpus_per_worker: int = typer.Option(0, help=GPUS_HELP),
    cpus_per_worker: int = typer.Option(1, help=CPUS_HELP),
    poll: Optional[float] = typer.Option(None, help=POLL_HELP),
    grace: Optional[float] = typer.Option(None, help=GRACE_HELP),
    partition: Optional[str] = typer.Option(None, help="sbatch --partition"),
    time: Optional[str] = typer.Option(None, help="sbatch --time, e.g. 04:00:00 (the worker gets SIGTERM 120 s "
                                       "before and releases its trial)"),
    account: Optional[str] = typer.Option(None, help="sbatch --account"),
    out_dir: Optional[Path] = typer.Option(None, "--out", help="folder of the script, the storage file and the "
                                           "workers' logs; default slurm-STUDY"),
    dry_run: bool = typer.Option(False, "--dry-run", help="print the script; write and submit nothing"),
    tracker: List[str] = typer.Option([], "--tracker", help=LAUNCH_TRACKER_HELP + "; an MLflow store is made here "
                                      "first (where MLflow is installed), so that the workers do not race to make it"),
) -> None:
    """Submit a job array of workers with plain sbatch; print its job id. A coordinator fills the queue:
    `trickstack ablate SPEC --workers 0 --storage ...`."""
    from trickstack.ablations.launch import slurm_script, storage_args, write_storage_file
    from trickstack.ablations.remote import has_password

    url = storage_url(storage, storage_file)
    if not url or not url.startswith(("postgresql", "journal://")):
        raise UserError("--storage: workers on other machines need postgresql://... (or journal:///FILE on a shared "
                        f"disk), got {url or 'none'}")
    fleet = _fleet(target, workers, gpus_per_worker, cpus_per_worker, poll, grace, tracker, prepare=not dry_run)
    folder = (out_dir or Path(f"slurm-{fleet.study}")).absolute()
    secret = storage_file.absolute() if storage_file is not None else folder / "storage.url"
    script = slurm_script(fleet, storage_args(url, secret), folder / "logs", partition, time, account)
    if dry_run:
        sys.stdout.write(script)
        return
    (folder / "logs").mkdir(parents=True, exist_ok=True)
    if storage_file is None and has_password(url):
        write_storage_file(secret, url)
    path = folder / "worker.sbatch"
    write_file(path, script)
    try:
        done = subprocess.run(["sbatch", "--parsable", str(path)], capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise UserError(f"sbatch is not on PATH: this machine submits no SLURM job (the script is {path})") from None
    if done.returncode != 0:
        raise UserError(f"sbatch refused {path}: {' '.join(done.stderr.split()) or done.returncode}")
    job = done.stdout.strip().split(";")[0]  # "id" or "id;cluster"
    err.print(f"{fleet.workers} worker(s) of study {fleet.study} submitted: {path}; logs in {folder / 'logs'}",
              highlight=False)
    print(job)


@launch_app.command("k8s")
def launch_k8s(
    target: str = typer.Argument(..., metavar="SPEC.toml|STUDY", help=TARGET_HELP),
    image: str = typer.Option(..., help="a container image with trickstack (and its workloads' data) installed"),
    workers: int = typer.Option(..., help=WORKERS_HELP),
    gpus_per_worker: int = typer.Option(0, help=GPUS_HELP),
    cpus_per_worker: int = typer.Option(1, help=CPUS_HELP),
    poll: Optional[float] = typer.Option(None, help=POLL_HELP),
    grace: Optional[float] = typer.Option(None, help=GRACE_HELP),
    memory: str = typer.Option("4Gi", help="memory of each worker (a Kubernetes quantity)"),
    secret: str = typer.Option("trickstack-storage", help="the Secret holding the storage URL under the key 'url'"),
    tracker: List[str] = typer.Option([], "--tracker", help=LAUNCH_TRACKER_HELP + "; a folder is the absolute path "
                                      "inside the containers, an MLflow URI best a tracking server's (it makes its own "
                                      "tables)"),
) -> None:
    """Print a Kubernetes Indexed Job of workers (apply it with kubectl apply -f -); the storage URL comes from a
    Secret: kubectl create secret generic trickstack-storage --from-file=url=FILE."""
    from trickstack.ablations.launch import k8s_job

    fleet = _fleet(target, workers, gpus_per_worker, cpus_per_worker, poll, grace, tracker, in_containers=True)
    manifest = k8s_job(fleet, image, secret, memory=memory)
    sys.stdout.write(yaml.safe_dump(manifest, sort_keys=False))
