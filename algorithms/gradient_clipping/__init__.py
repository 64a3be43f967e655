"""Gradient clipping: rescale gradients whose norm (or value) exceeds a threshold (Composer's)."""

from composer.algorithms import GradientClipping

from trickstack.core.params import Param
from trickstack.tricks.registry import Citation, register_trick


@register_trick(
    name="gradient_clipping",
    year=2013,
    summary="Rescale the gradient before the optimizer step when it exceeds a threshold",
    citation=Citation(
        "On the difficulty of training recurrent neural networks (Pascanu et al.)", "https://arxiv.org/abs/1211.5063"
    ),
    domains=("vision", "language", "audio"),
    changes=("optimizer",),
    params=(
        Param("clipping_type", "norm", choices=("norm", "value", "adaptive"),
              help="norm: global L2 norm; value: each element; adaptive: unit-wise grad/weight norm ratio (AGC)"),
        Param("threshold", 1.0, low=1e-3, high=100.0, log=True,
              help="largest global norm, element value, or grad/weight ratio let through"),
    ),
)
def gradient_clipping(clipping_type: str, threshold: float) -> GradientClipping:
    return GradientClipping(clipping_type=clipping_type, clipping_threshold=threshold)
