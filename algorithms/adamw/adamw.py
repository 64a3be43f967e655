"""AdamW (Loshchilov & Hutter, 2017): weight decay taken out of the adaptive gradient step.

With Adam's coupled L2 penalty, ``lambda * w`` is added to the gradient and then divided by the
running RMS of the gradient, so weights with large gradients are barely regularised. AdamW shrinks
the weights directly instead: ``w <- w - lr * wd * w`` beside the Adam step (the paper's Algorithm 2).
"""

from __future__ import annotations

import torch
from composer.core import Algorithm, Event, State
from composer.loggers import Logger

from trickstack.tricks.optimizers import replace_optimizers, split_for_decay


def decoupled_decay(param: torch.Tensor, lr: float, weight_decay: float) -> torch.Tensor:
    """The decay step of AdamW: ``param * (1 - lr * weight_decay)``, independent of the gradient.

    ``lr`` is the step's learning rate (schedule included), so the decay follows the schedule as the
    paper's ``eta_t * lambda`` does. Two steps at lr 0.1 with weight decay 0.5 shrink by 5% each:

    >>> decoupled_decay(decoupled_decay(torch.tensor([1.0, -2.0]), 0.1, 0.5), 0.1, 0.5)
    tensor([ 0.9025, -1.8050])
    """
    return param * (1.0 - lr * weight_decay)


def adamw_from(optimizer: torch.optim.Optimizer, weight_decay: float) -> torch.optim.AdamW:
    """A ``torch.optim.AdamW`` over ``optimizer``'s parameters with its lr, betas and eps.

    The coupled L2 penalty of the old optimizer is dropped; decay-eligible parameters (matrices,
    kernels, embeddings) get decoupled decay ``weight_decay``, biases and gains none.
    """
    groups = [
        {"params": part.params, "lr": part.lr, "betas": part.betas, "eps": part.eps,
         "weight_decay": weight_decay if part.decay else 0.0}
        for part in split_for_decay(optimizer, owner="adamw")
    ]
    return torch.optim.AdamW(groups)


class AdamW(Algorithm):
    """Replaces the workload's optimizer by `adamw_from` at INIT, before the schedulers are bound."""

    def __init__(self, weight_decay: float = 0.1):
        self.weight_decay = weight_decay  # per unit of learning rate: each step shrinks by lr * weight_decay

    def match(self, event: Event, state: State) -> bool:
        return event == Event.INIT

    def apply(self, event: Event, state: State, logger: Logger) -> None:
        replace_optimizers(state, lambda optimizer: adamw_from(optimizer, self.weight_decay))
