"""Lookahead (Zhang et al., 2019): every k steps, pull the weights part of the way back to a slow copy.

Wraps ``torch_optimizer.Lookahead`` (a Composer dependency) around the workload's optimizer, the way
Composer's SAM wraps it in ``state.optimizers``.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
import torch_optimizer
from composer.core import Algorithm, Event, State
from composer.loggers import Logger
from composer.utils import ensure_tuple


class LookaheadOptimizer(torch_optimizer.Lookahead):
    """``torch_optimizer.Lookahead`` made a complete torch ``Optimizer``.

    torch_optimizer 0.3 never calls ``Optimizer.__init__``, so the hook tables behind
    ``register_step_post_hook`` (used by trickstack's contract probe) and the state-dict hooks are
    missing; they are created here as ``Optimizer.__init__`` creates them (torch 2.6-2.7).
    """

    def __init__(self, optimizer: torch.optim.Optimizer, k: int, alpha: float):
        super().__init__(optimizer, k=k, alpha=alpha)
        for table in ("step_pre", "step_post", "state_dict_pre", "state_dict_post", "load_state_dict_pre",
                      "load_state_dict_post"):
            setattr(self, f"_optimizer_{table}_hooks", OrderedDict())
        self._patch_step_function()


def wrap_lookahead(optimizer: torch.optim.Optimizer, k: int = 5, alpha: float = 0.5) -> LookaheadOptimizer:
    """Wrap ``optimizer`` so that every ``k`` steps the weights become ``slow + alpha * (fast - slow)``.

    The slow copy is taken after the first step. With plain SGD, lr 1 and a gradient of -1 the fast
    weight climbs by 1 a step and is pulled halfway back every second step:

    >>> w = torch.nn.Parameter(torch.zeros(1))
    >>> opt = wrap_lookahead(torch.optim.SGD([w], lr=1.0), k=2, alpha=0.5)
    >>> trace = []
    >>> for _ in range(5):
    ...     w.grad = torch.tensor([-1.0]); _ = opt.step(); trace.append(w.item())
    >>> trace
    [1.0, 2.0, 2.0, 3.0, 3.0]
    """
    return LookaheadOptimizer(optimizer, k=k, alpha=alpha)


class Lookahead(Algorithm):
    """Wraps every optimizer in ``state.optimizers`` with `wrap_lookahead` at INIT.

    INIT comes before the trainer compiles the schedulers and before SAM wraps optimizers at
    AFTER_LOAD, so stacked with SAM the result is SAM(Lookahead(base)) whatever the list order.
    """

    def __init__(self, k: int = 5, alpha: float = 0.5):
        self.k = k  # fast steps between two synchronisations
        self.alpha = alpha  # fraction of the way from slow to fast weights kept at a synchronisation

    def match(self, event: Event, state: State) -> bool:
        return event == Event.INIT

    def apply(self, event: Event, state: State, logger: Logger) -> None:
        state.optimizers = tuple(wrap_lookahead(o, self.k, self.alpha) for o in ensure_tuple(state.optimizers))
