"""Zero-initialised residual projections: every transformer block starts as the identity (ours)."""

from trickstack.algorithms.zero_init_residual.zero_init_residual import (
    ZeroInitResidual,
    zero_residual_projections,
)
from trickstack.tricks.registry import Citation, register_trick
from trickstack.tricks.surgery import GPT_BLOCKS

__all__ = ["ZeroInitResidual", "zero_residual_projections"]


@register_trick(
    name="zero_init_residual",
    year=2017,
    summary="Zero-initialise the attention and MLP output projections, so every block starts as the identity",
    citation=Citation(
        "Accurate, Large Minibatch SGD: Training ImageNet in 1 Hour (Goyal et al.), zero-gamma residual branches",
        "https://arxiv.org/abs/1706.02677",
    ),
    domains=("language",),
    changes=("model",),  # the initial weights
    requires=(GPT_BLOCKS,),
)
def zero_init_residual() -> ZeroInitResidual:
    return ZeroInitResidual()
