"""EMA: evaluate an exponential moving average of the weights instead of the last weights (Composer's)."""

from composer.algorithms import EMA
from composer.core import TimeUnit

from trickstack.core.params import Param
from trickstack.tricks.registry import Citation, register_trick
from trickstack.workloads import time_string


def check_half_life(value: str) -> None:
    """Composer's EMA takes a whole number of batches or epochs: ``"50ba"``, ``"1ep"``; never ``"dur"``."""
    half_life = time_string(value)
    if half_life.unit not in (TimeUnit.BATCH, TimeUnit.EPOCH) or half_life.value < 1:
        raise ValueError("must be a positive whole number of batches or epochs, such as '50ba' or '1ep'")


@register_trick(
    name="ema",
    year=1992,
    summary="Evaluate an exponential moving average of the weights",
    citation=Citation(
        "Acceleration of Stochastic Approximation by Averaging (Polyak & Juditsky)", "https://doi.org/10.1137/0330046"
    ),
    domains=("vision", "language", "audio"),
    changes=("evaluation",),
    conflicts=("swa",),  # both decide which weights are evaluated
    params=(Param("half_life", "100ba", help="age at which a step's weights count half; batches ('ba') or epochs ('ep')",
                  check=check_half_life),),
)
def ema(half_life: str) -> EMA:
    return EMA(half_life=half_life)  # updated every batch (every epoch for an 'ep' half life), from the first step
