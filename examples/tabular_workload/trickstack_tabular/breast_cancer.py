"""Breast cancer: scikit-learn's bundled Wisconsin diagnostic data (569 tumours, 30 measurements of cell
nuclei, malignant or benign), classified by a small MLP. Nothing is downloaded: the data ships inside
scikit-learn.

The split is part of the workload: stratified by class with a fixed seed, 455 train / 114 eval tumours.
Features are standardised with the train split's mean and standard deviation (the eval split never
informs them). The model is an MLP 30 -> 64 -> 2 with a ReLU, trained with Adam at lr 1e-3 (coupled
L2 weight decay, 0 by default), batch 32, constant learning rate, 450 steps (~32 epochs).
"""

from __future__ import annotations

from typing import Mapping

import numpy as np
import torch
from composer.models import ComposerClassifier
from composer.optim import ConstantScheduler
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import train_test_split
from torch import nn
from torchmetrics import MetricCollection

from trickstack.core.params import Param, Value
from trickstack.workloads import Workload
from trickstack.workloads.data import Splits

EVAL_SIZE = 114  # tumours held out for eval, ~20% of 569
SPLIT_SEED = 0  # the split is fixed, never the trial's seed
HIDDEN = 64  # units of the hidden layer
CLASSES = 2  # malignant, benign


class MLP(nn.Module):
    """Input (N, 30) standardised measurements -> logits (N, 2)."""

    output_layer = "head"  # the child module producing the logits (the ``logits`` capability)

    def __init__(self, features: int = 30):
        super().__init__()
        self.hidden = nn.Linear(features, HIDDEN)
        self.head = nn.Linear(HIDDEN, CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.hidden(x).relu())


def load_splits() -> Splits:
    data = load_breast_cancer()
    x_train, x_eval, y_train, y_eval = train_test_split(
        data.data, data.target, test_size=EVAL_SIZE, random_state=SPLIT_SEED, stratify=data.target)
    mean, std = x_train.mean(axis=0), x_train.std(axis=0)
    scale = lambda x: torch.from_numpy(((x - mean) / std).astype(np.float32))  # noqa: E731
    return Splits(scale(x_train), torch.from_numpy(y_train).long(), scale(x_eval), torch.from_numpy(y_eval).long())


def build_model() -> ComposerClassifier:
    # No per-step train metrics: they cost time on every step and nothing reads them.
    return ComposerClassifier(MLP(), num_classes=CLASSES, train_metrics=MetricCollection([]))


def make_optimizer(model: nn.Module, hp: Mapping[str, Value]) -> torch.optim.Optimizer:
    return torch.optim.Adam(model.parameters(), lr=hp["lr"], weight_decay=hp["weight_decay"])


def make_schedule(hp: Mapping[str, Value]) -> ConstantScheduler:
    return ConstantScheduler()


def make_workload() -> Workload:
    """The factory the entry point names (``trickstack_tabular.breast_cancer:make_workload``); it also works
    as ``--workload trickstack_tabular.breast_cancer:make_workload`` with the package importable but not installed."""
    return Workload(
        name="breast_cancer",
        domain="tabular classification",
        summary="scikit-learn's Wisconsin breast cancer data, 455/114 stratified split, a 30-64-2 MLP",
        provides=("classification", "logits", "adam_optimizer", "tabular"),
        metric="accuracy",
        metric_key="MulticlassAccuracy",
        direction="maximize",
        batch_size=32,
        eval_batch_size=EVAL_SIZE,  # the whole eval split in one batch
        reference_steps=450,  # ~32 epochs of 455 tumours
        reference_note=("450 steps of 32 (~32 epochs); python -m trickstack.benchmarks.reference --workload breast_cancer "
                        "measures it"),
        nuisance=(
            Param("lr", 1e-3, low=1e-5, high=1.0, log=True, help="learning rate of Adam"),
            Param("weight_decay", 0.0, low=0.0, high=0.01, help="Adam's L2 penalty (coupled)"),
        ),
        build_model=build_model,
        load_splits=load_splits,
        make_optimizer=make_optimizer,
        make_schedule=make_schedule,
    )
