"""SwiGLU (Shazeer, 2020): a gated MLP, ``FFN(x) = (Swish_1(x W) * (x V)) W2``, without biases.

It has three matrices instead of two, so the hidden size is cut to keep the parameter count of the
GELU MLP it replaces: ``2/3`` of ``4 * width``, rounded to the nearest integer (`swiglu_hidden`:
341 for width 128, 3 * 128 * 341 = 130,944 weights against 2 * 128 * 512 = 131,072, -0.1%), as the
paper does (d_ff 3072 for its two-matrix FFNs, 2048 for the GLU variants). `apply_swiglu` replaces
the ``mlp`` of every block of a ``gpt_blocks`` network by a `SwiGLUMLP` initialised like GPT-2.
"""

from __future__ import annotations

from typing import Optional, Sequence

import torch
from composer.core import Algorithm, Event, State
from composer.loggers import Logger
from torch import nn
from torch.nn.utils import skip_init

from trickstack.tricks.surgery import find_gpt, swap_module, trick_generator


def swiglu_ffn(x: torch.Tensor, w: torch.Tensor, v: torch.Tensor, w2: torch.Tensor) -> torch.Tensor:
    """``(swish(x @ w) * (x @ v)) @ w2`` with ``swish(z) = z * sigmoid(z)`` (Swish with beta 1, SiLU).

    Matrices are (in, out): ``w`` and ``v`` are (width, hidden), ``w2`` is (hidden, width).

    >>> x, one = torch.tensor([[2.0]]), torch.tensor([[1.0]])
    >>> swiglu_ffn(x, one, one, one)  # silu(2) * 2 = 2 * sigmoid(2) * 2
    tensor([[3.5232]])
    """
    return (swish(x @ w) * (x @ v)) @ w2


def swish(z: torch.Tensor) -> torch.Tensor:
    """``z * sigmoid(z)``: F.silu's value, but written out because torch 2.7's FlopCounterMode computes
    ``silu_backward`` differently (last bits), which would make a step's gradient depend on whether
    the budget is measuring that step. Multiplication and sigmoid are unaffected.

    >>> swish(torch.tensor([-1.0, 0.0, 2.0]))
    tensor([-0.2689,  0.0000,  1.7616])
    """
    return z * torch.sigmoid(z)


def swiglu_hidden(width: int, expansion: int = 4) -> int:
    """Hidden size giving a SwiGLU MLP the weights of a 2-matrix MLP of ``expansion * width``.

    >>> swiglu_hidden(128)
    341
    """
    return round(2 * expansion * width / 3)


class SwiGLUMLP(nn.Module):
    """`swiglu_ffn` as the ``mlp`` slot: ``fc_proj(swish(gate(x)) * fc(x))``; ``fc_proj`` writes to the residual stream.

    Weights are drawn N(0, ``std``), the output projection N(0, ``out_std``), from ``generator``.
    """

    def __init__(self, width: int, hidden: int, std: float, out_std: float, generator: Optional[torch.Generator] = None):
        super().__init__()
        # skip_init: no default (Kaiming) draw from the global stream, which would only be overwritten.
        self.gate = skip_init(nn.Linear, width, hidden, bias=False)  # W
        self.fc = skip_init(nn.Linear, width, hidden, bias=False)  # V
        self.fc_proj = skip_init(nn.Linear, hidden, width, bias=False)  # W2
        with torch.no_grad():
            # All three are drawn even when out_std is 0, so the stream (and the next block's draws)
            # does not depend on it.
            for layer, s in ((self.gate, std), (self.fc, std), (self.fc_proj, out_std)):
                layer.weight.normal_(0.0, 1.0, generator=generator).mul_(s)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc_proj(swish(self.gate(x)) * self.fc(x))


def apply_swiglu(gpt: nn.Module, generator: Optional[torch.Generator] = None,
                 optimizers: Optional[Sequence[torch.optim.Optimizer]] = None) -> None:
    """Replace every block's MLP by a `SwiGLUMLP` of `swiglu_hidden` units (GPT-2 initialisation).

    An output projection that is exactly zero (`zero_init_residual` ran first) stays zero, so the
    two tricks give the same network in either order.
    """
    for block in gpt.blocks:
        old = block.mlp
        width, hidden = old.fc_proj.out_features, swiglu_hidden(old.fc_proj.out_features)
        out_std = 0.0 if not bool(old.fc_proj.weight.detach().any()) else gpt.residual_init_std
        swap_module(block, "mlp", SwiGLUMLP(width, hidden, gpt.init_std, out_std, generator), optimizers)


class SwiGLU(Algorithm):
    """At INIT, replaces every MLP of the ``gpt_blocks`` network by a SwiGLU MLP of the same size."""

    def match(self, event: Event, state: State) -> bool:
        return event == Event.INIT

    def apply(self, event: Event, state: State, logger: Logger) -> None:
        apply_swiglu(find_gpt(state.model, "swiglu"), trick_generator(state.seed, "swiglu"), state.optimizers)
