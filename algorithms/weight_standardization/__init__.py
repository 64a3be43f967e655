"""Weight Standardization: every convolution uses its filters standardised to mean 0, variance 1 (Composer's)."""

from composer.algorithms import WeightStandardization

from trickstack.core.params import Param
from trickstack.tricks.registry import Citation, register_trick


@register_trick(
    name="weight_standardization",
    year=2019,
    summary="Standardise each convolution filter to zero mean and unit variance in the forward pass",
    citation=Citation(
        "Micro-Batch Training with Batch-Channel Normalization and Weight Standardization (Qiao et al.)",
        "https://arxiv.org/abs/1903.10520",
    ),
    domains=("vision", "audio"),
    changes=("model",),
    requires=("conv",),  # parametrises torch.nn.Conv1d/2d/3d weights
    params=(
        Param("n_last_layers_ignore", 0, low=0, high=2,
              help="the last this many convolutions (in forward order) keep their raw weights"),
    ),
)
def weight_standardization(n_last_layers_ignore: int) -> WeightStandardization:
    return WeightStandardization(n_last_layers_ignore=n_last_layers_ignore)
