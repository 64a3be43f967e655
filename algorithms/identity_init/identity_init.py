"""Identity initialisation: every 3x3 convolution of the network's groups starts as the identity on its inputs.

airbench94's ``Conv.reset_parameters``: after torch's default initialisation, the first ``in_channels``
filters of each convolution are replaced by a dirac (the identity map of the input channels), so each
layer starts by passing its input through, an implicit residual connection in a network without any.

>>> conv = torch.nn.Conv2d(2, 3, 3, padding="same", bias=False)
>>> _ = identity_filters([conv]); x = torch.randn(1, 2, 5, 5)
>>> torch.equal(conv(x)[:, :2], x)  # the first two outputs copy the two inputs
True
"""

from __future__ import annotations

from typing import Iterable

import torch
from composer.core import Algorithm, Event, State
from composer.loggers import Logger
from torch import nn

from trickstack.workloads.cifar10 import find_net


def identity_filters(convs: Iterable[nn.Conv2d]) -> list[nn.Conv2d]:
    """Set, in place, the first ``in_channels`` filters of each convolution to the identity (dirac); return them."""
    convs = list(convs)
    with torch.no_grad():
        for conv in convs:
            weight = conv.weight
            nn.init.dirac_(weight[: min(weight.shape[0], weight.shape[1])])
    return convs


class IdentityInit(Algorithm):
    """At INIT, identity-initialises the 3x3 convolutions (``conv1``, ``conv2``) of the network's ``groups``."""

    def match(self, event: Event, state: State) -> bool:
        return event == Event.INIT

    def apply(self, event: Event, state: State, logger: Logger) -> None:
        net = find_net(state.model, "identity_init")
        identity_filters(m for m in net.groups.modules() if isinstance(m, nn.Conv2d) and m.kernel_size == (3, 3))
