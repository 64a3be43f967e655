"""Where a trial trains: ``auto``, ``cpu``, ``cuda``, ``cuda:N`` or ``mps``, checked against the machine.

A device the machine lacks is a `UserError` naming it and what the machine has, never a traceback:

>>> resolve_device("cpu")
'cpu'
>>> resolve_device("auto", cuda_count=0, mps=False)
'cpu'
>>> resolve_device("cuda", cuda_count=2, mps=False)
'cuda:0'
>>> resolve_device("cuda:3", cuda_count=2, mps=False)
Traceback (most recent call last):
...
trickstack.core.errors.UserError: device 'cuda:3' does not exist: this machine has 2 CUDA GPUs (cuda:0 to cuda:1)

A study's local workers each get their own GPU (`worker_devices`); with more workers than GPUs they share
them in turn (worker i on GPU i mod count):

>>> worker_devices("auto", 3, cuda_count=2)
['cuda:0', 'cuda:1', 'cuda:0']
"""

from __future__ import annotations

import os
import re
from typing import Optional

import torch
from composer.devices import Device, DeviceCPU, DeviceGPU, DeviceMPS

from trickstack.core.errors import UserError

DEVICES = ("auto", "cpu", "cuda", "cuda:N", "mps")  # what a user may ask for
_CUDA = re.compile(r"cuda(:(?P<index>\d+))?")
CUBLAS_WORKSPACE = ":4096:8"  # cuBLAS's deterministic workspace setting (NVIDIA's cuBLAS reproducibility notes)


def _cuda_count() -> int:
    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def _mps() -> bool:
    return bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())


def resolve_device(name: str = "auto", *, cuda_count: Optional[int] = None, mps: Optional[bool] = None) -> str:
    """``name`` as a concrete device (``cpu``, ``cuda:N``, ``mps``), checked against the machine.

    ``auto``: the first CUDA GPU when there is one, else the CPU. ``cuda_count`` and ``mps`` stand in for the
    machine (tests); by default torch is asked.
    """
    count = _cuda_count() if cuda_count is None else cuda_count
    has_mps = _mps() if mps is None else mps
    text = name.strip().lower()
    if text == "auto":
        return "cuda:0" if count else "cpu"
    if text == "cpu":
        return "cpu"
    if text == "mps":
        if not has_mps:
            raise UserError("device 'mps' is not available: this machine has no Apple GPU that torch can use")
        return "mps"
    match = _CUDA.fullmatch(text)
    if match is None:
        raise UserError(f"unknown device {name!r}; expected one of {', '.join(DEVICES)}")
    if count == 0:
        why = "torch was built without CUDA" if torch.version.cuda is None else "no CUDA GPU is visible"
        raise UserError(f"device {name!r} is not available: {why} (torch {torch.__version__}); use cpu or auto")
    index = int(match["index"] or 0)
    if index >= count:
        have = f"{count} CUDA GPU{'s' if count > 1 else ''} ({'cuda:0' if count == 1 else f'cuda:0 to cuda:{count - 1}'})"
        raise UserError(f"device {name!r} does not exist: this machine has {have}")
    return f"cuda:{index}"


def composer_device(device: str) -> Device:
    """The Composer `Device` of a resolved device name (`resolve_device`)."""
    if device == "cpu":
        return DeviceCPU()
    if device == "mps":
        return DeviceMPS()
    return DeviceGPU(device_id=int(device.split(":")[1]))


def worker_devices(device: str, workers: int, *, cuda_count: Optional[int] = None) -> list[str]:
    """The device of each of ``workers`` local workers: with ``auto`` or ``cuda`` and several GPUs, worker i
    gets GPU i mod count (more workers than GPUs share them in turn); ``cuda:N``, ``cpu`` and ``mps`` put every
    worker on that one device."""
    count = _cuda_count() if cuda_count is None else cuda_count
    first = resolve_device(device, cuda_count=count, mps=None if device.strip().lower() == "mps" else False)
    if device.strip().lower() in ("auto", "cuda") and first.startswith("cuda"):
        return [f"cuda:{i % count}" for i in range(workers)]
    return [first] * workers


def set_deterministic(enabled: bool) -> None:
    """Turn torch's deterministic algorithms on or off for this process (and cuDNN's with them). On, the
    cuBLAS workspace is set too, as CUDA needs for reproducible matrix products; off, a GPU may pick faster,
    nondeterministic kernels."""
    if enabled:
        os.environ["CUBLAS_WORKSPACE_CONFIG"] = CUBLAS_WORKSPACE
    torch.use_deterministic_algorithms(enabled)
    torch.backends.cudnn.deterministic = enabled
    torch.backends.cudnn.benchmark = False  # autotuning picks kernels by timing: never the same twice


def accelerator(device: str) -> dict:
    """What records say about the device: name, accelerator model and count, CUDA version."""
    if device.startswith("cuda"):
        index = int(device.split(":")[1]) if ":" in device else 0
        return {"device": device, "accelerator": torch.cuda.get_device_name(index),
                "accelerator_count": torch.cuda.device_count(), "cuda": torch.version.cuda}
    if device == "mps":
        return {"device": device, "accelerator": "Apple MPS", "accelerator_count": 1, "cuda": None}
    return {"device": device, "accelerator": None, "accelerator_count": None, "cuda": None}
