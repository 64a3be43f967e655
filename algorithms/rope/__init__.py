"""RoPE: rotary position embeddings on queries and keys, replacing learned positions (ours, module surgery)."""

from trickstack.algorithms.rope.rope import RoPE, Rotary, apply_rope, rotate
from trickstack.core.params import Param
from trickstack.tricks.registry import Citation, register_trick
from trickstack.tricks.surgery import GPT_BLOCKS

__all__ = ["RoPE", "Rotary", "apply_rope", "rotate"]


@register_trick(
    name="rope",
    year=2021,
    summary="Rotary position embeddings: rotate queries and keys by position instead of adding learned positions",
    citation=Citation(
        "RoFormer: Enhanced Transformer with Rotary Position Embedding (Su et al.)", "https://arxiv.org/abs/2104.09864"
    ),
    domains=("language",),
    changes=("model",),
    requires=(GPT_BLOCKS,),
    params=(Param("base", 10000.0, low=100.0, high=1e6, log=True,
                  help="theta_i = base^(-2i/d): the slowest pair's wavelength is 2*pi*base positions"),),
)
def rope(base: float) -> RoPE:
    return RoPE(base=base)
