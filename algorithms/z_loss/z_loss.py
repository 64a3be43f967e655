"""z-loss (PaLM, Chowdhery et al., 2022, §5): penalise ``log Z``, the log of the softmax normaliser.

PaLM adds ``1e-4 · log²Z`` per token to the cross-entropy "to encourage the softmax normalizer
log(Z) to stay close to 0", which it found to make training more stable. Cross-entropy itself does
not depend on a shift of all logits by the same constant; the z-loss pins that free direction.
"""

from __future__ import annotations

from typing import Optional

import torch
from composer.core import Algorithm, Event, State
from composer.loggers import Logger

from trickstack.core.errors import UserError

IGNORE_INDEX = -100  # torch's cross_entropy default: positions with this target are not scored


def z_loss(logits: torch.Tensor, coefficient: float = 1e-4, mask: Optional[torch.Tensor] = None) -> torch.Tensor:
    """``coefficient · mean(logsumexp(logits)²)`` over the positions kept by ``mask``.

    ``logits`` has the classes in its last dimension: (N, C) or (N, T, V). ``mask`` (boolean,
    ``logits.shape[:-1]``) keeps the positions that count; none kept gives 0.

    >>> round(float(z_loss(torch.tensor([[0.0, 0.0]]), 1.0)), 4)  # log Z = log 2
    0.4805
    >>> float(z_loss(torch.tensor([[0.0, 0.0]]), 1.0, mask=torch.tensor([False])))  # nothing scored
    0.0
    """
    log_z = torch.logsumexp(logits.float(), dim=-1)  # nats, one per position
    squared = log_z.square()
    if mask is not None:
        squared = squared[mask]
        if squared.numel() == 0:
            return logits.new_zeros(())
    return coefficient * squared.mean()


def target_mask(outputs: torch.Tensor, targets) -> Optional[torch.Tensor]:
    """The positions whose integer target is not `IGNORE_INDEX`, or None when every position counts.

    Only integer targets of shape ``outputs.shape[:-1]`` can mark positions; soft targets (e.g. during
    label smoothing's loss) cannot, and then every position counts.
    """
    if isinstance(targets, torch.Tensor) and not targets.is_floating_point() and targets.shape == outputs.shape[:-1]:
        return targets != IGNORE_INDEX
    return None


class ZLoss(Algorithm):
    """Adds `z_loss` of ``state.outputs`` to ``state.loss`` at AFTER_LOSS, before the backward pass.

    AFTER_LOSS fires on every forward-backward pass of a step (twice for SAM), so each pass's loss
    carries its own z-loss. The logged training loss includes it.
    """

    def __init__(self, coefficient: float = 1e-4):
        self.coefficient = coefficient  # weight of log²Z (nats²) relative to the cross-entropy (nats)

    def match(self, event: Event, state: State) -> bool:
        return event == Event.AFTER_LOSS

    def apply(self, event: Event, state: State, logger: Logger) -> None:
        outputs = state.outputs
        if not isinstance(outputs, torch.Tensor) or not isinstance(state.loss, torch.Tensor):
            raise UserError(
                "z_loss needs the model's outputs as one logits tensor and a tensor loss, got "
                f"{type(outputs).__name__} and {type(state.loss).__name__}"
            )
        targets = state.batch[1] if isinstance(state.batch, (tuple, list)) and len(state.batch) > 1 else None
        state.loss = state.loss + z_loss(outputs, self.coefficient, target_mask(outputs, targets))
