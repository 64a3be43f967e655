"""Warm-up–stable–decay learning-rate schedule (Hu et al. 2024, MiniCPM; Hägele et al. 2024).

Linear warm-up over the first ``warmup`` of the budget, the peak rate until the last ``decay`` of
it, then a decay ("cooldown") to ``alpha_f`` of the peak, either linear or ``1 - sqrt``, which
Hägele et al. found to match or beat cosine. Replaces the workload's base schedule.
"""

from __future__ import annotations

import math

from composer.core import Algorithm, Event, State, TimeUnit
from composer.loggers import Logger
from torch.optim.lr_scheduler import LambdaLR

from trickstack.core.errors import UserError

SHAPES = ("linear", "1-sqrt")


def wsd_multiplier(progress: float, warmup: float, decay: float, alpha_f: float = 0.0, shape: str = "1-sqrt") -> float:
    """Learning-rate multiplier once ``progress`` (0 to 1, clipped) of training is done.

    ``progress / warmup`` during the warm-up, 1 in the stable phase and, with ``s`` the fraction of
    the decay done, ``alpha_f + (1 - alpha_f) · (1 - s)`` (linear) or ``· (1 - sqrt(s))`` (1-sqrt).

    >>> [round(wsd_multiplier(p, 0.1, 0.2, 0.0, "linear"), 3) for p in (0.05, 0.1, 0.5, 0.8, 0.9, 1.0)]
    [0.5, 1.0, 1.0, 1.0, 0.5, 0.0]
    >>> round(wsd_multiplier(0.85, 0.1, 0.2, 0.0, "1-sqrt"), 3)  # 1 - sqrt(1/4)
    0.5
    """
    if shape not in SHAPES:
        raise UserError(f"wsd.shape must be one of {', '.join(SHAPES)}, got {shape!r}")
    if warmup < 0 or decay < 0 or warmup + decay > 1:
        raise UserError(f"wsd: warmup ({warmup}) and decay ({decay}) must be non-negative fractions summing to at most 1")
    progress = min(max(progress, 0.0), 1.0)
    if progress < warmup:
        return progress / warmup
    decay_start = 1.0 - decay
    if progress <= decay_start:
        return 1.0
    done = (progress - decay_start) / decay  # fraction of the decay phase done, 0 to 1
    remaining = 1.0 - done if shape == "linear" else 1.0 - math.sqrt(done)
    return alpha_f + (1.0 - alpha_f) * remaining


class WSD(Algorithm):
    """At FIT_START, replaces ``state.schedulers`` by a warm-up–stable–decay `LambdaLR`.

    Step ``s`` (0-based) of ``T`` runs at ``wsd_multiplier((s + 0.5) / T)``: the multiplier at the
    middle of the step, so no step runs at a zero rate (neither the first, in the warm-up, nor the
    last, when ``alpha_f`` is 0). ``s`` is the LambdaLR's own count of scheduler steps (the trainer
    steps it once per batch); ``T`` is ``state.max_duration`` read at every step, because the
    budget controller keeps correcting it.
    """

    def __init__(self, warmup: float = 0.05, decay: float = 0.2, alpha_f: float = 0.0, shape: str = "1-sqrt"):
        wsd_multiplier(0.0, warmup, decay, alpha_f, shape)  # validates the arguments
        self.warmup = warmup  # fraction of the budget spent warming up
        self.decay = decay  # fraction of the budget, at its end, spent decaying
        self.alpha_f = alpha_f  # final learning rate, as a fraction of the peak
        self.shape = shape

    def match(self, event: Event, state: State) -> bool:
        return event == Event.FIT_START

    def apply(self, event: Event, state: State, logger: Logger) -> None:
        if state.max_duration is None or state.max_duration.unit != TimeUnit.BATCH:
            raise UserError(f"wsd needs max_duration in batches, got {state.max_duration}")
        if len(state.optimizers) != 1:
            raise UserError(f"wsd schedules one optimizer, got {len(state.optimizers)}")

        def factor(step: int) -> float:
            total = int(state.max_duration.value)  # steps in the budget, as currently projected
            return wsd_multiplier((step + 0.5) / total, self.warmup, self.decay, self.alpha_f, self.shape)

        # A new LambdaLR keeps each group's "initial_lr" (the peak, set by the workload's scheduler).
        state.schedulers = [LambdaLR(state.optimizers[0], factor)]
