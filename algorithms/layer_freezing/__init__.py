"""Layer freezing: stop training the earliest layers progressively, saving their backward pass (Composer's)."""

from composer.algorithms import LayerFreezing

from trickstack.core.params import Param
from trickstack.tricks.registry import Citation, register_trick


@register_trick(
    name="layer_freezing",
    year=2017,
    summary="Freeze the earliest layers progressively during the second part of training",
    citation=Citation(
        "FreezeOut: Accelerate Training by Progressively Freezing Layers (Brock et al.)", "https://arxiv.org/abs/1706.04983"
    ),
    domains=("vision", "language", "audio"),
    changes=("model",),  # requires_grad pattern; frozen parameters also leave the optimizer
    # Composer's LayerFreezing acts at epoch ends only.
    noop_on={"shakespeare-char": "it freezes at epoch ends, and an epoch of this workload (~84,000 steps of "
             "12 windows) is 40x its reference budget"},
    params=(
        Param("freeze_start", 0.5, low=0.0, high=0.9, help="fraction of the budget before the first layer freezes"),
        Param("freeze_level", 1.0, low=0.1, high=1.0, help="fraction of the layers (all but the last) frozen at the end"),
    ),
)
def layer_freezing(freeze_start: float, freeze_level: float) -> LayerFreezing:
    # The cost of a step follows the requires_grad pattern, which the budget already keys on: no cost_key.
    return LayerFreezing(freeze_start=freeze_start, freeze_level=freeze_level)
