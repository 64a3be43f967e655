"""CutOut: zero a random square of every image of the batch (Composer's)."""

from composer.algorithms import CutOut

from trickstack.core.params import Param
from trickstack.tricks.registry import Citation, register_trick


@register_trick(
    name="cutout",
    year=2017,
    summary="Zero out a random square of the images of each batch",
    citation=Citation(
        "Improved Regularization of Convolutional Neural Networks with Cutout (DeVries & Taylor)",
        "https://arxiv.org/abs/1708.04552",
    ),
    domains=("vision",),
    changes=("data",),
    requires=("images2d",),  # squares over (H, W); on 1-D signals (H = 1) the square has side 0
    params=(
        Param("length", 0.5, low=0.25, high=0.75, help="side of the square as a fraction of the shorter image side"),
        Param("num_holes", 1, low=1, high=4, help="squares cut out of each batch"),
    ),
)
def cutout(length: float, num_holes: int) -> CutOut:
    return CutOut(num_holes=num_holes, length=length)
