"""Lion: sign of an interpolated momentum, every coordinate moves by the learning rate (ours, on lion-pytorch)."""

from trickstack.algorithms.lion.lion import Lion, lion_from, lion_step
from trickstack.core.params import Param
from trickstack.tricks.optimizers import ADAM_OPTIMIZER
from trickstack.tricks.registry import Citation, register_trick

__all__ = ["Lion", "lion_from", "lion_step"]


@register_trick(
    name="lion",
    year=2023,
    summary="Replace Adam by Lion: step by the sign of an interpolated momentum, with decoupled weight decay",
    citation=Citation("Symbolic Discovery of Optimization Algorithms (Chen et al.)", "https://arxiv.org/abs/2302.06675"),
    domains=("vision", "language"),
    changes=("optimizer",),
    requires=(ADAM_OPTIMIZER,),  # keeps the workload optimizer's lr, betas and eps
    conflicts=("adamw", "muon", "schedule_free"),  # each replaces the optimizer
    params=(
        # The paper: Lion's lr is 3-10x smaller than AdamW's (ratio 0.1-0.33) and its decay 3-10x larger.
        Param("lr_ratio", 0.2, low=0.03, high=1.0, log=True, help="Lion's learning rate as a fraction of the workload's"),
        Param("beta1", 0.9, low=0.5, high=0.99, help="momentum's weight inside the sign (the paper's default 0.9)"),
        Param("beta2", 0.99, low=0.9, high=0.999, help="decay of the momentum (the paper's default 0.99; 0.98 for stability)"),
        # 0.5 = adamw's 0.1 x 5, so lr * wd matches adamw's default at lr_ratio 0.2.
        Param("weight_decay", 0.5, low=0.0, high=5.0, help="decoupled decay per unit of Lion's lr, on matrices only"),
    ),
)
def lion(lr_ratio: float, beta1: float, beta2: float, weight_decay: float) -> Lion:
    return Lion(lr_ratio=lr_ratio, beta1=beta1, beta2=beta2, weight_decay=weight_decay)
