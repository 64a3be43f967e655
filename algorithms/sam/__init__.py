"""SAM: step with the gradient taken at the worst nearby weights, w + rho * g / |g| (Composer's)."""

from composer.algorithms import SAM as ComposerSAM
from composer.algorithms.sam import SAMOptimizer
from composer.core import State

from trickstack.core.params import Param
from trickstack.tricks.registry import Citation, register_trick


class SAM(ComposerSAM):
    """Composer's SAM with a cost key: a step with the SAM ascent runs two forward-backward passes."""

    def cost_key(self, state: State) -> bool:
        # SAMOptimizer.step runs the ascent when (global_step + 1) % interval == 0; global_step counts
        # the steps done so far, so at BEFORE_DATALOADER it already tells what this step will do.
        sam = next(o for o in state.optimizers if isinstance(o, SAMOptimizer))
        return (sam.global_step + 1) % self.interval == 0


@register_trick(
    name="sam",
    year=2021,
    summary="Sharpness-aware minimization: descend from the worst point of a small weight neighbourhood",
    citation=Citation(
        "Sharpness-Aware Minimization for Efficiently Improving Generalization (Foret et al.)",
        "https://arxiv.org/abs/2010.01412",
    ),
    domains=("vision", "language", "audio"),
    changes=("optimizer",),
    params=(
        Param("rho", 0.05, low=0.005, high=0.5, log=True, help="radius of the neighbourhood, in weight-space L2 norm"),
        Param("interval", 1, low=1, high=10, help="run the ascent every this many steps (others are plain steps)"),
    ),
)
def sam(rho: float, interval: int) -> SAM:
    return SAM(rho=rho, interval=interval)
