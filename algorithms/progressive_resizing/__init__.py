"""Progressive resizing: train on downscaled images first, growing them to full size (Composer's)."""

from typing import Optional

from composer.algorithms import ProgressiveResizing as ComposerProgressiveResizing
from composer.core import Event, State
from composer.loggers import Logger

from trickstack.core.errors import UserError
from trickstack.core.params import Param
from trickstack.tricks.registry import Citation, register_trick


def scaled_width(width: int, elapsed: float, initial_scale: float, delay: float, finetune: float, increment: int) -> int:
    """Image side at ``elapsed`` (fraction of the budget), as Composer's `ProgressiveResizing.apply` computes it.

    The scale stays at ``initial_scale`` until ``delay``, grows linearly to 1 until ``1 - finetune``, then
    stays at 1; the side is rounded to a multiple of ``increment`` pixels.

    >>> [scaled_width(8, t, 0.5, 0.5, 0.2, 1) for t in (0.0, 0.5, 0.6, 0.7, 0.8, 1.0)]
    [4, 4, 5, 7, 8, 8]
    """
    ramp = min((elapsed - delay) / (1 - finetune - delay), 1.0) if elapsed >= delay else 0.0
    scale = initial_scale + (1 - initial_scale) * ramp
    return round(width * scale / increment) * increment


class ProgressiveResizing(ComposerProgressiveResizing):
    """Composer's ProgressiveResizing with a cost key (the image side this step) and a check for empty images."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.width: Optional[int] = None  # full image side in pixels, known from the first batch

    def _side(self, state: State, width: int) -> int:
        elapsed = state.get_elapsed_duration()
        return scaled_width(width, float(elapsed) if elapsed is not None else 0.0, self.initial_scale,
                            self.delay_fraction, self.finetune_fraction, self.size_increment)

    def cost_key(self, state: State) -> Optional[int]:
        # The step's FLOPs follow the image side. Before the first batch the full side is unknown: that
        # step gets the key None, which no later step shares, so its cost is never reused wrongly.
        return None if self.width is None else self._side(state, self.width)

    def apply(self, event: Event, state: State, logger: Optional[Logger] = None) -> None:
        self.width = int(state.batch_get_item(key=self.input_key).shape[3])
        if self._side(state, self.width) < 1:
            raise UserError(
                f"progressive_resizing: initial_scale={self.initial_scale} with size_increment={self.size_increment} "
                f"rounds {self.width}-pixel images down to 0 pixels; raise initial_scale or lower size_increment"
            )
        super().apply(event, state, logger)


@register_trick(
    name="progressive_resizing",
    year=2018,
    summary="Train on downscaled images early on, growing them to full size before the end",
    citation=Citation(
        "Progressive resizing, fast.ai (Howard & Gugger, Deep Learning for Coders, ch. 7)",
        "https://github.com/fastai/fastbook/blob/780b76bef3127ce5b64f8230fce60e915a7e0735/07_sizing_and_tta.ipynb",
    ),
    domains=("vision",),
    changes=("data",),
    # resizes (H, W) images; the model must accept the smaller images
    requires=("images2d", "resizable_images"),
    params=(
        Param("initial_scale", 0.5, low=0.25, high=0.9, help="image side at the start, as a fraction of the full side"),
        # delay + finetune stays below 1 for any sampled pair, so the ramp never has zero length
        Param("delay_fraction", 0.5, low=0.0, high=0.6, help="fraction of the budget trained at initial_scale"),
        Param("finetune_fraction", 0.2, low=0.0, high=0.35, help="last fraction of the budget trained at full size"),
        Param("mode", "resize", choices=("resize", "crop"), help="shrink by nearest-neighbour resizing or by a random crop"),
        Param("size_increment", 1, low=1, high=8, help="image sides are rounded to a multiple of this many pixels"),
    ),
)
def progressive_resizing(
    initial_scale: float, delay_fraction: float, finetune_fraction: float, mode: str, size_increment: int
) -> ProgressiveResizing:
    return ProgressiveResizing(mode=mode, initial_scale=initial_scale, delay_fraction=delay_fraction,
                               finetune_fraction=finetune_fraction, size_increment=size_increment)
