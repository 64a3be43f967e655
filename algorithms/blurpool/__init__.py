"""BlurPool: low-pass filter feature maps before max-pooling and strided convolutions (Composer's)."""

from composer.algorithms import BlurPool

from trickstack.core.params import Param
from trickstack.tricks.registry import Citation, register_trick


@register_trick(
    name="blurpool",
    year=2019,
    summary="Blur feature maps before every max-pool and strided convolution, against aliasing",
    citation=Citation("Making Convolutional Networks Shift-Invariant Again (Zhang)", "https://arxiv.org/abs/1904.11486"),
    domains=("vision",),
    changes=("model",),
    requires=("images2d",),  # replaces torch.nn.MaxPool2d and strided torch.nn.Conv2d modules
    params=(
        Param("blur_first", True, help="strided convolutions: blur, then convolve with the stride (cheap) instead of "
                                       "convolving at stride 1, then blurring with the stride (the paper's order)"),
        Param("min_channels", 16, low=1, high=512, log=True,
              help="strided convolutions with fewer input channels stay as they are (keeps the first layer sharp)"),
    ),
)
def blurpool(blur_first: bool, min_channels: int) -> BlurPool:
    return BlurPool(replace_convs=True, replace_maxpools=True, blur_first=blur_first, min_channels=min_channels)
