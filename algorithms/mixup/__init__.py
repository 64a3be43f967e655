"""MixUp: train on convex combinations of pairs of examples and of their targets (Composer's)."""

from composer.algorithms import MixUp

from trickstack.core.params import Param
from trickstack.tricks.registry import Citation, register_trick


@register_trick(
    name="mixup",
    year=2018,
    summary="Train on convex combinations of example pairs and of their one-hot targets",
    citation=Citation("mixup: Beyond Empirical Risk Minimization (Zhang et al.)", "https://arxiv.org/abs/1710.09412"),
    domains=("vision", "audio"),
    changes=("data", "targets"),
    requires=("classification",),  # mixes one-hot targets
    params=(Param("alpha", 0.2, low=0.05, high=2.0, log=True, help="Beta(alpha, alpha) concentration of the mixing weight"),),
)
def mixup(alpha: float) -> MixUp:
    return MixUp(alpha=alpha)
