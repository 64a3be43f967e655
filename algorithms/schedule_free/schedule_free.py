"""Schedule-free AdamW (Defazio et al., 2024): no decaying schedule, evaluation at an averaged point.

Three sequences: ``z`` takes AdamW-like steps at a constant rate, ``x`` is a running weighted
average of the ``z``s, and gradients are taken at their interpolation ``y = (1 - beta) z + beta x``.
The model's weights hold ``y`` while training and ``x`` while evaluating. The optimizer is Meta's
``schedulefree.AdamWScheduleFree``; the tests hold it to the paper's Algorithm 1.
"""

from __future__ import annotations

import torch
from composer.core import Algorithm, Event, State, TimeUnit
from composer.loggers import Logger
from composer.optim import ConstantScheduler, compile_composer_scheduler
from schedulefree import AdamWScheduleFree

from trickstack.algorithms.lr_warmup.lr_warmup import warmup_multiplier
from trickstack.core.errors import UserError
from trickstack.tricks.optimizers import replace_optimizers, split_for_decay


def gradient_point(x: torch.Tensor, z: torch.Tensor, beta: float) -> torch.Tensor:
    """``y = (1 - beta) z + beta x``: where schedule-free takes its gradients (the weights while training).

    >>> gradient_point(torch.tensor([1.0]), torch.tensor([3.0]), 0.9)
    tensor([1.2000])
    """
    return (1.0 - beta) * z + beta * x


def averaged_point(y: torch.Tensor, z: torch.Tensor, beta: float) -> torch.Tensor:
    """``x = (y - (1 - beta) z) / beta``: the averaged point, evaluated, recovered from ``y`` and ``z``.

    Only ``y`` (the weights) and ``z`` (optimizer state) are stored; ``x`` is implied. Inverse of
    `gradient_point`:

    >>> averaged_point(torch.tensor([1.2]), torch.tensor([3.0]), 0.9)
    tensor([1.0000])
    """
    return (y - (1.0 - beta) * z) / beta


def schedule_free_from(optimizer: torch.optim.Optimizer, lr_ratio: float, beta: float, weight_decay: float) -> AdamWScheduleFree:
    """An ``AdamWScheduleFree`` over ``optimizer``'s parameters at ``lr_ratio`` times its lr, in train mode.

    Keeps the old optimizer's beta2 and eps; ``beta`` is the interpolation weight (the paper's beta1).
    Decay-eligible parameters get ``weight_decay`` (taken at ``y``, per unit of lr), biases and gains none.
    The warm-up is done on the learning rate by `ScheduleFree`, so the optimizer's own is off.
    """
    groups = [
        {"params": part.params, "lr": part.lr * lr_ratio, "betas": (beta, part.betas[1]), "eps": part.eps,
         "weight_decay": weight_decay if part.decay else 0.0}
        for part in split_for_decay(optimizer, owner="schedule_free")
    ]
    new = AdamWScheduleFree(groups, warmup_steps=0)
    new.train()  # its step refuses to run in eval mode
    return new


class ScheduleFree(Algorithm):
    """Installs schedule-free AdamW, a constant schedule with a linear warm-up, and evaluation at ``x``.

    - INIT: replaces the optimizer (`schedule_free_from`), before the schedulers are bound.
    - FIT_START: replaces ``state.schedulers`` by a constant one (the workload's decay is dropped).
    - BATCH_START: multiplies the learning rate by the warm-up factor, as `lr_warmup` does (the
      constant LambdaLR resets it after every step, so it never accumulates).
    - EVAL_START / EVAL_END: ``optimizer.eval()`` puts ``x`` in the weights, ``optimizer.train()`` puts
      ``y`` back while training continues. FIT_END leaves ``x`` in place: the trained model is ``x``.
    """

    def __init__(self, lr_ratio: float = 1.0, beta: float = 0.9, warmup: float = 0.05, weight_decay: float = 0.0):
        self.lr_ratio = lr_ratio  # schedule-free lr / the workload's lr
        self.beta = beta  # interpolation weight of x in y
        self.warmup = warmup  # fraction of the budget's steps
        self.weight_decay = weight_decay  # per unit of lr
        self._optimizers: list[AdamWScheduleFree] = []
        self._training = False

    def match(self, event: Event, state: State) -> bool:
        return event in (Event.INIT, Event.FIT_START, Event.BATCH_START, Event.EVAL_START, Event.EVAL_END, Event.FIT_END)

    def apply(self, event: Event, state: State, logger: Logger) -> None:
        if event == Event.INIT:
            self._optimizers = replace_optimizers(
                state, lambda o: schedule_free_from(o, self.lr_ratio, self.beta, self.weight_decay))
        elif event == Event.FIT_START:
            if state.max_duration is None or state.max_duration.unit != TimeUnit.BATCH:
                raise UserError(f"schedule_free warms up over a fraction of max_duration in batches, got {state.max_duration}")
            state.schedulers = [compile_composer_scheduler(ConstantScheduler(), state)]
            self._training = True
            self._switch(train=True)
        elif event == Event.BATCH_START:
            # Progress at the end of this step, so step 0 trains at a small non-zero rate; max_duration
            # is read live (the budget controller resets it after every step).
            multiplier = warmup_multiplier((int(state.timestamp.batch) + 1) / int(state.max_duration.value), self.warmup)
            for optimizer in self._optimizers:
                for group in optimizer.param_groups:
                    group["lr"] *= multiplier
        elif event == Event.EVAL_START:
            self._switch(train=False)
        elif event == Event.EVAL_END:
            self._switch(train=self._training)
        else:  # FIT_END
            self._training = False
            self._switch(train=False)

    def _switch(self, train: bool) -> None:
        for optimizer in self._optimizers:  # both are no-ops when the optimizer is already in that mode
            if train:
                optimizer.train()
            else:
                optimizer.eval()
