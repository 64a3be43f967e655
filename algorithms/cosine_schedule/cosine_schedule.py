"""Cosine decay of the learning rate to a fraction ``alpha_f`` of its peak over the budget (Loshchilov & Hutter).

Replaces the workload's base schedule; other tricks (warm-up) multiply on top of it.
"""

from __future__ import annotations

import math

from composer.core import Algorithm, Event, State
from composer.loggers import Logger
from composer.optim import compile_composer_scheduler


def cosine_multiplier(progress: float, alpha_f: float) -> float:
    """Learning-rate multiplier once ``progress`` of training (clipped to 0..1) is done: 1 down to ``alpha_f``.

    >>> [round(cosine_multiplier(p, 0.1), 3) for p in (0.0, 0.5, 1.0, 1.5)]
    [1.0, 0.55, 0.1, 0.1]
    """
    progress = min(max(progress, 0.0), 1.0)
    return alpha_f + (1.0 - alpha_f) * 0.5 * (1.0 + math.cos(math.pi * progress))


class CosineSchedule(Algorithm):
    """At FIT_START, replaces ``state.schedulers`` by a cosine schedule read live from the elapsed duration.

    The schedule is a Composer scheduler compiled to a LambdaLR, like the workload's own, so it is
    evaluated every step against the current ``max_duration`` that the budget controller keeps updating.
    It is the same curve as Composer's ``CosineAnnealingScheduler(t_max="1dur", alpha_f=alpha_f)``.
    """

    def __init__(self, alpha_f: float = 0.0):
        self.alpha_f = alpha_f  # final learning rate, as a fraction of the peak

    def match(self, event: Event, state: State) -> bool:
        return event == Event.FIT_START

    def apply(self, event: Event, state: State, logger: Logger) -> None:
        def schedule(state: State) -> float:
            return cosine_multiplier(state.get_elapsed_duration().value, self.alpha_f)

        state.schedulers = [compile_composer_scheduler(schedule, state)]
