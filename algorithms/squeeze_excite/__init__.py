"""Squeeze-and-Excitation: rescale each 2-D convolution's output channels by a gate computed from their means.

Composer's, except that the gates' parameters join the optimizer group of their convolution (several groups work).
"""

from trickstack.algorithms.squeeze_excite.squeeze_excite import SqueezeExciteInGroups
from trickstack.core.params import Param
from trickstack.tricks.registry import Citation, register_trick


@register_trick(
    name="squeeze_excite",
    year=2018,
    summary="After each wide 2-D convolution, gate its channels by an MLP of their spatial means",
    citation=Citation("Squeeze-and-Excitation Networks (Hu et al.)", "https://arxiv.org/abs/1709.01507"),
    domains=("vision",),
    changes=("model",),
    requires=("images2d",),  # wraps torch.nn.Conv2d modules; the gate pools over (H, W)
    params=(
        Param("latent_channels", 0.25, low=0.0625, high=0.5, log=True,
              help="hidden width of the gate's MLP, as a fraction of the convolution's output channels (paper: 1/16)"),
        Param("min_channels", 16, low=1, high=512, log=True,
              help="a gate follows a convolution only if its input and output channels both reach this"),
    ),
)
def squeeze_excite(latent_channels: float, min_channels: int) -> SqueezeExciteInGroups:
    return SqueezeExciteInGroups(latent_channels=latent_channels, min_channels=min_channels)
