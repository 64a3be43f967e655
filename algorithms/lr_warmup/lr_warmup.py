"""Linear learning-rate warm-up over the first fraction of the budget (Goyal et al., 2017).

The warm-up multiplies whatever learning rate the base schedule set for the step, so it stacks with
any schedule (constant, cosine, ...) and does not depend on the order of the algorithm list.
"""

from __future__ import annotations

from composer.core import Algorithm, Event, State, TimeUnit
from composer.loggers import Logger


def warmup_multiplier(progress: float, fraction: float) -> float:
    """Learning-rate multiplier once ``progress`` of training (0 to 1) is done, for a warm-up of ``fraction``.

    Rises linearly from 0 to 1 over the first ``fraction`` of training, then stays at 1.

    >>> [warmup_multiplier(p, 0.1) for p in (0.025, 0.05, 0.1, 0.5)]
    [0.25, 0.5, 1.0, 1.0]
    >>> warmup_multiplier(0.01, 0.0)  # no warm-up
    1.0
    """
    return 1.0 if fraction <= 0 else min(1.0, progress / fraction)


class LRWarmup(Algorithm):
    """Scales every parameter group's learning rate by `warmup_multiplier` at the start of each step.

    Runs on BATCH_START, which comes once per step after the previous step's scheduler update (not on
    BEFORE_TRAIN_BATCH, which SAM's closure fires twice per step). The base schedule's LambdaLR sets
    ``lr = base_lr * factor(state)`` afresh every step, so the scaling never accumulates.
    """

    def __init__(self, fraction: float = 0.05):
        self.fraction = fraction  # of the budget's steps, as known at each step

    def match(self, event: Event, state: State) -> bool:
        return event in (Event.FIT_START, Event.BATCH_START)

    def apply(self, event: Event, state: State, logger: Logger) -> None:
        if event == Event.FIT_START:
            if not state.schedulers:
                raise ValueError("lr_warmup scales the learning rate a scheduler recomputes every step; there is no scheduler")
            if state.max_duration is None or state.max_duration.unit != TimeUnit.BATCH:
                raise ValueError(f"lr_warmup needs max_duration in batches, got {state.max_duration}")
            return
        # Progress at the end of this step, so step 0 trains at a small non-zero rate. max_duration is
        # read live: the budget controller resets it after every step.
        progress = (int(state.timestamp.batch) + 1) / int(state.max_duration.value)
        multiplier = warmup_multiplier(progress, self.fraction)
        for optimizer in state.optimizers:
            for group in optimizer.param_groups:
                group["lr"] *= multiplier
