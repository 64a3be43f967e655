"""Digits: scikit-learn's bundled 8x8 handwritten digits, a small 2-D image workload.

The 1,797 images of ``sklearn.datasets.load_digits`` (the UCI optical digits test set, shipped
inside scikit-learn, so nothing is downloaded) are split once, stratified by class with a fixed
seed, into 1,437 train / 360 eval images. Pixels (integers 0..16) are scaled to [0, 1] and go
through Hugging Face ``datasets`` like every workload's data. The model is a small CNN (two 3x3
convolutions of 16 and 32 channels, a 2x2 max-pool and a linear head on a 4x4 grid, ~10k
parameters; images smaller than 8x8 are accepted, for progressive resizing and ColOut) trained
with Adam at lr 3e-3, batch 64, constant learning rate, 1,500 steps. Its weight decay is Adam's L2
penalty (added to the gradient; 0 by default); decoupled decay is the ``adamw`` trick.
"""

from __future__ import annotations

import functools

import numpy as np
import torch
from composer.models import ComposerClassifier
from torch import nn

from trickstack.workloads import Workload, register_workload, small_classifier
from trickstack.workloads.data import Splits
from trickstack.workloads.small_classifier import classifier

SIDE = 8  # pixels per image side
MAX_PIXEL = 16.0  # load_digits pixels are integer counts 0..16 (of a 4x4 block of the 32x32 bitmap)
EVAL_SIZE = 360  # images held out for eval, ~20% of 1,797
SPLIT_SEED = 0  # the split is part of the workload: fixed, never the trial's seed


class SmallCNN(nn.Module):
    """Input (N, 1, H, W) -> logits (N, 10); H = W = 8 natively, smaller sizes are accepted."""

    output_layer = "linear"  # the child module producing the logits (the ``logits`` capability)

    def __init__(self, num_classes: int = 10):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3, padding=1)  # 8x8 -> 8x8
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1)  # 8x8 -> 8x8
        self.pool = nn.MaxPool2d(2)  # 8x8 -> 4x4
        # The head always sees a 4x4 grid, so smaller images (progressive resizing, ColOut) fit it: a
        # 4x4 map passes through unchanged (max over 1x1 windows, bit-identical forward and backward,
        # no FLOPs), a smaller one is spread over the grid by overlapping windows (2x2 -> nearest).
        self.grid = nn.AdaptiveMaxPool2d(4)
        self.linear = nn.Linear(32 * 4 * 4, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv1(x).relu()
        h = self.grid(self.pool(self.conv2(h).relu()))
        return self.linear(h.flatten(1))


@functools.cache
def _raw() -> dict[str, np.ndarray]:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x = (digits.images / MAX_PIXEL).astype(np.float32)[:, None]  # (1797, 1, 8, 8), in [0, 1]
    y = digits.target.astype(np.int64)
    x_train, x_eval, y_train, y_eval = train_test_split(x, y, test_size=EVAL_SIZE, random_state=SPLIT_SEED, stratify=y)
    return {"train_x": x_train, "train_y": y_train, "eval_x": x_eval, "eval_y": y_eval}


def load_splits() -> Splits:
    import datasets

    features = datasets.Features(
        {"x": datasets.Array3D(shape=(1, SIDE, SIDE), dtype="float32"), "y": datasets.ClassLabel(num_classes=10)}
    )
    raw = _raw()
    tensors = {}
    for split in ("train", "eval"):
        ds = datasets.Dataset.from_dict({"x": raw[f"{split}_x"], "y": raw[f"{split}_y"]}, features=features)
        columns = ds.with_format("numpy")[:]
        tensors[split] = (torch.from_numpy(columns["x"]), torch.from_numpy(columns["y"]).long())
    return Splits(*tensors["train"], *tensors["eval"])


def build_model() -> ComposerClassifier:
    return classifier(SmallCNN())



DIGITS = register_workload(
    Workload(
        name="digits",
        domain="image classification",
        summary="scikit-learn's 8x8 digits, 1,437/360 stratified split, a small 2-D CNN",
        # resizable_images: the model accepts images smaller than 8x8 (see SmallCNN.grid).
        provides=("classification", "images2d", "resizable_images", "conv", "logits", "adam_optimizer"),
        metric="accuracy",
        metric_key="MulticlassAccuracy",
        direction="maximize",
        batch_size=64,
        eval_batch_size=360,  # the whole eval split in one batch
        reference_steps=1500,  # ~67 epochs of 1,437 images
        reference_note="1,500 steps of 64 (~67 epochs); python -m trickstack.benchmarks.reference --workload digits measures it",
        nuisance=small_classifier.nuisance(lr=3e-3),
        build_model=build_model,
        load_splits=load_splits,
        make_optimizer=small_classifier.make_optimizer,
        make_schedule=small_classifier.make_schedule,
        curve_evals=(0.25, 0.5, 0.75),  # one eval batch, a few training steps of work: cheap next to a run
    )
)
