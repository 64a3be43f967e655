"""gpu_check's synthetic data (``--data synthetic``): the real splits' shapes, seeded; ``auto`` falls back to it
saying so, ``real`` never does."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from cifar_fixture import generated_cifar

from trickstack.benchmarks.synthetic_data import SHAPES, TIMING_ONLY, synthetic_splits, with_data
from trickstack.core.errors import UserError
from trickstack.workloads import get_workload


def test_synthetic_splits_have_the_real_splits_shapes(tmp_path):
    with generated_cifar(tmp_path):  # a generated set of 400/200 images in CIFAR-10's format
        tiny = get_workload("cifar10-tiny").splits
    mnist = get_workload("mnist1d").splits
    for name, real, whole in (("cifar10-tiny", tiny, False), ("mnist1d", mnist, True)):
        fake = synthetic_splits(name)
        for field in ("train_x", "train_y", "eval_x", "eval_y"):
            a, b = getattr(real, field), getattr(fake, field)
            assert a.dtype == b.dtype and (a.shape if whole else a.shape[1:]) == (b.shape if whole else b.shape[1:])
        assert set(fake.train_y.tolist()) == set(range(SHAPES[name][3]))
    assert torch.equal(synthetic_splits("mnist1d").train_x, synthetic_splits("mnist1d").train_x)  # seeded


def _without_data(name: str):
    def absent():
        raise UserError(f"{name}: its data is not here")
    return dataclasses.replace(get_workload(name), load_splits=absent)


def test_auto_falls_back_to_synthetic_data_saying_so_and_real_never_does(capsys):
    wl, source = with_data(_without_data("mnist1d"), "auto")
    assert source == "synthetic" and wl.splits.train_x.shape == synthetic_splits("mnist1d").train_x.shape
    assert capsys.readouterr().err == (f"gpu_check: the real data of mnist1d is not available (mnist1d: its data is "
                                       f"not here); using {TIMING_ONLY}\n")
    wl, source = with_data(_without_data("mnist1d"), "real")
    with pytest.raises(UserError, match="its data is not here"):
        wl.splits  # noqa: B018
    with pytest.raises(UserError, match="workload 'digits' has no synthetic data"):
        with_data(get_workload("digits"), "synthetic")
