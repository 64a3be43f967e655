"""A generated stand-in for CIFAR-10 in the Hub dataset's format: tests never download the real set.

`make_dataset` builds a ``DatasetDict`` with the features of ``uoft-cs/cifar10`` (``img``: Image, ``label``:
ClassLabel of the ten names) from random 32x32 RGB images, each tinted by its class so that a network can
learn something; `generated_cifar` saves it to disk and points the workloads at it (``$TRICKSTACK_CIFAR10``),
so the real conversion, cache and augmentation code runs on it.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import numpy as np

TRAIN, TEST = 400, 200  # images per split: eight cifar10-tiny batches of 50


def make_dataset(train: int = TRAIN, test: int = TEST, seed: int = 0):
    import datasets
    from PIL import Image

    from trickstack.workloads.cifar10_data import CLASSES

    rng = np.random.default_rng(seed)
    features = datasets.Features({"img": datasets.Image(), "label": datasets.ClassLabel(names=list(CLASSES))})
    splits = {}
    for name, n in (("train", train), ("test", test)):
        labels = rng.integers(0, len(CLASSES), n)
        tint = (np.arange(len(CLASSES))[:, None] * np.array([25, 60, 95]) % 256)[labels]  # (n, 3)
        pixels = rng.integers(0, 128, (n, 32, 32, 3)) + tint[:, None, None, :] // 2
        images = [Image.fromarray(p.astype(np.uint8)) for p in pixels]
        splits[name] = datasets.Dataset.from_dict({"img": images, "label": labels.tolist()}, features=features)
    return datasets.DatasetDict(splits)


def save(directory: Path, **sizes: int) -> Path:
    make_dataset(**sizes).save_to_disk(str(directory))
    return directory


def _forget_splits() -> None:
    from trickstack.workloads import get_workload
    from trickstack.workloads.cifar10_data import _uint8

    _uint8.cache_clear()
    for name in ("cifar10", "cifar10-tiny"):
        get_workload(name).__dict__.pop("splits", None)


@contextlib.contextmanager
def generated_cifar(root: Path):
    """Inside the block the CIFAR-10 workloads read a generated set saved under ``root`` (cache there too)."""
    import pytest

    from trickstack.workloads.cifar10_data import DATA_ENV

    directory = root / "cifar10"
    if not directory.exists():
        save(directory)
    _forget_splits()
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setenv(DATA_ENV, str(directory))
        monkeypatch.setenv("TRICKSTACK_CACHE", str(root / "cache"))
        yield directory
    _forget_splits()
