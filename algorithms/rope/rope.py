"""RoPE (Su et al., 2021): encode positions by rotating queries and keys, not by adding a vector.

``rotate`` is RoFormer's equation 34: the pairs ``(x_{2i}, x_{2i+1})`` of a vector at position ``m``
turn by the angle ``m * theta_i``, ``theta_i = base^(-2i/d)``. Because ``R_m^T R_n = R_{n-m}``, the
score ``<R_m q, R_n k>`` depends on the positions only through ``n - m``. `apply_rope` puts a `Rotary`
in every attention's ``rotary`` slot (on q and k) and replaces the learned positions ``wpe`` of a
``gpt_blocks`` network by ``nn.Identity``, so positions enter through the rotation alone.
"""

from __future__ import annotations

from typing import Optional, Sequence

import torch
from composer.core import Algorithm, Event, State
from composer.loggers import Logger
from torch import nn

from trickstack.core.errors import UserError
from trickstack.tricks.surgery import find_gpt, swap_module


def rotate(x: torch.Tensor, base: float = 10000.0) -> torch.Tensor:
    """Rotate ``x`` (..., T, d) at positions 0..T-1: pair ``i`` of position ``m`` by ``m * base^(-2i/d)`` radians.

    >>> rotate(torch.tensor([[1.0, 0.0], [1.0, 0.0]]), base=10000.0)  # d = 2: position 1 turns by 1 rad
    tensor([[1.0000, 0.0000],
            [0.5403, 0.8415]])
    """
    t, d = x.shape[-2], x.shape[-1]
    if d % 2:
        raise UserError(f"rope: the head dimension must be even to rotate pairs, got {d}")
    theta = base ** (-torch.arange(0, d, 2, dtype=torch.float32, device=x.device) / d)  # (d/2,) radians per position
    angle = torch.outer(torch.arange(t, dtype=torch.float32, device=x.device), theta)  # (T, d/2)
    cos, sin = angle.cos().to(x.dtype), angle.sin().to(x.dtype)
    even, odd = x[..., 0::2], x[..., 1::2]
    return torch.stack((even * cos - odd * sin, even * sin + odd * cos), dim=-1).flatten(-2)


class Rotary(nn.Module):
    """The ``rotary`` slot's module: `rotate` along dimension -2 (positions) of (N, heads, T, head_dim)."""

    def __init__(self, base: float = 10000.0):
        super().__init__()
        self.base = base  # wavelength scale: the slowest pair turns once per 2*pi*base positions

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # cos/sin are recomputed (T x d/2 values, negligible beside the matmuls) rather than kept as
        # buffers, which EMA or SWA would average and checkpoints would carry.
        return rotate(x, self.base)

    def extra_repr(self) -> str:
        return f"base={self.base:g}"


def apply_rope(gpt: nn.Module, base: float = 10000.0, optimizers: Optional[Sequence[torch.optim.Optimizer]] = None) -> None:
    """Rotate q and k in every block and drop the learned positions (their parameters leave the optimizers)."""
    for block in gpt.blocks:
        swap_module(block.attn, "rotary", Rotary(base), optimizers)
    swap_module(gpt, "wpe", nn.Identity(), optimizers)


class RoPE(Algorithm):
    """At INIT, gives the ``gpt_blocks`` network rotary positions in place of learned ones."""

    def __init__(self, base: float = 10000.0):
        self.base = base

    def match(self, event: Event, state: State) -> bool:
        return event == Event.INIT

    def apply(self, event: Event, state: State, logger: Logger) -> None:
        apply_rope(find_gpt(state.model, "rope"), self.base, state.optimizers)
