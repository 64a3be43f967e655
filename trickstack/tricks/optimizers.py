"""Shared by the tricks that replace the workload's optimizer (adamw, lion, muon, schedule_free).

They act at ``Event.INIT``, before the trainer binds the schedulers, and read the workload's
settings (learning rate, betas, eps) from the optimizer Composer holds then. Weight decay goes to
"decay-eligible" parameters only -- matrices, convolution kernels and embedding tables
(``dim >= 2``) -- never to biases or normalisation gains, as in nanoGPT and most recipes:

>>> import torch
>>> net = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.LayerNorm(2))
>>> parts = split_for_decay(torch.optim.Adam(net.parameters(), lr=0.01))
>>> [(len(part.params), part.decay, part.lr) for part in parts]
[(1, True, 0.01), (3, False, 0.01)]

Composer runs algorithms in the order it is given them (trickstack sorts a stack by name) and
Lookahead also acts at INIT, wrapping whatever optimizer it finds. `replace_optimizers` therefore
looks inside a Lookahead wrapper and rebuilds it around the replacement, so a stack with Lookahead
always ends up as Lookahead(new optimizer), whichever of the two ran first.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch_optimizer
from composer.core import State
from composer.utils import ensure_tuple

from trickstack.core.errors import UserError

# The capability of a workload whose optimizer is of the Adam family (its groups carry lr, betas and eps):
# the tricks that replace it require it (a workload trained with SGD, such as cifar10, does not provide it).
ADAM_OPTIMIZER = "adam_optimizer"


def decays(param: torch.Tensor) -> bool:
    """Whether weight decay applies to ``param``: matrices, kernels and embeddings, not biases or gains."""
    return param.dim() >= 2


@dataclass(frozen=True)
class GroupPart:
    """The decayed or the undecayed half of one of the workload's parameter groups, with its settings."""

    params: list
    lr: float  # the workload's learning rate for this group (before any schedule)
    betas: tuple[float, float]
    eps: float
    decay: bool  # all params here are decay-eligible (`decays`)


def split_for_decay(optimizer: torch.optim.Optimizer, owner: str = "this trick") -> list[GroupPart]:
    """Each parameter group of ``optimizer`` split into its decay-eligible and other parameters.

    The optimizer must be of the Adam family (its groups carry ``lr``, ``betas`` and ``eps``): the
    replacing tricks keep those, and their own learning rates are expressed relative to its ``lr``.
    """
    parts = []
    for group in optimizer.param_groups:
        missing = [key for key in ("lr", "betas", "eps") if key not in group]
        if missing:
            raise UserError(
                f"{owner} replaces an Adam-family optimizer and keeps its lr, betas and eps, but the workload's "
                f"{type(optimizer).__name__} has no {', '.join(missing)}"
            )
        for decay in (True, False):
            params = [p for p in group["params"] if decays(p) == decay]
            if params:
                betas = (float(group["betas"][0]), float(group["betas"][1]))
                parts.append(GroupPart(params, float(group["lr"]), betas, float(group["eps"]), decay))
    return parts


def replace_optimizers(
    state: State, build: Callable[[torch.optim.Optimizer], torch.optim.Optimizer]
) -> list[torch.optim.Optimizer]:
    """Set every optimizer in ``state.optimizers`` to ``build(optimizer)``; return the new optimizers.

    Call at INIT. A Lookahead wrapper found there (Lookahead ran first) is rebuilt with the same ``k``
    and ``alpha`` around ``build(inner)``: no step has been taken yet, so nothing is lost.
    """
    built, installed = [], []
    for optimizer in ensure_tuple(state.optimizers):
        if isinstance(optimizer, torch_optimizer.Lookahead):
            new = build(optimizer.optimizer)
            installed.append(type(optimizer)(new, k=optimizer.k, alpha=optimizer.alpha))
        else:
            new = build(optimizer)
            installed.append(new)
        built.append(new)
    state.optimizers = tuple(installed)
    return built
