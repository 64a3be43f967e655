"""Module surgery at Event.INIT on networks following the ``gpt_blocks`` contract.

The contract (slot names and shapes) is documented in `trickstack.workloads.shakespeare_char`.
The runner builds the optimizer from the original parameters before the `Trainer` exists, and
INIT fires after that but before the schedulers are bound and before any step, so a trick that
adds or removes parameters must keep the optimizer in step. Composer's
`composer.utils.module_surgery.update_params_in_optimizer` refuses to add parameters when nothing
is removed and the optimizer has several groups (ours has two: matrices with weight decay, gains
without), so `update_optimizers` places each new parameter beside a parameter of the same kind:
the one of the same shape rank it replaces, or one named by the trick (``like``).

A new parameter's random initialisation comes from `trick_generator`, a stream of its own derived
from the run's seed and the trick's name, so it does not depend on which other tricks ran before.

>>> from torch import nn
>>> net = nn.Sequential(nn.Linear(2, 2), nn.LayerNorm(2))
>>> opt = torch.optim.AdamW([{"params": [net[0].weight]}, {"params": [net[0].bias, net[1].weight, net[1].bias]}])
>>> old = swap_module(net, "1", nn.RMSNorm(2), [opt])
>>> [len(g["params"]) for g in opt.param_groups]  # the LayerNorm's weight and bias out, the RMSNorm's weight in
[1, 2]
"""

from __future__ import annotations

import zlib
from typing import Iterable, Optional, Sequence

import torch
from composer.utils import ensure_tuple
from torch import nn

from trickstack.core.errors import UserError

GPT_BLOCKS = "gpt_blocks"  # the capability a workload provides when its network follows the contract
_GPT_SLOTS = ("wte", "wpe", "blocks", "ln_f", "lm_head")


def find_gpt(model: nn.Module, trick: str) -> nn.Module:
    """The first module inside ``model`` with the contract's slots (``wte``, ``wpe``, ``blocks``, ...)."""
    for module in model.modules():
        if all(hasattr(module, slot) for slot in _GPT_SLOTS):
            return module
    raise UserError(
        f"{trick}: the model has no module with {', '.join(_GPT_SLOTS)}; this trick needs a network "
        f"following the {GPT_BLOCKS} contract (see trickstack.workloads.shakespeare_char)"
    )


def trick_generator(seed: int, trick: str) -> torch.Generator:
    """A random stream for ``trick``'s new parameters: a function of the seed and the trick's name."""
    return torch.Generator().manual_seed((seed * 1_000_003 + zlib.crc32(trick.encode())) % 2**63)


def _holds(group: dict, p: torch.Tensor) -> bool:
    return any(q is p for q in group["params"])


def update_optimizers(
    optimizers: Optional[Sequence[torch.optim.Optimizer]],
    removed: Iterable[nn.Parameter],
    added: Iterable[nn.Parameter],
    like: Optional[nn.Parameter] = None,
) -> None:
    """Take ``removed`` out of every optimizer and put each of ``added`` in the group of a parameter of its kind.

    The group of a new parameter is that of ``like`` when given, else that of the first removed
    parameter with as many dimensions (a matrix replaces a matrix, a gain a gain). Parameters in
    both lists stay where they are. Groups are edited in place, so wrappers that share them
    (Lookahead) see the change.
    """
    removed, added = list(removed), list(added)
    gone = [p for p in removed if not any(p is q for q in added)]
    new = [p for p in added if not any(p is q for q in removed)]
    for optimizer in ensure_tuple(optimizers or ()):
        groups = optimizer.param_groups
        targets = []
        for p in new:
            templates = [like] if like is not None else [q for q in gone if q.dim() == p.dim()]
            group = next((g for t in templates for g in groups if _holds(g, t)), None)
            if group is None:
                raise UserError(
                    f"surgery: no optimizer group for a new parameter of shape {tuple(p.shape)} "
                    f"(no replaced parameter of the same kind{' and `like` is not in the optimizer' if like is not None else ''})"
                )
            targets.append(group)
        for group in groups:
            group["params"] = [q for q in group["params"] if not any(q is r for r in gone)]
        for p in gone:
            optimizer.state.pop(p, None)
        for p, group in zip(new, targets):
            group["params"].append(p)


def swap_module(
    parent: nn.Module, name: str, new: nn.Module,
    optimizers: Optional[Sequence[torch.optim.Optimizer]] = None, like: Optional[nn.Parameter] = None,
) -> nn.Module:
    """Replace the child ``name`` of ``parent`` by ``new`` (same device), update the optimizers, return the old child."""
    old = getattr(parent, name)
    device = next(old.parameters(), next(parent.parameters(), torch.empty(0))).device
    setattr(parent, name, new.to(device))
    update_optimizers(optimizers, old.parameters(), new.parameters(), like=like)
    return old
