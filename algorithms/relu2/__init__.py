"""Squared ReLU: the MLP activation relu(x)^2 (ours, module surgery)."""

from trickstack.algorithms.relu2.relu2 import (
    ReLU2,
    ReLUSquared,
    apply_relu2,
    relu_squared,
)
from trickstack.tricks.registry import Citation, register_trick
from trickstack.tricks.surgery import GPT_BLOCKS

__all__ = ["ReLU2", "ReLUSquared", "apply_relu2", "relu_squared"]


@register_trick(
    name="relu2",
    year=2021,
    summary="Use the squared ReLU, relu(x)^2, as the MLP activation",
    citation=Citation("Primer: Searching for Efficient Transformers for Language Modeling (So et al.)",
                      "https://arxiv.org/abs/2109.08668"),
    domains=("language",),
    changes=("model",),
    requires=(GPT_BLOCKS,),
    conflicts=("swiglu",),  # both decide the MLP's nonlinearity; swiglu's MLP has no 'act' slot
)
def relu2() -> ReLU2:
    return ReLU2()
