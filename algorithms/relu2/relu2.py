"""Squared ReLU (So et al., 2021, Primer): the MLP activation ``relu(x)^2``.

Primer's search found it among the two changes that matter most for language models. `apply_relu2`
puts `ReLUSquared` in the ``act`` slot of every MLP of a ``gpt_blocks`` network (it has no
parameters, so the optimizer is unchanged).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from composer.core import Algorithm, Event, State
from composer.loggers import Logger
from torch import nn

from trickstack.core.errors import UserError
from trickstack.tricks.surgery import find_gpt, swap_module


def relu_squared(x: torch.Tensor) -> torch.Tensor:
    """``max(x, 0)^2``, element-wise.

    >>> relu_squared(torch.tensor([-2.0, -0.5, 0.0, 0.5, 3.0]))
    tensor([0.0000, 0.0000, 0.0000, 0.2500, 9.0000])
    """
    return F.relu(x).square()


class ReLUSquared(nn.Module):
    """`relu_squared` as a module, for the MLP's ``act`` slot."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return relu_squared(x)


def apply_relu2(gpt: nn.Module) -> None:
    """Replace every MLP's activation by `ReLUSquared`."""
    for i, block in enumerate(gpt.blocks):
        if not hasattr(block.mlp, "act"):
            raise UserError(f"relu2: the MLP of block {i} ({type(block.mlp).__name__}) has no 'act' slot to replace")
        swap_module(block.mlp, "act", ReLUSquared())


class ReLU2(Algorithm):
    """At INIT, makes every MLP of the ``gpt_blocks`` network use ``relu(x)^2``."""

    def match(self, event: Event, state: State) -> bool:
        return event == Event.INIT

    def apply(self, event: Event, state: State, logger: Logger) -> None:
        apply_relu2(find_gpt(state.model, "relu2"))
