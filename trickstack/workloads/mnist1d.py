"""MNIST-1D (Greydanus & Kobak, 2020): 1-D signals of the ten digits, the fastest real workload.

The data is generated offline by the ``mnist1d`` package at its paper defaults (seed 42,
4,000 train / 1,000 test examples of length 40) and goes through Hugging Face ``datasets``, which
caches it on disk. The model is the paper's small CNN (three 1-D convolutions of 25 channels and a
linear head, ~5k parameters) trained as in the paper's code: Adam at lr 1e-2, batch 100, constant
learning rate, 6,000 steps. Its weight decay is Adam's L2 penalty (added to the gradient; 0 by
default); decoupled decay is the ``adamw`` trick.
"""

from __future__ import annotations

import functools

import numpy as np
import torch
from composer.models import ComposerClassifier
from torch import nn

from trickstack.workloads import Workload, register_workload, small_classifier
from trickstack.workloads.data import Splits, cache_dir
from trickstack.workloads.small_classifier import classifier

SIGNAL_LENGTH = 40  # samples per signal, the paper's default


class ConvBase(nn.Module):
    """The paper's CNN (``mnist1d.models.ConvBase``): input (N, 1, 40) -> logits (N, 10)."""

    output_layer = "linear"  # the child module producing the logits (the ``logits`` capability)

    def __init__(self, channels: int = 25, num_classes: int = 10):
        super().__init__()
        self.conv1 = nn.Conv1d(1, channels, 5, stride=2, padding=1)  # 40 -> 19
        self.conv2 = nn.Conv1d(channels, channels, 3, stride=2, padding=1)  # 19 -> 10
        self.conv3 = nn.Conv1d(channels, channels, 3, stride=2, padding=1)  # 10 -> 5
        self.linear = nn.Linear(channels * 5, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv1(x).relu()
        h = self.conv2(h).relu()
        h = self.conv3(h).relu()
        return self.linear(h.flatten(1))


@functools.cache
def _raw() -> dict:
    from mnist1d.data import get_dataset_args, make_dataset

    return make_dataset(get_dataset_args())  # seed 42, 5,000 examples, 80/20 split


def _examples(split: str):
    raw = _raw()
    xs, ys = (raw["x"], raw["y"]) if split == "train" else (raw["x_test"], raw["y_test"])
    for x, y in zip(xs, ys):
        yield {"x": x.astype(np.float32), "y": int(y)}


def load_splits() -> Splits:
    import datasets

    features = datasets.Features(
        {"x": datasets.Sequence(datasets.Value("float32"), length=SIGNAL_LENGTH), "y": datasets.ClassLabel(num_classes=10)}
    )
    tensors = {}
    for split in ("train", "test"):
        ds = datasets.Dataset.from_generator(
            _examples, gen_kwargs={"split": split}, features=features, cache_dir=str(cache_dir() / "hf-datasets")
        )
        columns = ds.with_format("numpy")[:]
        tensors[split] = (torch.from_numpy(columns["x"]).unsqueeze(1), torch.from_numpy(columns["y"]).long())
    return Splits(*tensors["train"], *tensors["test"])


def build_model() -> ComposerClassifier:
    return classifier(ConvBase())



MNIST1D = register_workload(
    Workload(
        name="mnist1d",
        domain="1-D signal classification",
        summary="MNIST-1D, 4,000/1,000 examples, the paper's 1-D CNN",
        provides=("classification", "signal1d", "conv", "logits", "adam_optimizer"),
        metric="accuracy",
        metric_key="MulticlassAccuracy",
        direction="maximize",
        batch_size=100,
        eval_batch_size=1000,
        reference_steps=6000,
        reference_note=("the paper's CNN run (6,000 steps of 100); python -m trickstack.benchmarks.reference --workload "
                        "mnist1d measures it"),
        nuisance=small_classifier.nuisance(lr=1e-2),
        build_model=build_model,
        load_splits=load_splits,
        make_optimizer=small_classifier.make_optimizer,
        make_schedule=small_classifier.make_schedule,
        curve_evals=(0.25, 0.5, 0.75),  # one eval batch, a few training steps of work: cheap next to a run
    )
)
