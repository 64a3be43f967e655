"""Sequence-length warm-up: train on truncated windows first, growing them to full length (Composer's)."""

import math
from typing import Optional

from composer.algorithms import SeqLengthWarmup as ComposerSeqLengthWarmup
from composer.algorithms.seq_length_warmup import set_batch_sequence_length
from composer.core import Event, State
from composer.loggers import Logger

from trickstack.core.params import Param
from trickstack.tricks.registry import Citation, register_trick


def warmup_length(elapsed: float, duration: float, min_length: int, step: int, full: int) -> int:
    """Sequence length at ``elapsed`` (fraction of the budget): Composer's staircase, read from the budget.

    From ``min_length`` it grows by ``step`` tokens in equal parts of the first ``duration`` of the
    budget, then stays at ``full``; never longer than ``full``.

    >>> [warmup_length(t, 0.3, 8, 8, 64) for t in (0.0, 0.05, 0.1, 0.2, 0.29, 0.3, 1.0)]
    [8, 16, 24, 40, 56, 64, 64]
    """
    if elapsed >= duration:
        return full
    updates = (full - min_length) // step  # increments until full length, as Composer counts them
    return min(full, min_length + step * math.floor(elapsed / duration * updates))


class SeqLengthWarmup(ComposerSeqLengthWarmup):
    """Composer's SeqLengthWarmup for any model fed ``(inputs, targets)`` token batches, with a cost key.

    Composer's own `apply` accepts only a `HuggingFaceModel` with dict batches, and reads the
    schedule from a step count; this one cuts both tensors of a tuple batch with Composer's
    `set_batch_sequence_length` and reads the schedule live from the elapsed budget. The full
    length (``max_seq_length``) is the training windows' own, read from the first batch. It skips
    Composer's dummy forward-backward pass, which only pre-allocates GPU memory and would be counted
    as training FLOPs here.
    """

    def __init__(self, duration: float, min_seq_length: int, step_size: int, truncate: bool):
        # max_seq_length is set from the first batch; min_seq_length is only a placeholder for the check.
        super().__init__(duration=duration, min_seq_length=min_seq_length, max_seq_length=min_seq_length,
                         step_size=step_size, truncate=truncate)
        self.max_seq_length: Optional[int] = None

    def _length(self, state: State) -> int:
        elapsed = state.get_elapsed_duration()
        return warmup_length(float(elapsed) if elapsed is not None else 0.0, self.duration, self.min_seq_length,
                             self.step_size, self.max_seq_length)

    def cost_key(self, state: State) -> Optional[int]:
        # A step's FLOPs follow the sequence length. Before the first batch the full length is unknown:
        # that step gets the key None, which no later step shares.
        return None if self.max_seq_length is None else self._length(state)

    def match(self, event: Event, state: State) -> bool:
        return event == Event.AFTER_DATALOADER

    def apply(self, event: Event, state: State, logger: Logger) -> None:
        inputs, targets = state.batch
        if self.max_seq_length is None:
            self.max_seq_length = int(inputs.shape[1])
        # Composer reshapes by the "input_ids" key (truncate=False), with .view: contiguous tensors.
        batch = {"input_ids": inputs.contiguous(), "labels": targets.contiguous()}
        cut = set_batch_sequence_length(batch, self._length(state), self.truncate)
        state.batch = (cut["input_ids"], cut["labels"])


@register_trick(
    name="seq_length_warmup",
    year=2022,
    summary="Train on shorter sequences early on, growing them to full length",
    citation=Citation(
        "The Stability-Efficiency Dilemma: Investigating Sequence Length Warmup for Training GPT Models (Li et al.)",
        "https://arxiv.org/abs/2108.06084",
    ),
    domains=("language",),
    changes=("data",),
    requires=("causal_lm",),  # (N, T) token windows whose targets align position by position
    params=(
        Param("duration", 0.3, low=0.05, high=0.9, help="fraction of the budget over which the length grows"),
        Param("min_seq_length", 8, low=2, high=32, log=True, help="tokens per sequence at the start"),
        Param("step_size", 8, low=1, high=16, log=True, help="tokens added at each increase"),
        Param("truncate", True, help="cut each window (fewer tokens per step) instead of reshaping it into more, "
                                     "shorter rows (same tokens per step)"),
    ),
)
def seq_length_warmup(duration: float, min_seq_length: int, step_size: int, truncate: bool) -> SeqLengthWarmup:
    return SeqLengthWarmup(duration=duration, min_seq_length=min_seq_length, step_size=step_size, truncate=truncate)
