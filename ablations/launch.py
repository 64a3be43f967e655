"""Workers started on a scheduler: a SLURM job array (`slurm_script`) or a Kubernetes Indexed Job
(`k8s_job`), one `trickstack worker` per array task or pod, all on one storage that a coordinator
(``ablate --workers 0``) fills.

A storage password never appears in a script or manifest: a SLURM worker reads its URL from a file only its
owner may read (`write_storage_file`, `read_storage_file`), a pod from a Kubernetes Secret through the
``TRICKSTACK_STORAGE`` environment variable.

Preemption: SLURM sends SIGTERM to the batch shell 120 s before the end (``--signal=B:TERM@120``); the
script ``exec``s the worker, so the worker is that shell and gets it. Kubernetes sends SIGTERM to the
container and waits ``terminationGracePeriodSeconds``. Either way the worker starts no new trial and
finishes the one it trains within ``--grace`` seconds (`GRACE_SECONDS` less a margin) or releases it to the
queue (`trickstack.ablations.preemption`), then exits with 143; the task is
requeued (``--requeue``) or the pod replaced (the ``DisruptionTarget`` rule of the pod failure policy does
not count it as a failure).
"""

from __future__ import annotations

import os
import re
import shlex
import stat
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from trickstack.ablations.remote import STORAGE_ENV, WORKER_POLL_SECONDS, has_password
from trickstack.core.errors import UserError

GRACE_SECONDS = 120  # SIGTERM this long before the kill: a worker releases its trial in well under a second
WORKER_GRACE_SECONDS = GRACE_SECONDS - 20  # the worker's --grace: time left after it to release the trial and exit
USER_ERROR_EXIT = 2  # the CLI's exit code for a user error (bad storage, no such study): retrying cannot help
BACKOFF_PER_INDEX = 3  # failures of one pod index (a crash, not a preemption) before that index is given up


@dataclass(frozen=True)
class Fleet:
    """``workers`` workers of ``study``: each with ``gpus`` GPUs (``--device cuda``; 0: ``--device cpu``) and
    ``cpus`` CPUs (its torch threads), looking for the next round's jobs every ``poll`` seconds."""

    study: str
    workers: int
    gpus: int = 0
    cpus: int = 1
    poll: float = WORKER_POLL_SECONDS
    grace: float = WORKER_GRACE_SECONDS  # after SIGTERM, seconds a worker may finish its trial before releasing it
    trackers: tuple[str, ...] = ()  # each worker's --tracker KIND:TARGET, as the workers' machines see the target

    def __post_init__(self) -> None:
        if not (0 <= self.grace <= WORKER_GRACE_SECONDS):
            raise UserError(f"grace {self.grace:g} s: give 0 to {WORKER_GRACE_SECONDS} s (the scheduler kills a worker "
                            f"{GRACE_SECONDS} s after its SIGTERM; the rest is for releasing the trial)")
        for name, value, least in (("workers", self.workers, 1), ("GPUs per worker", self.gpus, 0),
                                   ("CPUs per worker", self.cpus, 1)):
            if value < least:
                raise UserError(f"{value} {name}: give at least {least}")

    def worker_args(self) -> list[str]:
        return ["worker", self.study, "--poll", f"{self.poll:g}", "--device", "cuda" if self.gpus else "cpu",
                "--grace", f"{self.grace:g}", *(arg for tracker in self.trackers for arg in ("--tracker", tracker))]


def read_storage_file(path: Path) -> str:
    """The storage URL kept in ``path``: refused unless only its owner may read it (mode 0600 or stricter)."""
    try:
        mode = path.stat().st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise UserError(f"storage file {path} may be read by others (mode {stat.S_IMODE(mode):04o}): it holds a "
                            f"password; make it the owner's only: chmod 600 {path}")
        url = path.read_text().strip()
    except OSError as error:
        raise UserError(f"storage file {path}: cannot read it ({error.strerror or error})") from None
    if not url:
        raise UserError(f"storage file {path} is empty: write the storage URL in it")
    return url


