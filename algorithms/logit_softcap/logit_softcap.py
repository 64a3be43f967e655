"""Logit soft-capping (Gemma 2, Team Gemma 2024): squash the final logits smoothly into (-cap, cap).

Gemma 2 caps the final-layer logits at 30 (and attention logits at 50) with ``cap · tanh(x / cap)``:
near zero it is the identity, far out it saturates, so no logit can grow without bound. It is part
of the model, applied in training and at inference alike.

Which layer produces the logits is named by the network itself: a workload providing the
``logits`` capability gives its network (some module inside the Composer model) an attribute
``output_layer``, the name of the child module whose output is the logits (``"linear"`` for the
CNN classifiers, ``"lm_head"`` for the char GPT). The cap is attached *to* that layer, as a child
module `SoftCap` applied to its output by a forward hook, rather than by wrapping the layer: the
layer stays where it was with the same parameters under the same names, so whatever recorded
parameters by name before (EMA, at INIT) or looks the layer up later (untied_embeddings) still
finds it.
"""

from __future__ import annotations

import torch
from composer.core import Algorithm, Event, State
from composer.loggers import Logger
from torch import nn

from trickstack.core.errors import UserError

OUTPUT_LAYER_ATTR = "output_layer"  # the contract: the name of the child module producing the logits
CHILD = "logit_softcap"  # name of the SoftCap module attached to the output layer


def soft_cap(logits: torch.Tensor, cap: float) -> torch.Tensor:
    """``cap · tanh(logits / cap)``: odd, about the identity for ``|x| ≪ cap``, bounded by ``cap``.

    >>> [round(v, 3) for v in soft_cap(torch.tensor([0.1, -0.1, 30.0, 1000.0]), 30.0).tolist()]
    [0.1, -0.1, 22.848, 30.0]
    """
    return cap * torch.tanh(logits / cap)


class SoftCap(nn.Module):
    """`soft_cap` as a module (no parameters)."""

    def __init__(self, cap: float):
        super().__init__()
        self.cap = cap  # bound on every logit, in the logits' own units

    def forward(self, logits: torch.Tensor) -> torch.Tensor:
        return soft_cap(logits, self.cap)

    def extra_repr(self) -> str:
        return f"cap={self.cap}"


def _cap_output(layer: nn.Module, args, output: torch.Tensor) -> torch.Tensor:
    # A module-level function, so the hook survives deepcopy (SWA) and pickling.
    return getattr(layer, CHILD)(output)


def output_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The ``(qualified name, layer)`` of every output layer named by an ``output_layer`` attribute in ``model``."""
    found = []
    for qualified, module in model.named_modules():
        name = getattr(module, OUTPUT_LAYER_ATTR, None)
        if not isinstance(name, str):
            continue
        layer = getattr(module, name, None)
        if not isinstance(layer, nn.Module):
            raise UserError(f"{type(module).__name__}.{OUTPUT_LAYER_ATTR} names {name!r}, which is not a child module")
        found.append((f"{qualified}.{name}" if qualified else name, layer))
    if not found:
        raise UserError(
            f"logit_softcap: no module of {type(model).__name__} names its output layer in an "
            f"'{OUTPUT_LAYER_ATTR}' attribute (the contract of the 'logits' capability)"
        )
    return found


def apply_soft_cap(model: nn.Module, cap: float) -> list[str]:
    """Soft-cap, in place, the output of every output layer of ``model``; return their qualified names.

    >>> net = nn.Sequential(); net.add_module("head", nn.Linear(2, 2)); net.output_layer = "head"
    >>> apply_soft_cap(net, 0.5), bool(net(torch.full((1, 2), 100.0)).abs().max() <= 0.5)
    (['head'], True)
    """
    names = []
    for name, layer in output_layers(model):
        if hasattr(layer, CHILD):
            raise UserError(f"logit_softcap: {name} is soft-capped already")
        layer.add_module(CHILD, SoftCap(cap))
        layer.register_forward_hook(_cap_output)
        names.append(name)
    return names


class LogitSoftCap(Algorithm):
    """At INIT, attaches `SoftCap` to the model's output layer: its logits become ``cap · tanh(logits / cap)``.

    INIT comes before the first forward pass and before SWA copies the model, so training, every
    copy and evaluation all see capped logits. At FIT_START it checks that the cap is still there
    (a later surgery replacing the output layer would drop it silently otherwise).
    """

    def __init__(self, cap: float = 30.0):
        if not cap > 0:
            raise UserError(f"logit_softcap.cap must be positive, got {cap}")
        self.cap = cap

    def match(self, event: Event, state: State) -> bool:
        return event in (Event.INIT, Event.FIT_START)

    def apply(self, event: Event, state: State, logger: Logger) -> None:
        if event == Event.INIT:
            apply_soft_cap(state.model, self.cap)
            return
        lost = [name for name, layer in output_layers(state.model) if not isinstance(getattr(layer, CHILD, None), SoftCap)]
        if lost:
            raise UserError(f"logit_softcap: another trick replaced the output layer {', '.join(lost)} after the cap "
                            "was attached")
