"""Zero-initialised residual branches: every block starts as the identity map.

Goyal et al. (2017) set the last BatchNorm gain of each ResNet residual branch to zero; Fixup
(Zhang et al., 2019) zeroes the branch's last layer instead; modded-nanogpt zeroes the output
projections of attention and MLP in its GPT. `zero_residual_projections` does the latter on a
``gpt_blocks`` network: ``attn.proj`` and ``mlp.fc_proj`` of every block. The weights stay in the
optimizer; at the first step they get gradients (their inputs are not zero) while the layers
before them get none, and the network grows from the identity.
"""

from __future__ import annotations

import torch
from composer.core import Algorithm, Event, State
from composer.loggers import Logger
from torch import nn

from trickstack.tricks.surgery import find_gpt


def zero_residual_projections(gpt: nn.Module) -> list[nn.Parameter]:
    """Zero, in place, the output projections of every block's attention and MLP; return them.

    >>> from trickstack.workloads.shakespeare_char import Block
    >>> net = nn.Module(); net.blocks = nn.ModuleList([Block(8, 2)])
    >>> x = torch.randn(1, 3, 8)
    >>> _ = zero_residual_projections(net); torch.equal(net.blocks[0](x), x)
    True
    """
    zeroed = [p for block in gpt.blocks for p in (block.attn.proj.weight, block.mlp.fc_proj.weight)]
    with torch.no_grad():
        for p in zeroed:
            p.zero_()
    return zeroed


class ZeroInitResidual(Algorithm):
    """At INIT, zeroes the residual output projections of the ``gpt_blocks`` network."""

    def match(self, event: Event, state: State) -> bool:
        return event == Event.INIT

    def apply(self, event: Event, state: State, logger: Logger) -> None:
        zero_residual_projections(find_gpt(state.model, "zero_init_residual"))
