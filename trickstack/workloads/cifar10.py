"""CIFAR-10: the speedrun workload, the baseline of Keller Jordan's airbench94 (94% in a few GPU seconds).

Written for trickstack after reading ``airbench94.py`` of github.com/KellerJordan/cifar10-airbench
(Jordan, *94% on CIFAR-10 in 3.29 Seconds on a Single GPU*, 2024, arXiv:2404.00498); the data is
Hugging Face's ``uoft-cs/cifar10`` (`trickstack.workloads.cifar10_data`: loading, cache, augmentation).

Two workloads share everything but their size:

- ``cifar10``: the 50,000 train / 10,000 test images, airbench94's network (widths 64/256/256), batch
  1,024, 9.9 epochs. Sized for a GPU; CPU test suites check ``cifar10-tiny`` in its place (``cpu_variant``).
- ``cifar10-tiny``: the first 2,000 train / 1,000 test images, the same network at widths 8/32/32, batch
  50, 1 epoch (40 steps): a run takes seconds on one CPU core, so a study runs here.

Network (`CifarNet`, the ``airbench_net`` capability). ``whiten``: a 2x2 convolution with bias, no padding,
3 -> 24 channels, then GELU; ``groups``: three `ConvGroup` (``conv1`` 3x3 'same' convolution without bias,
2x2 max-pool, BatchNorm, GELU, ``conv2`` 3x3, BatchNorm, GELU); a 3x3 max-pool, a linear head without
bias (``head``) and a fixed scale of 1/9 on the logits. BatchNorm: eps 1e-12, running-average momentum 0.4,
the gain fixed at 1 (not trained), the bias trained. Initialisation: torch's defaults.

Recipe. SGD with Nesterov momentum in airbench's decoupled parametrisation (`make_optimizer`): ``lr`` 11.5
per 1,024 examples, ``momentum`` 0.85, ``weight_decay`` 0.0153 per 1,024 examples (independent of the
learning rate), BatchNorm biases at ``bias_scaler`` (64) x the learning rate; the learning rate follows a
triangle (`triangle`): 0.2 -> 1 at 23% of the run -> 0.07 at its end, as a fraction of the run, so it
scales with the budget. Training data: random 2-pixel translation (reflect padding) and random flip.

Baseline or trick. airbench94 is this baseline plus six ingredients that are separable from it, each
a trick here, so ``recipe derive`` and Shapley attribution can say what its 94% is made of:

- ``label_smoothing`` (airbench: 0.2): changes only the targets;
- ``lookahead`` / ``ema`` (airbench: an EMA of the weights copied back every 5 steps, i.e. lookahead);
- ``flip_tta``: evaluation on the image and its mirror (airbench's tta_level 1; level 2 adds translations);
- ``alternating_flip``: each image flipped in every other epoch instead of at random;
- ``whitening_init``: the first layer set from the eigenvectors of the training patches' covariance, frozen;
- ``identity_init``: the 3x3 convolutions start as identity maps (dirac) plus their default initialisation.

They are tricks because each is an addition that can be removed while the rest trains unchanged (airbench's
paper ablates them one at a time). The network, the optimiser with its schedule and the translate-and-flip
augmentation are the baseline: they are the model and training loop the tricks are added to, every
hyperparameter was tuned with them, and replacing one (another optimiser, no augmentation) is a different
baseline rather than an ingredient that can be taken out. Plain random flipping stays in the baseline so
that ``alternating_flip`` measures the change of flip rule alone.
Not reproduced: airbench's training of the whitening bias for 3 epochs only, its half precision,
channels_last layout and augmentation on the GPU (here on the CPU in the loader, seeded, bit for bit
the same on every run), and ``torch.compile``.

Reference budget: the FLOPs of 9.9 epochs of baseline steps (``reference_steps`` is computed from the
epochs, the split's size and the batch; the FLOPs per step are counted by the budget controller's
counter), measured by ``python -m trickstack.benchmarks.gpu_check --workload cifar10``.
"""

from __future__ import annotations

import math
from typing import Mapping, Optional

import numpy as np
import torch
from composer.core import State
from composer.models import ComposerClassifier
from composer.optim import ComposerScheduler
from torch import nn

from trickstack.core.errors import UserError
from trickstack.core.params import Param, Value
from trickstack.workloads import Workload, register_workload
from trickstack.workloads.cifar10_data import AugmentedBatches, normalise, uint8_splits
from trickstack.workloads.data import Splits
from trickstack.workloads.small_classifier import classifier

