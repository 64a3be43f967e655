"""Whitening initialisation: the first convolution set from the training patches' covariance, then frozen.

airbench94's first layer is a 2x2 convolution with 2 * 12 output channels. Here its filters are the 12
eigenvectors of the covariance of all 2x2x3 patches of the first `IMAGES` training images, each divided
by the square root of its eigenvalue (plus `EPS`), and their negations (so GELU passes both signs): the
layer whitens its input patches. The filters are then frozen (no gradient); the bias still trains.
Written after ``init_whitening_conv`` in github.com/KellerJordan/cifar10-airbench (airbench94.py).

>>> x = torch.randn(64, 3, 8, 8)
>>> w = whitening_weights(x, kernel=2)
>>> tuple(w.shape)
(24, 3, 2, 2)
>>> out = torch.nn.functional.conv2d(x, w[:12]).permute(0, 2, 3, 1).reshape(-1, 12)
>>> bool(torch.allclose(out.T @ out / len(out), torch.eye(12), atol=0.01))  # whitened patches
True
"""

from __future__ import annotations

import torch
from composer.core import Algorithm, Event, State
from composer.loggers import Logger

from trickstack.core.errors import UserError
from trickstack.workloads.cifar10 import find_net, whiten_conv

IMAGES = 5000  # training images whose patches are used (airbench94: train_images[:5000])
EPS = 5e-4  # added to each eigenvalue before the square root (airbench94's eps)


def whitening_weights(images: torch.Tensor, kernel: int, eps: float = EPS) -> torch.Tensor:
    """Filters (2 C k k, C, k, k) whitening the k x k patches of ``images`` (N, C, H, W): eigenvectors / sqrt(eigenvalue
    + eps), largest eigenvalue first, followed by their negations."""
    c = images.shape[1]
    patches = images.float().unfold(2, kernel, 1).unfold(3, kernel, 1)  # (N, C, H', W', k, k)
    patches = patches.permute(0, 2, 3, 1, 4, 5).reshape(-1, c * kernel * kernel)  # one row per patch, (C, k, k) order
    covariance = patches.T @ patches / len(patches)
    eigenvalues, eigenvectors = torch.linalg.eigh(covariance)  # ascending
    eigenvalues, eigenvectors = eigenvalues.flip(0), eigenvectors.T.flip(0)  # rows, largest first
    filters = (eigenvectors / torch.sqrt(eigenvalues.clamp_min(0) + eps)[:, None]).reshape(-1, c, kernel, kernel)
    return torch.cat([filters, -filters])


class WhiteningInit(Algorithm):
    """At FIT_START (the train loader exists, no step taken) sets and freezes the network's ``whiten`` filters."""

    def __init__(self, images: int = IMAGES):
        self.images = images

    def match(self, event: Event, state: State) -> bool:
        return event == Event.FIT_START

    def apply(self, event: Event, state: State, logger: Logger) -> None:
        conv = whiten_conv(find_net(state.model, "whitening_init"))
        tensors = getattr(getattr(state.train_dataloader, "dataset", None), "tensors", None)
        if not tensors or tensors[0].dim() != 4:
            raise UserError("whitening_init: the train loader's dataset holds no (N, C, H, W) images as tensors[0] "
                            "(the train_images capability)")
        out, c, k, _ = conv.weight.shape
        if out != 2 * c * k * k:
            raise UserError(f"whitening_init: the whiten convolution has {out} filters, not 2 x {c * k * k} "
                            f"(twice the size of a {k}x{k}x{c} patch)")
        weights = whitening_weights(tensors[0][: self.images], k)
        with torch.no_grad():
            conv.weight.copy_(weights.to(conv.weight.device, conv.weight.dtype))
        conv.weight.requires_grad_(False)
