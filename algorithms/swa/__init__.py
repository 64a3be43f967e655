"""SWA: evaluate the uniform average of the weights visited in the last part of training (Composer's)."""

from composer.algorithms import SWA

from trickstack.core.params import Param
from trickstack.tricks.registry import Citation, register_trick


@register_trick(
    name="swa",
    year=2018,
    summary="Evaluate the average of the weights visited late in training",
    citation=Citation(
        "Averaging Weights Leads to Wider Optima and Better Generalization (Izmailov et al.)",
        "https://arxiv.org/abs/1803.05407",
    ),
    domains=("vision", "language", "audio"),
    changes=("evaluation",),
    conflicts=("ema",),  # both decide which weights are evaluated
    params=(
        Param("start", 0.7, low=0.3, high=0.95, help="fraction of the budget after which weights are averaged"),
        Param("update_every", 10, low=1, high=100, log=True, help="batches between two weights added to the average"),
    ),
)
def swa(start: float, update_every: int) -> SWA:
    # swa_end=1dur: the average replaces the weights after the last step, so it is what gets evaluated.
    # Composer warns that BatchNorm statistics are then not refreshed; no trickstack workload has BatchNorm.
    # schedule_swa_lr stays off: Composer's SWA then leaves the learning rate to the base schedule.
    return SWA(swa_start=f"{start}dur", swa_end="1dur", update_interval=f"{update_every}ba")
