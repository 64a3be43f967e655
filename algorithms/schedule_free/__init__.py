"""Schedule-free AdamW: constant lr, gradients at an interpolation, evaluation at an average (ours, on schedulefree)."""

from trickstack.algorithms.schedule_free.schedule_free import (
    ScheduleFree,
    averaged_point,
    gradient_point,
    schedule_free_from,
)
from trickstack.core.params import Param
from trickstack.tricks.optimizers import ADAM_OPTIMIZER
from trickstack.tricks.registry import Citation, register_trick

__all__ = ["ScheduleFree", "averaged_point", "gradient_point", "schedule_free_from"]


@register_trick(
    name="schedule_free",
    year=2024,
    summary="Schedule-free AdamW: no decay schedule; train at an interpolation, evaluate at the running average",
    citation=Citation("The Road Less Scheduled (Defazio et al.)", "https://arxiv.org/abs/2405.15682"),
    domains=("vision", "language", "audio"),
    changes=("optimizer", "schedule", "evaluation"),
    requires=(ADAM_OPTIMIZER,),  # keeps the workload optimizer's lr, betas and eps
    conflicts=(
        "adamw", "lion", "muon",  # each replaces the optimizer
        "cosine_schedule",  # replaces the base schedule too; a decay is what schedule-free does without
        "lr_warmup",  # schedule-free has its own warm-up: two would multiply
        "lookahead",  # rewrites the weights (y) without z, breaking x = (y - (1 - beta) z) / beta
        "ema", "swa",  # swap other weights in at evaluation, where schedule-free puts x in place
    ),
    params=(
        # The authors: schedule-free AdamW's best lr is 1-10x that of a scheduled AdamW.
        Param("lr_ratio", 1.0, low=0.1, high=10.0, log=True, help="learning rate as a multiple of the workload's"),
        Param("beta", 0.9, low=0.5, high=0.99, help="interpolation weight of the average x in y (the paper's beta1)"),
        Param("warmup", 0.05, low=0.0, high=0.3, help="fraction of the budget spent warming the learning rate up"),
        Param("weight_decay", 0.0, low=0.0, high=1.0, help="decoupled decay per unit of lr, taken at y, on matrices only"),
    ),
)
def schedule_free(lr_ratio: float, beta: float, warmup: float, weight_decay: float) -> ScheduleFree:
    return ScheduleFree(lr_ratio=lr_ratio, beta=beta, warmup=warmup, weight_decay=weight_decay)
