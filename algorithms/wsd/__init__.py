"""Warm-up–stable–decay: warm up, hold the peak learning rate, decay over the last part of the budget (ours)."""

from trickstack.algorithms.wsd.wsd import SHAPES, WSD, wsd_multiplier
from trickstack.core.params import Param
from trickstack.tricks.registry import Citation, register_trick

__all__ = ["WSD", "wsd_multiplier"]


@register_trick(
    name="wsd",
    year=2024,
    summary="Warm up, hold the peak learning rate, then decay it over the last part of the budget",
    citation=Citation(
        "Scaling Laws and Compute-Optimal Training Beyond Fixed Training Durations (Hägele et al.); "
        "MiniCPM (Hu et al., arXiv:2404.06395)",
        "https://arxiv.org/abs/2405.18392",
    ),
    domains=("vision", "language", "audio"),
    changes=("schedule",),
    # Replaces the base schedule (as cosine_schedule does), has its own warm-up (as lr_warmup adds),
    # and schedule_free exists to need no decay schedule at all (see README).
    conflicts=("cosine_schedule", "lr_warmup", "schedule_free"),
    params=(
        Param("warmup", 0.05, low=0.0, high=0.2, help="fraction of the budget spent warming up linearly from 0"),
        Param("decay", 0.2, low=0.05, high=0.5, help="fraction of the budget, at its end, spent decaying"),
        Param("alpha_f", 0.0, low=0.0, high=0.5, help="final learning rate as a fraction of the peak"),
        Param("shape", "1-sqrt", choices=SHAPES, help="decay shape: linear or 1 - sqrt(fraction of the decay done)"),
    ),
)
def wsd(warmup: float, decay: float, alpha_f: float, shape: str) -> WSD:
    return WSD(warmup=warmup, decay=decay, alpha_f=alpha_f, shape=shape)
