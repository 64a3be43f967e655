"""Label smoothing: train on targets that put ``1 - smoothing`` on the true class (Composer's)."""

from composer.algorithms import LabelSmoothing

from trickstack.core.params import Param
from trickstack.tricks.registry import Citation, register_trick


@register_trick(
    name="label_smoothing",
    year=2016,
    summary="Mix one-hot targets with the uniform distribution",
    citation=Citation("Rethinking the Inception Architecture for Computer Vision (Szegedy et al.)", "https://arxiv.org/abs/1512.00567"),
    domains=("vision", "language", "audio"),
    changes=("targets",),
    requires=("classification",),
    params=(Param("smoothing", 0.1, low=0.0, high=0.5, help="probability mass spread uniformly over all classes"),),
)
def label_smoothing(smoothing: float) -> LabelSmoothing:
    return LabelSmoothing(smoothing=smoothing)
