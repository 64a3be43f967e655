"""Logit soft-capping: squash the model's final logits into (-cap, cap) with cap · tanh(x / cap) (ours)."""

from trickstack.algorithms.logit_softcap.logit_softcap import (
    LogitSoftCap,
    SoftCap,
    apply_soft_cap,
    soft_cap,
)
from trickstack.core.params import Param
from trickstack.tricks.registry import Citation, register_trick

__all__ = ["LogitSoftCap", "SoftCap", "apply_soft_cap", "soft_cap"]


@register_trick(
    name="logit_softcap",
    year=2024,
    summary="Bound the final logits smoothly: cap · tanh(logits / cap), in training and evaluation",
    citation=Citation("Gemma 2: Improving Open Language Models at a Practical Size (Team Gemma)", "https://arxiv.org/abs/2408.00118"),
    domains=("vision", "language", "audio"),
    changes=("model",),  # the logits; the loss function is the workload's own (the contract checks it)
    requires=("logits",),
    params=(
        # Gemma 2's 30 bounds logits over a 256k vocabulary; these small models reach |logit| 30-90
        # within 1,500 steps, and a cap below ~3 limits the most confident prediction (see README).
        Param("cap", 15.0, low=3.0, high=50.0, log=True, help="bound on every logit (nats)"),
    ),
)
def logit_softcap(cap: float) -> LogitSoftCap:
    return LogitSoftCap(cap=cap)
