"""QK-norm (Dehghani et al., 2023; Henry et al., 2020): normalise queries and keys before their dot product.

Without it, attention logits grow with the norms of q and k and can saturate the softmax (ViT-22B's
training diverged that way). ``head_norm`` normalises each head's vector over the head dimension:
``kind="layer"`` is LayerNorm, as in ViT-22B; ``kind="rms"`` is RMSNorm. Either way each head's
normalised vector has unit root mean square before its learned gain (one gain vector of length
head_dim, shared by the heads). `apply_qk_norm` fills the ``q_norm`` and ``k_norm`` slots of every
attention of a ``gpt_blocks`` network.
"""

from __future__ import annotations

from typing import Optional, Sequence

import torch
import torch.nn.functional as F
from composer.core import Algorithm, Event, State
from composer.loggers import Logger
from torch import nn

from trickstack.core.errors import UserError
from trickstack.tricks.surgery import find_gpt, swap_module

KINDS = ("layer", "rms")
EPS = 1e-5  # as the workload's LayerNorms


def head_norm(x: torch.Tensor, kind: str = "layer", eps: float = EPS) -> torch.Tensor:
    """Normalise ``x`` (..., head_dim) over its last dimension, without gain: LayerNorm or RMSNorm.

    >>> head_norm(torch.tensor([[1.0, 3.0]]), "layer", eps=0.0)  # mean 2, standard deviation 1
    tensor([[-1.,  1.]])
    >>> head_norm(torch.tensor([[3.0, 4.0]]), "rms", eps=0.0)  # RMS = sqrt(12.5)
    tensor([[0.8485, 1.1314]])
    """
    if kind == "layer":
        return F.layer_norm(x, x.shape[-1:], eps=eps)
    if kind == "rms":
        return F.rms_norm(x, x.shape[-1:], eps=eps)
    raise UserError(f"qk_norm: kind must be one of {', '.join(KINDS)}, got {kind!r}")


def make_head_norm(head_dim: int, kind: str = "layer") -> nn.Module:
    """The module for a ``q_norm``/``k_norm`` slot: `head_norm` with a learned gain (initially ones), no bias."""
    if kind == "layer":
        return nn.LayerNorm(head_dim, eps=EPS, bias=False)
    if kind == "rms":
        return nn.RMSNorm(head_dim, eps=EPS)
    raise UserError(f"qk_norm: kind must be one of {', '.join(KINDS)}, got {kind!r}")


def apply_qk_norm(gpt: nn.Module, kind: str = "layer", optimizers: Optional[Sequence[torch.optim.Optimizer]] = None) -> None:
    """Fill every attention's ``q_norm`` and ``k_norm``; their gains join the optimizer group of ``ln_f``'s gain."""
    gain = gpt.ln_f.weight  # a norm gain: the new gains get the same weight decay (none, in the workload)
    if gain is None:
        raise UserError("qk_norm: the final norm has no gain, so there is no optimizer group to put the new gains in")
    for block in gpt.blocks:
        attn = block.attn
        head_dim = attn.qkv.in_features // attn.heads
        swap_module(attn, "q_norm", make_head_norm(head_dim, kind), optimizers, like=gain)
        swap_module(attn, "k_norm", make_head_norm(head_dim, kind), optimizers, like=gain)


class QKNorm(Algorithm):
    """At INIT, normalises queries and keys per head in every attention of the ``gpt_blocks`` network."""

    def __init__(self, kind: str = "layer"):
        self.kind = kind

    def match(self, event: Event, state: State) -> bool:
        return event == Event.INIT

    def apply(self, event: Event, state: State, logger: Logger) -> None:
        apply_qk_norm(find_gpt(state.model, "qk_norm"), self.kind, state.optimizers)
