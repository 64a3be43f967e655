"""What the two small classification workloads (`mnist1d`, `digits`) share: a Composer classifier
without per-step train metrics, Adam with coupled L2 at a constant learning rate, and its nuisance
hyperparameters with their re-tuning ranges."""

from __future__ import annotations

from typing import Mapping

import torch
from composer.models import ComposerClassifier
from composer.optim import ConstantScheduler
from torch import nn
from torchmetrics import MetricCollection

from trickstack.core.params import Param, Value


def classifier(net: nn.Module, num_classes: int = 10) -> ComposerClassifier:
    # No per-step train metrics: they cost time on every step and nothing reads them.
    return ComposerClassifier(net, num_classes=num_classes, train_metrics=MetricCollection([]))


def make_optimizer(model: nn.Module, hp: Mapping[str, Value]) -> torch.optim.Optimizer:
    # Adam with coupled L2 (weight_decay * w added to the gradient), not AdamW: the adamw trick adds decoupling.
    return torch.optim.Adam(model.parameters(), lr=hp["lr"], weight_decay=hp["weight_decay"])


def make_schedule(hp: Mapping[str, Value]) -> ConstantScheduler:
    return ConstantScheduler()


def nuisance(lr: float) -> tuple[Param, ...]:
    """Adam's learning rate (default ``lr``) and L2 penalty (default 0), with their re-tuning ranges."""
    return (
        Param("lr", lr, low=1e-5, high=1.0, log=True, help="peak learning rate of Adam"),
        # Coupled L2 under Adam: gradients are divided by their RMS, so a penalty beyond ~1e-2 swamps them.
        Param("weight_decay", 0.0, low=0.0, high=0.01,
              help="Adam's L2 penalty: weight_decay * w is added to the gradient (coupled)"),
    )
