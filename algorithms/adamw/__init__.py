"""AdamW: decoupled weight decay instead of Adam's L2 penalty (ours, on torch.optim.AdamW)."""

from trickstack.algorithms.adamw.adamw import AdamW, adamw_from, decoupled_decay
from trickstack.core.params import Param
from trickstack.tricks.optimizers import ADAM_OPTIMIZER
from trickstack.tricks.registry import Citation, register_trick

__all__ = ["AdamW", "adamw_from", "decoupled_decay"]


@register_trick(
    name="adamw",
    year=2017,
    summary="Shrink the weights directly (decoupled weight decay) instead of adding an L2 term to Adam's gradient",
    citation=Citation("Decoupled Weight Decay Regularization (Loshchilov & Hutter)", "https://arxiv.org/abs/1711.05101"),
    domains=("vision", "language", "audio"),
    changes=("optimizer",),
    requires=(ADAM_OPTIMIZER,),  # keeps the workload optimizer's lr, betas and eps
    # Each of these replaces the optimizer too; only one optimizer can be in charge.
    conflicts=("lion", "muon", "schedule_free"),
    params=(
        # 0.1 is GPT-3's and nanoGPT's value; at MNIST-1D's lr 1e-2 it gives a decay time 1 / (lr * wd)
        # of 1,000 steps, a sixth of the reference run. At 1 a step shrinks the weights by a full lr.
        Param("weight_decay", 0.1, low=0.0, high=1.0,
              help="decoupled decay per unit of learning rate: each step multiplies matrices by 1 - lr * weight_decay"),
    ),
)
def adamw(weight_decay: float) -> AdamW:
    return AdamW(weight_decay=weight_decay)
