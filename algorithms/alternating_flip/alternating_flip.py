"""Alternating flip: flip each training image in every other epoch instead of at random (airbench94).

With random flipping, an image can be seen the same way round for several epochs in a row; with
alternating flipping, image i is mirrored in epoch e when ``r_i XOR (e mod 2)`` (r_i drawn once), so every
two epochs show each image both ways. The augmentation itself belongs to the workload's loader
(`trickstack.workloads.cifar10_data.AugmentedBatches`, the ``flip_augment`` capability: the train loader's
dataset has a ``flip`` mode); this trick switches its mode to ``"alternating"`` before the first batch.

>>> from trickstack.workloads.cifar10_data import AugmentedBatches
>>> data = AugmentedBatches(torch.zeros(4, 3, 4, 4), torch.zeros(4, dtype=torch.long), seed=0)
>>> alternate(data).flip
'alternating'
"""

from __future__ import annotations

from typing import Any

import torch  # noqa: F401  (the doctest's namespace)
from composer.core import Algorithm, Event, State
from composer.loggers import Logger

from trickstack.core.errors import UserError

MODE = "alternating"


def alternate(dataset: Any) -> Any:
    """Switch ``dataset``'s flip mode to alternating; a `UserError` when it has none."""
    if not hasattr(dataset, "flip"):
        raise UserError("alternating_flip: the training data has no flip mode to switch (the flip_augment capability)")
    dataset.flip = MODE
    return dataset


class AlternatingFlip(Algorithm):
    """At FIT_START (the train loader exists, no batch has been drawn) switches its dataset to alternating flips."""

    def match(self, event: Event, state: State) -> bool:
        return event == Event.FIT_START

    def apply(self, event: Event, state: State, logger: Logger) -> None:
        alternate(getattr(state.train_dataloader, "dataset", None))
