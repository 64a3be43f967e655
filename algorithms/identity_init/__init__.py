"""Identity initialisation: 3x3 convolutions start as the identity on their inputs (ours, after airbench94)."""

from trickstack.algorithms.identity_init.identity_init import IdentityInit, identity_filters
from trickstack.tricks.registry import Citation, register_trick

__all__ = ["IdentityInit", "identity_filters"]


@register_trick(
    name="identity_init",
    year=2016,
    summary="Start each 3x3 convolution as the identity on its input channels (dirac filters)",
    citation=Citation("Identity Matters in Deep Learning (Hardt & Ma)", "https://arxiv.org/abs/1611.04231"),
    domains=("vision",),
    changes=("model",),  # the initial weights
    requires=("airbench_net",),
)
def identity_init() -> IdentityInit:
    return IdentityInit()
