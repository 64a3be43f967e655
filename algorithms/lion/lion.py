"""Lion (Chen et al., 2023): the sign of an interpolated momentum, with decoupled weight decay.

Every coordinate moves by exactly ``lr`` per step (plus decay), so Lion wants a learning rate 3-10x
smaller than AdamW's and a weight decay 3-10x larger, to keep ``lr * wd`` about the same. The
optimizer is lucidrains' ``lion_pytorch.Lion``; `lion_step` is the paper's update, which the tests
hold it to.
"""

from __future__ import annotations

import torch
from composer.core import Algorithm, Event, State
from composer.loggers import Logger
from lion_pytorch import Lion as LionOptimizer

from trickstack.tricks.optimizers import replace_optimizers, split_for_decay


def lion_step(
    param: torch.Tensor, grad: torch.Tensor, exp_avg: torch.Tensor,
    lr: float, beta1: float, beta2: float, weight_decay: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One Lion step (the paper's Algorithm 2) on tensors: returns the new parameter and momentum.

    ``u = sign(beta1 * m + (1 - beta1) * g)``, ``w <- w - lr * (u + weight_decay * w)``,
    ``m <- beta2 * m + (1 - beta2) * g``. Each coordinate moves by exactly ``lr`` (or 0 where the
    interpolation is 0), whatever the gradient's size:

    >>> w, m = lion_step(torch.ones(3), torch.tensor([0.5, -2.0, 0.0]), torch.zeros(3), 0.1, 0.9, 0.99, 0.0)
    >>> w
    tensor([0.9000, 1.1000, 1.0000])
    >>> m
    tensor([ 0.0050, -0.0200,  0.0000])
    """
    update = torch.sign(beta1 * exp_avg + (1.0 - beta1) * grad)
    new_param = param - lr * (update + weight_decay * param)
    return new_param, beta2 * exp_avg + (1.0 - beta2) * grad


def lion_from(
    optimizer: torch.optim.Optimizer, lr_ratio: float, beta1: float, beta2: float, weight_decay: float
) -> LionOptimizer:
    """A Lion over ``optimizer``'s parameters at ``lr_ratio`` times its learning rate.

    Decay-eligible parameters (matrices, kernels, embeddings) get decoupled decay ``weight_decay``,
    biases and gains none; the old optimizer's betas, eps and L2 penalty are not used.
    """
    groups = [
        {"params": part.params, "lr": part.lr * lr_ratio, "betas": (beta1, beta2),
         "weight_decay": weight_decay if part.decay else 0.0}
        for part in split_for_decay(optimizer, owner="lion")
    ]
    return LionOptimizer(groups)


class Lion(Algorithm):
    """Replaces the workload's optimizer by `lion_from` at INIT, before the schedulers are bound."""

    def __init__(self, lr_ratio: float = 0.2, beta1: float = 0.9, beta2: float = 0.99, weight_decay: float = 0.5):
        self.lr_ratio = lr_ratio  # Lion's lr / the workload's (Adam) lr
        self.beta1 = beta1  # weight of the momentum in the sign's argument
        self.beta2 = beta2  # decay of the momentum itself
        self.weight_decay = weight_decay  # per unit of Lion's lr

    def match(self, event: Event, state: State) -> bool:
        return event == Event.INIT

    def apply(self, event: Event, state: State, logger: Logger) -> None:
        replace_optimizers(state, lambda o: lion_from(o, self.lr_ratio, self.beta1, self.beta2, self.weight_decay))
