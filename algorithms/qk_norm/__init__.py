"""QK-norm: normalise queries and keys per head before attention (ours, module surgery)."""

from trickstack.algorithms.qk_norm.qk_norm import (
    KINDS,
    QKNorm,
    apply_qk_norm,
    head_norm,
    make_head_norm,
)
from trickstack.core.params import Param
from trickstack.tricks.registry import Citation, register_trick
from trickstack.tricks.surgery import GPT_BLOCKS

__all__ = ["QKNorm", "apply_qk_norm", "head_norm", "make_head_norm"]


@register_trick(
    name="qk_norm",
    year=2023,
    summary="Normalise queries and keys over the head dimension before the attention dot product",
    citation=Citation(
        "Scaling Vision Transformers to 22 Billion Parameters (Dehghani et al.)", "https://arxiv.org/abs/2302.05442"
    ),
    domains=("language", "vision"),
    changes=("model",),
    requires=(GPT_BLOCKS,),
    params=(Param("kind", "layer", choices=KINDS, help="LayerNorm (as ViT-22B) or RMSNorm over each head's vector"),),
)
def qk_norm(kind: str) -> QKNorm:
    return QKNorm(kind=kind)
