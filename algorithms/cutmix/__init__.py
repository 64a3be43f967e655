"""CutMix: paste a random box of another image into each image and mix the targets by area (Composer's)."""

from composer.algorithms import CutMix

from trickstack.core.params import Param
from trickstack.tricks.registry import Citation, register_trick


@register_trick(
    name="cutmix",
    year=2019,
    summary="Paste a box from another example into each image; mix the one-hot targets by the box's area",
    citation=Citation(
        "CutMix: Regularization Strategy to Train Strong Classifiers with Localizable Features (Yun et al.)",
        "https://arxiv.org/abs/1905.04899",
    ),
    domains=("vision",),
    changes=("data", "targets"),
    requires=("classification", "images2d"),  # boxes over (H, W); mixes one-hot targets
    # Both replace every example by a mix of two; timm alternates them per batch rather than stacking.
    conflicts=("mixup",),
    params=(
        Param("alpha", 1.0, low=0.1, high=2.0, log=True, help="Beta(alpha, alpha) concentration of the kept area"),
        Param("uniform_sampling", False, help="draw boxes so every pixel is equally likely to be pasted over "
                                              "(the paper's boxes favour the centre)"),
    ),
)
def cutmix(alpha: float, uniform_sampling: bool) -> CutMix:
    return CutMix(alpha=alpha, uniform_sampling=uniform_sampling)
