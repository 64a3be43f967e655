"""Flip test-time augmentation: evaluate the mean of the logits of an image and of its left-right mirror.

airbench94's ``tta_level=1`` (``infer_mirror``): at evaluation the network sees each test image twice,
as it is and mirrored, and the two logit vectors are averaged. Training is untouched: `MirrorAveraged`
wraps the network and passes a training batch straight through, so the training FLOPs (the budget) are
the same as without it; evaluation costs two forward passes.

>>> net = torch.nn.Conv2d(1, 1, (1, 2), bias=False); _ = net.weight.data.copy_(torch.tensor([[[[1.0, 0.0]]]]))
>>> x = torch.tensor([[[[1.0, 2.0]]]])
>>> mirrored_mean(net, x).item()  # (1 + 2) / 2: the left pixel of the image and of its mirror
1.5
"""

from __future__ import annotations

import torch
from composer.core import Algorithm, Event, State
from composer.loggers import Logger
from torch import nn

from trickstack.core.errors import UserError


def mirrored_mean(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The mean of ``net(x)`` and ``net(x mirrored left-right)``; ``x`` is (N, C, H, W)."""
    return 0.5 * (net(x) + net(x.flip(-1)))


class MirrorAveraged(nn.Module):
    """``net`` in training mode; `mirrored_mean` of it in evaluation mode (``net`` keeps its ``output_layer``)."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x) if self.training else mirrored_mean(self.net, x)


class FlipTTA(Algorithm):
    """At INIT, wraps the Composer model's network (``state.model.module``) in `MirrorAveraged`."""

    def match(self, event: Event, state: State) -> bool:
        return event == Event.INIT

    def apply(self, event: Event, state: State, logger: Logger) -> None:
        model = state.model
        if not isinstance(getattr(model, "module", None), nn.Module):
            raise UserError("flip_tta: the model has no `module` network to wrap (expected a ComposerClassifier)")
        model.module = MirrorAveraged(model.module)