AIRBENCH_NET = "airbench_net"  # capability: the network has `whiten` and `groups` as described in the module doc
TRAIN_IMAGES = "train_images"  # capability: the train loader's dataset holds the un-augmented images as tensors[0]
HFLIP_INVARIANT = "hflip_invariant"  # capability: a left-right mirrored image has the same label
FLIP_AUGMENT = "flip_augment"  # capability: the train loader's dataset flips images and has a `flip` mode
WHITEN_KERNEL = 2  # side of the whitening convolution (airbench94: hyp['net']['whitening']['kernel_size'])
WHITEN_WIDTH = 2 * 3 * WHITEN_KERNEL**2  # 24: each eigenvector of a 2x2x3 patch and its negation
BN_MOMENTUM = 0.4  # torch's running-average momentum (airbench's 0.6 is the weight of the old average)
LOGIT_SCALE = 1 / 9  # airbench94: hyp['net']['scaling_factor']
EPOCHS = 9.9  # airbench94's training length
TRIANGLE = ((0.0, 0.2), (0.23, 1.0), (1.0, 0.07))  # (fraction of the run, lr multiplier): airbench94's schedule


class ConvGroup(nn.Module):
    """conv1 (3x3) -> 2x2 max-pool -> BatchNorm -> GELU -> conv2 (3x3) -> BatchNorm -> GELU."""

    def __init__(self, channels_in: int, channels_out: int):
        super().__init__()
        self.conv1 = nn.Conv2d(channels_in, channels_out, 3, padding="same", bias=False)
        self.pool = nn.MaxPool2d(2)
        self.norm1 = batch_norm(channels_out)
        self.conv2 = nn.Conv2d(channels_out, channels_out, 3, padding="same", bias=False)
        self.norm2 = batch_norm(channels_out)
        self.act = nn.GELU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act(self.norm1(self.pool(self.conv1(x))))
        return self.act(self.norm2(self.conv2(x)))


def batch_norm(channels: int) -> nn.BatchNorm2d:
    """airbench's BatchNorm: eps 1e-12, gain fixed at 1 (not trained), bias trained."""
    norm = nn.BatchNorm2d(channels, eps=1e-12, momentum=BN_MOMENTUM)
    norm.weight.requires_grad_(False)
    return norm


