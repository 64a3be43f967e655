"""Cosine schedule: decay the learning rate along half a cosine over the budget (ours, on composer.optim)."""

from trickstack.algorithms.cosine_schedule.cosine_schedule import (
    CosineSchedule,
    cosine_multiplier,
)
from trickstack.core.params import Param
from trickstack.tricks.registry import Citation, register_trick

__all__ = ["CosineSchedule", "cosine_multiplier"]


@register_trick(
    name="cosine_schedule",
    year=2016,
    summary="Decay the learning rate along half a cosine to a fraction of its peak",
    citation=Citation("SGDR: Stochastic Gradient Descent with Warm Restarts (Loshchilov & Hutter)", "https://arxiv.org/abs/1608.03983"),
    domains=("vision", "language", "audio"),
    changes=("schedule",),
    # Replaces the base schedule; a future trick that also replaces it must list it in its conflicts.
    params=(Param("alpha_f", 0.0, low=0.0, high=0.5, help="final learning rate as a fraction of the peak"),),
)
def cosine_schedule(alpha_f: float) -> CosineSchedule:
    return CosineSchedule(alpha_f=alpha_f)
