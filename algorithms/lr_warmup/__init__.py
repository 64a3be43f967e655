"""Learning-rate warm-up: ramp the learning rate up linearly over the first part of the budget (ours)."""

from trickstack.algorithms.lr_warmup.lr_warmup import LRWarmup, warmup_multiplier
from trickstack.core.params import Param
from trickstack.tricks.registry import Citation, register_trick

__all__ = ["LRWarmup", "warmup_multiplier"]


@register_trick(
    name="lr_warmup",
    year=2017,
    summary="Ramp the learning rate up linearly from zero over the first part of training",
    citation=Citation(
        "Accurate, Large Minibatch SGD: Training ImageNet in 1 Hour (Goyal et al.)", "https://arxiv.org/abs/1706.02677"
    ),
    domains=("vision", "language", "audio"),
    changes=("schedule",),
    params=(Param("fraction", 0.05, low=0.01, high=0.3, help="fraction of the budget spent warming up"),),
)
def lr_warmup(fraction: float) -> LRWarmup:
    return LRWarmup(fraction=fraction)
