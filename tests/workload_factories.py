"""Workload factories for the tests of `package.module:factory` workloads and of the workload checks.

Each copies a built-in workload under a new name (cheap: no new data), or breaks the contract on purpose.
"""

from __future__ import annotations

import dataclasses
import os

import torch
import torchmetrics
from torchmetrics import MetricCollection

from trickstack.core.errors import UserError
from trickstack.workloads import get_workload

NOT_CALLABLE = 3


def digits_copy():
    return dataclasses.replace(get_workload("digits"), name="digits_copy")


def raises():
    raise RuntimeError("no data here")


def not_a_workload():
    return {"name": "wine"}


def named_like_a_builtin():
    return dataclasses.replace(get_workload("digits"), name="mnist1d")


def named_like_shakespeare():  # a built-in whose name is not its module's (shakespeare_char)
    return dataclasses.replace(get_workload("digits"), name="shakespeare-char")


def wrong_metric_key():
    return dataclasses.replace(get_workload("mnist1d"), name="mnist1d_wrong_key", metric_key="Accuracy")


def leaky_splits():
    """Eval = the first 50 train examples: the disjointness check must catch it."""
    wl = get_workload("mnist1d")
    s = wl.splits
    leaky = dataclasses.replace(s, eval_x=s.train_x[:50].clone(), eval_y=s.train_y[:50].clone())
    return dataclasses.replace(wl, name="mnist1d_leaky", load_splits=lambda: leaky)


def nondeterministic():
    """Outputs shifted by noise from the operating system, which no seed fixes."""
    wl = get_workload("mnist1d")

    def build():
        model = wl.build_model()
        forward = model.forward

        def noisy(batch):
            out = forward(batch)
            noise = torch.Generator().manual_seed(int.from_bytes(os.urandom(4), "little"))
            return out + torch.randn(out.shape, generator=noise)  # per logit: no shift-invariant loss hides it

        model.forward = noisy
        return model

    return dataclasses.replace(wl, name="mnist1d_noisy", build_model=build)


def false_logits_claim():
    """Claims the ``logits`` capability, but its network names no ``output_layer``."""
    wl = get_workload("mnist1d")

    def build():
        model = wl.build_model()
        model.module.output_layer = None  # shadows the class's "linear" on this instance only
        return model

    return dataclasses.replace(wl, name="mnist1d_no_output_layer", build_model=build)


def differs_between_processes():
    """MNIST-1D's train examples in an order drawn from the process id: the same within one process (the splits
    are loaded once), different in the next one, whatever the seed."""
    wl = get_workload("mnist1d")

    def load():
        s = wl.splits
        order = torch.randperm(len(s.train_x), generator=torch.Generator().manual_seed(os.getpid()))
        return dataclasses.replace(s, train_x=s.train_x[order], train_y=s.train_y[order])

    return dataclasses.replace(wl, name="mnist1d_per_process", load_splits=load)


class NanMetric(torchmetrics.Metric):
    """An eval metric that is always NaN, whatever the model does."""

    def __init__(self):
        super().__init__()
        self.add_state("seen", default=torch.tensor(0.0), dist_reduce_fx="sum")

    def update(self, preds, target):
        self.seen += 1

    def compute(self):
        return torch.tensor(float("nan"))


def nan_metric():
    """MNIST-1D scored by `NanMetric`: training is sound (its loss stays finite), the metric is broken."""
    wl = get_workload("mnist1d")

    def build():
        model = wl.build_model()
        model.val_metrics = MetricCollection([NanMetric()])
        return model

    return dataclasses.replace(wl, name="mnist1d_nan_metric", build_model=build, metric="nan", metric_key="NanMetric")


def absent_data():
    """Digits whose data is absent and cannot be downloaded, as a fresh clone offline finds CIFAR-10's."""

    def load():
        raise UserError("no copy of the data here, and the download failed: offline")

    return dataclasses.replace(get_workload("digits"), name="digits_offline", load_splits=load)
