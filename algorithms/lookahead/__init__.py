"""Lookahead optimizer: k fast steps forward, then part of the way back to slow weights (ours, wraps torch_optimizer)."""

from trickstack.algorithms.lookahead.lookahead import (
    Lookahead,
    LookaheadOptimizer,
    wrap_lookahead,
)
from trickstack.core.params import Param
from trickstack.tricks.registry import Citation, register_trick

__all__ = ["Lookahead", "LookaheadOptimizer", "wrap_lookahead"]


@register_trick(
    name="lookahead",
    year=2019,
    summary="Every k optimizer steps, move the weights back towards a slowly updated copy",
    citation=Citation("Lookahead Optimizer: k steps forward, 1 step back (Zhang et al.)", "https://arxiv.org/abs/1907.08610"),
    domains=("vision", "language", "audio"),
    changes=("optimizer",),
    params=(
        Param("k", 5, low=2, high=20, help="fast optimizer steps between two synchronisations"),
        Param("alpha", 0.5, low=0.1, high=0.9, help="slow-weight step size: fraction of the fast weights' progress kept"),
    ),
)
def lookahead(k: int, alpha: float) -> Lookahead:
    return Lookahead(k=k, alpha=alpha)
