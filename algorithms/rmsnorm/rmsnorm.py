"""RMSNorm (Zhang & Sennrich, 2019): normalise by the root mean square only, without centring.

``rms_norm`` is the paper's equation 4, ``a_i / RMS(a) * g_i`` with ``RMS(a) = sqrt(mean(a^2))``
(plus ``eps`` inside the root); `apply_rmsnorm` swaps the residual-stream LayerNorms of a
``gpt_blocks`` network (every block's ``ln1``, ``ln2`` and the final ``ln_f``) for ``nn.RMSNorm``
with Composer's `replace_module_classes`.
"""

from __future__ import annotations

from typing import Optional, Sequence

import torch
from composer.core import Algorithm, Event, State
from composer.loggers import Logger
from composer.utils.module_surgery import replace_module_classes
from torch import nn

from trickstack.core.errors import UserError
from trickstack.tricks.surgery import find_gpt, update_optimizers


def rms_norm(x: torch.Tensor, weight: Optional[torch.Tensor] = None, eps: float = 1e-5) -> torch.Tensor:
    """``x / sqrt(mean(x^2) + eps) * weight`` over the last dimension: no mean is subtracted.

    >>> rms_norm(torch.tensor([[3.0, 4.0, 5.0]]), eps=0.0)  # RMS = sqrt(50 / 3)
    tensor([[0.7348, 0.9798, 1.2247]])
    """
    y = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps)
    return y if weight is None else y * weight


def to_rmsnorm(norm: nn.LayerNorm) -> nn.RMSNorm:
    """An ``nn.RMSNorm`` with ``norm``'s shape, epsilon and gain (a LayerNorm bias must be absent or zero)."""
    if norm.bias is not None and bool(norm.bias.detach().ne(0).any()):
        raise UserError("rmsnorm: RMSNorm has no bias, and this LayerNorm's bias is not zero")
    rms = nn.RMSNorm(norm.normalized_shape, eps=norm.eps, elementwise_affine=norm.weight is not None)
    if norm.weight is not None:
        with torch.no_grad():
            rms.weight.copy_(norm.weight)
    return rms  # replace_module_classes moves it to the LayerNorm's device


def apply_rmsnorm(gpt: nn.Module, optimizers: Optional[Sequence[torch.optim.Optimizer]] = None) -> int:
    """Replace the residual-stream LayerNorms (``ln1``, ``ln2`` of every block, ``ln_f``); return how many.

    Other LayerNorms (such as ``qk_norm``'s with ``kind="layer"``) are left alone, so the result
    does not depend on which of the two tricks runs first.
    """
    targets = {id(m) for b in gpt.blocks for m in (b.ln1, b.ln2)} | {id(gpt.ln_f)}
    pairs = replace_module_classes(gpt, {nn.LayerNorm: lambda m, _: to_rmsnorm(m) if id(m) in targets else None})
    for old, new in pairs.items():
        update_optimizers(optimizers, old.parameters(), new.parameters())
    return len(pairs)


class RMSNormalization(Algorithm):
    """At INIT, swaps the residual-stream LayerNorms of the ``gpt_blocks`` network for RMSNorm."""

    def match(self, event: Event, state: State) -> bool:
        return event == Event.INIT

    def apply(self, event: Event, state: State, logger: Logger) -> None:
        apply_rmsnorm(find_gpt(state.model, "rmsnorm"), state.optimizers)
