"""z-loss: penalise the squared log of the softmax normaliser to keep logits from drifting (ours)."""

from trickstack.algorithms.z_loss.z_loss import ZLoss, z_loss
from trickstack.core.params import Param
from trickstack.tricks.registry import Citation, register_trick

__all__ = ["ZLoss", "z_loss"]


@register_trick(
    name="z_loss",
    year=2022,
    summary="Add coefficient · log²Z of the softmax normaliser to the loss, keeping log Z near 0",
    citation=Citation("PaLM: Scaling Language Modeling with Pathways (Chowdhery et al.)", "https://arxiv.org/abs/2204.02311"),
    domains=("vision", "language", "audio"),
    changes=("loss",),
    requires=("logits",),
    params=(
        Param("coefficient", 1e-4, low=1e-6, high=1e-1, log=True, help="weight of mean(log²Z), per position, added to the loss"),
    ),
)
def make_z_loss(coefficient: float) -> ZLoss:
    # Not named z_loss: that is the pure function this package exports.
    return ZLoss(coefficient=coefficient)