class CifarNet(nn.Module):
    """airbench94's network at widths ``widths``: input (N, 3, 32, 32) -> logits (N, 10)."""

    output_layer = "head"  # the child module producing the logits (the ``logits`` capability)

    def __init__(self, widths: tuple[int, int, int] = (64, 256, 256), num_classes: int = 10):
        super().__init__()
        self.whiten = nn.Conv2d(3, WHITEN_WIDTH, WHITEN_KERNEL, padding=0, bias=True)  # 32x32 -> 31x31
        self.act = nn.GELU()
        ins = (WHITEN_WIDTH, *widths[:-1])
        self.groups = nn.Sequential(*(ConvGroup(i, o) for i, o in zip(ins, widths)))  # 31 -> 15 -> 7 -> 3
        self.pool = nn.MaxPool2d(3)  # 3x3 -> 1x1
        self.head = nn.Linear(widths[-1], num_classes, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.pool(self.groups(self.act(self.whiten(x))))
        return self.head(h.flatten(1)) * LOGIT_SCALE


def whiten_conv(net: nn.Module) -> Optional[nn.Conv2d]:
    """The convolution in ``net``'s ``whiten`` slot: the module itself, or the ``conv`` of a wrapper round it
    (squeeze-excite wraps a convolution of at least its ``min_channels`` outputs)."""
    slot = getattr(net, "whiten", None)
    conv = slot if isinstance(slot, nn.Conv2d) else getattr(slot, "conv", None)
    return conv if isinstance(conv, nn.Conv2d) else None


def find_net(model: nn.Module, trick: str) -> CifarNet:
    """The first module inside ``model`` with the ``airbench_net`` slots (``whiten``, ``groups``), for ``trick``."""
    for module in model.modules():
        if whiten_conv(module) is not None and isinstance(getattr(module, "groups", None), nn.Module):
            return module  # type: ignore[return-value]
    raise UserError(f"{trick}: the model has no module with a `whiten` convolution and `groups`; this trick needs "
                    f"a network following the {AIRBENCH_NET} contract (see trickstack.workloads.cifar10)")


def triangle(fraction: float) -> float:
    """airbench94's learning-rate multiplier at ``fraction`` of the run: linear through `TRIANGLE`.

    >>> [round(triangle(f), 3) for f in (0.0, 0.23, 1.0)]
    [0.2, 1.0, 0.07]
    """
    xs, ys = zip(*TRIANGLE)
    return float(np.interp(fraction, xs, ys))


class TriangleSchedule(ComposerScheduler):
    """`triangle` of the elapsed fraction of the run (``max_duration``, which the budget controller sets)."""

    def __call__(self, state: State, ssr: float = 1.0) -> float:
        return triangle(float(state.get_elapsed_duration().value))


def nuisance() -> tuple[Param, ...]:
    """airbench94's decoupled SGD hyperparameters (per 1,024 examples), with their re-tuning ranges."""
    return (
        Param("lr", 11.5, low=1.0, high=100.0, log=True, help="learning rate per 1,024 examples (airbench's decoupled form)"),
        Param("momentum", 0.85, low=0.5, high=0.95, help="Nesterov momentum; the step size does not change with it"),
        Param("weight_decay", 0.0153, low=0.0, high=0.1,
              help="weight decay per 1,024 examples, decoupled from the learning rate"),
        Param("bias_scaler", 64.0, low=1.0, high=128.0, log=True,
              help="BatchNorm biases' learning rate over the others' (their decay is not scaled)"),
    )


def make_optimizer(model: nn.Module, hp: Mapping[str, Value], batch_size: int) -> torch.optim.Optimizer:
    """SGD-Nesterov in airbench94's decoupled form, for a loss that is the batch *mean* (airbench's is the sum).

    airbench: ``lr_sum = lr / (1024 (1 + 1 / (1 - momentum)))`` on the summed loss, decay ``weight_decay *
    batch / 1024 / (1 + 1 / (1 - momentum))`` per step written as torch's coupled decay over the group's lr.
    The mean loss divides gradients by the batch, so the learning rate here is ``batch * lr_sum``.
    """
    kilostep = 1024 * (1 + 1 / (1 - float(hp["momentum"])))
    lr = float(hp["lr"]) / kilostep * batch_size
    decay = float(hp["weight_decay"]) * batch_size / kilostep  # per step, times the schedule's multiplier
    norms = {id(p) for m in model.modules() if isinstance(m, nn.BatchNorm2d) for p in m.parameters()}
    trained = [p for p in model.parameters() if p.requires_grad]
    biases = [p for p in trained if id(p) in norms]
    others = [p for p in trained if id(p) not in norms]
    bias_lr = lr * float(hp["bias_scaler"])
    return torch.optim.SGD([dict(params=others, lr=lr, weight_decay=decay / lr),
                            dict(params=biases, lr=bias_lr, weight_decay=decay / bias_lr)],
                           lr=lr, momentum=float(hp["momentum"]), nesterov=True)


def cifar10_workload(name: str, summary: str, widths: tuple[int, int, int], train_size: int, eval_size: int,
                     batch_size: int, epochs: float, train_images: int, cpu_variant: str | None = None) -> Workload:
    """A CIFAR-10 workload: the first ``train_size`` / ``eval_size`` images, ``widths``, ``epochs`` of ``batch_size``.

    ``train_images`` is the split's documented size, from which ``reference_steps`` is computed (the data
    itself is loaded only when a run needs it).
    """

    def load_splits() -> Splits:
        data = uint8_splits()
        (train_x, train_y), (eval_x, eval_y) = data["train"], data["test"]
        return Splits(normalise(train_x[:train_size]), train_y[:train_size].clone(),
                      normalise(eval_x[:eval_size]), eval_y[:eval_size].clone())

    def build_model() -> ComposerClassifier:
        return classifier(CifarNet(widths))

    def optimizer(model: nn.Module, hp: Mapping[str, Value]) -> torch.optim.Optimizer:
        return make_optimizer(model, hp, batch_size)

    steps = math.ceil(epochs * (train_images // batch_size))
    return Workload(
        name=name,
        domain="image classification",
        summary=summary,
        provides=("classification", "images2d", "conv", "logits", AIRBENCH_NET, TRAIN_IMAGES, HFLIP_INVARIANT,
                  FLIP_AUGMENT),
        metric="accuracy",
        metric_key="MulticlassAccuracy",
        direction="maximize",
        batch_size=batch_size,
        eval_batch_size=min(eval_size, 2000),
        reference_steps=steps,
        reference_note=(f"{epochs:g} epochs of {train_images:,} images in batches of {batch_size} ({steps} steps); "
                        f"python -m trickstack.benchmarks.gpu_check --workload {name} measures the baseline there"),
        nuisance=nuisance(),
        build_model=build_model,
        load_splits=load_splits,
        make_optimizer=optimizer,
        make_schedule=lambda hp: TriangleSchedule(),
        train_dataset=lambda splits, seed: AugmentedBatches(splits.train_x, splits.train_y, seed),
        cpu_variant=cpu_variant,
    )


TINY_TRAIN, TINY_EVAL = 2000, 1000  # cifar10-tiny: the first images of each split

CIFAR10 = register_workload(cifar10_workload(
    "cifar10", "CIFAR-10 50,000/10,000, airbench94's network and recipe without its tricks (a GPU workload)",
    widths=(64, 256, 256), train_size=50_000, eval_size=10_000, batch_size=1024, epochs=EPOCHS,
    train_images=50_000, cpu_variant="cifar10-tiny",
))
CIFAR10_TINY = register_workload(cifar10_workload(
    "cifar10-tiny", "CIFAR-10's first 2,000/1,000 images, airbench94's network at an eighth of its width (CPU-sized)",
    widths=(8, 32, 32), train_size=TINY_TRAIN, eval_size=TINY_EVAL, batch_size=50, epochs=1,
    train_images=TINY_TRAIN,
))
