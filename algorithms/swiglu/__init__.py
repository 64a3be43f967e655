"""SwiGLU: a gated MLP with a Swish gate, sized to the GELU MLP's parameter count (ours, module surgery)."""

from trickstack.algorithms.swiglu.swiglu import (
    SwiGLU,
    SwiGLUMLP,
    apply_swiglu,
    swiglu_ffn,
    swiglu_hidden,
)
from trickstack.tricks.registry import Citation, register_trick
from trickstack.tricks.surgery import GPT_BLOCKS

__all__ = ["SwiGLU", "SwiGLUMLP", "apply_swiglu", "swiglu_ffn", "swiglu_hidden"]


@register_trick(
    name="swiglu",
    year=2020,
    summary="Replace the MLP by a SwiGLU gated MLP with 2/3 of the hidden units (same parameter count)",
    citation=Citation("GLU Variants Improve Transformer (Shazeer)", "https://arxiv.org/abs/2002.05202"),
    domains=("language",),
    changes=("model",),
    requires=(GPT_BLOCKS,),
    conflicts=("relu2",),  # both decide the MLP's nonlinearity
)
def swiglu() -> SwiGLU:
    return SwiGLU()