def write_storage_file(path: Path, url: str) -> None:
    """Write ``url`` to ``path`` readable and writable by its owner only (0600), whatever the umask."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(descriptor, 0o600)  # an existing file keeps its mode through O_CREAT: set it
        os.write(descriptor, (url + "\n").encode())
    finally:
        os.close(descriptor)


def trickstack_program() -> list[str]:
    """This installation's trickstack, by absolute path (compute nodes usually share the file system)."""
    return [sys.executable, "-m", "trickstack.cli"]


def storage_args(url: str, storage_file: Path) -> list[str]:
    """How a worker is told the storage: the URL itself when it holds no password, else the file."""
    return ["--storage-file", str(storage_file)] if has_password(url) else ["--storage", url]


def slurm_script(fleet: Fleet, storage: list[str], logs: Path, partition: Optional[str] = None,
                 time: Optional[str] = None, account: Optional[str] = None) -> str:
    """An sbatch script of a job array: one worker per task (``storage``: `storage_args`)."""
    directives = [f"--job-name=trickstack-{fleet.study}", f"--array=0-{fleet.workers - 1}", "--ntasks=1",
                  f"--cpus-per-task={fleet.cpus}", f"--signal=B:TERM@{GRACE_SECONDS}", "--requeue",
                  "--open-mode=append", f"--output={logs}/%x-%A_%a.out"]
    directives += [f"--gres=gpu:{fleet.gpus}"] if fleet.gpus else []
    directives += [f"--{name}={value}" for name, value in (("partition", partition), ("time", time),
                                                           ("account", account)) if value]
    command = shlex.join([*trickstack_program(), *fleet.worker_args(), *storage])
    return "\n".join([
        "#!/bin/bash",
        *(f"#SBATCH {shlex.quote(d)}" for d in directives),
        f"# trickstack workers of study {fleet.study}: one per array task. SIGTERM (preemption, or {GRACE_SECONDS} s",
        "# before the time limit) reaches the worker, which `exec` made this shell: it releases its trial.",
        "set -euo pipefail",
        'export OMP_NUM_THREADS="${SLURM_CPUS_PER_TASK:-1}"  # torch threads: the CPUs of the task',
        f"exec {command}",
        "",
    ])


def k8s_name(study: str) -> str:
    """A DNS-1123 name for the study's Job (at most 52 characters, so that pod names fit in 63)."""
    name = re.sub(r"[^a-z0-9-]+", "-", f"trickstack-{study}".lower()).strip("-")[:52].rstrip("-")
    return name


def k8s_job(fleet: Fleet, image: str, secret: str, secret_key: str = "url", memory: str = "4Gi") -> dict:
    """An Indexed Job of ``fleet.workers`` pods, each a worker whose storage URL comes from ``secret``."""
    if not image.strip():
        raise UserError("the container image is empty: give the image with trickstack installed")
    resources = {"cpu": str(fleet.cpus), "memory": memory}
    gpus = {"nvidia.com/gpu": str(fleet.gpus)} if fleet.gpus else {}
    labels = {"app.kubernetes.io/name": "trickstack", "trickstack/study": k8s_name(fleet.study)[len("trickstack-"):]}
    container = {
        "name": "worker",
        "image": image,
        "command": ["trickstack", *fleet.worker_args()],
        "env": [
            {"name": STORAGE_ENV, "valueFrom": {"secretKeyRef": {"name": secret, "key": secret_key}}},
            {"name": "OMP_NUM_THREADS", "value": str(fleet.cpus)},
        ],
        "resources": {"requests": {**resources, **gpus}, "limits": {"memory": memory, **gpus}},
    }
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": k8s_name(fleet.study), "labels": labels},
        "spec": {
            "completionMode": "Indexed",
            "completions": fleet.workers,
            "parallelism": fleet.workers,
            "backoffLimitPerIndex": BACKOFF_PER_INDEX,
            "podFailurePolicy": {"rules": [
                # preempted, evicted or drained: not a failure; the index gets a new pod
                {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]},
                # a user error (no such study, a bad storage): every retry would fail alike
                {"action": "FailJob", "onExitCodes": {"containerName": "worker", "operator": "In",
                                                      "values": [USER_ERROR_EXIT]}},
            ]},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "restartPolicy": "Never",  # the pod failure policy needs it; a failed index gets a new pod
                    "terminationGracePeriodSeconds": GRACE_SECONDS,
                    "containers": [container],
                },
            },
        },
    }
