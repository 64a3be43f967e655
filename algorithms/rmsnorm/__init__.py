"""RMSNorm: normalise by the root mean square, without subtracting the mean (ours, module surgery)."""

from trickstack.algorithms.rmsnorm.rmsnorm import (
    RMSNormalization,
    apply_rmsnorm,
    rms_norm,
    to_rmsnorm,
)
from trickstack.tricks.registry import Citation, register_trick
from trickstack.tricks.surgery import GPT_BLOCKS

__all__ = ["RMSNormalization", "apply_rmsnorm", "rms_norm", "to_rmsnorm"]


@register_trick(
    name="rmsnorm",
    year=2019,
    summary="Replace every residual-stream LayerNorm by RMSNorm (no centring, no bias)",
    citation=Citation("Root Mean Square Layer Normalization (Zhang & Sennrich)", "https://arxiv.org/abs/1910.07467"),
    domains=("language",),
    changes=("model",),
    requires=(GPT_BLOCKS,),
)
def rmsnorm() -> RMSNormalization:
    return RMSNormalization()
