"""Selective backprop: back-propagate only the hardest examples of each batch (Composer's)."""

from composer.algorithms import SelectiveBackprop as ComposerSelectiveBackprop
from composer.algorithms.selective_backprop import should_selective_backprop
from composer.core import State

from trickstack.core.params import Param
from trickstack.tricks.registry import Citation, register_trick


class SelectiveBackprop(ComposerSelectiveBackprop):
    """Composer's SelectiveBackprop with a cost key: a pruned step runs a selection pass and a smaller batch."""

    def cost_key(self, state: State) -> bool:
        # The same test Composer's `match` makes at AFTER_DATALOADER; nothing it reads (elapsed duration,
        # batch_in_epoch) changes between BEFORE_DATALOADER and AFTER_DATALOADER.
        elapsed = state.get_elapsed_duration()
        return self.keep < 1 and elapsed is not None and should_selective_backprop(
            float(elapsed), int(state.timestamp.batch_in_epoch), self.start, self.end, self.interrupt
        )


@register_trick(
    name="selective_backprop",
    year=2019,
    summary="Back-propagate only the examples of a batch with the highest loss",
    citation=Citation(
        "Accelerating Deep Learning by Focusing on the Biggest Losers (Jiang et al.)", "https://arxiv.org/abs/1910.00762"
    ),
    domains=("vision", "audio"),
    changes=("data", "targets"),  # the batch is pruned: fewer inputs and targets reach the forward pass
    requires=("classification",),  # ranks examples by the model's per-example loss (`reduction="none"`)
    params=(
        # start and end ranges do not overlap, so every sampled pair is a non-empty window
        Param("start", 0.5, low=0.0, high=0.5, help="fraction of the budget when pruning begins"),
        Param("end", 0.9, low=0.6, high=1.0, help="fraction of the budget when pruning stops"),
        Param("keep", 0.5, low=0.1, high=0.9, help="fraction of each batch back-propagated"),
        Param("interrupt", 2, low=0, high=10, help="every this many batches a full batch is used (0: never)"),
    ),
)
def selective_backprop(start: float, end: float, keep: float, interrupt: int) -> SelectiveBackprop:
    return SelectiveBackprop(start=start, end=end, keep=keep, interrupt=interrupt)
