"""In-memory tensors, batched by index.

Every workload keeps its data as a few tensors in memory and serves a batch as one indexing
operation (``x[idx]``), never by collating items one by one. Data order comes from a generator
seeded by the trial's seed alone, so seed *i* sees the same batches in every arm of a study.

>>> import torch
>>> loader = batched_loader((torch.arange(10.0), torch.arange(10)), batch_size=4, seed=0)
>>> len(loader), [tuple(b[1].shape) for b in loader]
(2, [(4,), (4,)])
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence, Union

import torch
from torch.utils.data import (
    BatchSampler,
    DataLoader,
    Dataset,
    RandomSampler,
    SequentialSampler,
)

from trickstack.core.errors import UserError
from trickstack.core.outputs import check_folder


class TensorBatches(Dataset):
    """A dataset whose items are whole batches: ``ds[list_of_indices]`` indexes every tensor once."""

    def __init__(self, tensors: Sequence[torch.Tensor]):
        lengths = {len(t) for t in tensors}
        if len(lengths) != 1:
            raise ValueError(f"tensors have different lengths: {sorted(lengths)}")
        self.tensors = tuple(tensors)

    def __len__(self) -> int:
        return len(self.tensors[0])

    def __getitem__(self, indices: list[int]) -> tuple[torch.Tensor, ...]:
        index = torch.as_tensor(indices)
        return tuple(t[index] for t in self.tensors)


def batched_loader(
    tensors: Union[Sequence[torch.Tensor], Dataset], batch_size: int, seed: Optional[int] = None, drop_last: bool = True
) -> DataLoader:
    """A DataLoader over whole batches; shuffled by a generator seeded with ``seed`` (None: in order).

    ``tensors`` are indexed together (`TensorBatches`), or are already a Dataset indexed by a list of indices."""
    dataset = tensors if isinstance(tensors, Dataset) else TensorBatches(tensors)
    if seed is None:
        sampler = SequentialSampler(dataset)
    else:
        sampler = RandomSampler(dataset, generator=torch.Generator().manual_seed(seed))
    batches = BatchSampler(sampler, batch_size=batch_size, drop_last=drop_last)
    return DataLoader(dataset, sampler=batches, batch_size=None, num_workers=0)


@dataclass(frozen=True)
class Splits:
    """A workload's data: train and eval inputs and targets as in-memory tensors."""

    train_x: torch.Tensor
    train_y: torch.Tensor
    eval_x: torch.Tensor
    eval_y: torch.Tensor


CACHE_ENV = "TRICKSTACK_CACHE"


def cache_dir() -> Path:
    """Where generated datasets are cached: ``$TRICKSTACK_CACHE`` or ``~/.cache/trickstack``, checked to be a
    folder (or one that can be made) where files can be written; otherwise a `UserError` naming the variable."""
    explicit = os.environ.get(CACHE_ENV)
    folder = Path(explicit).expanduser() if explicit else Path.home() / ".cache" / "trickstack"
    try:
        return check_folder(folder, what="cache folder")
    except UserError as error:
        raise UserError(f"{CACHE_ENV}: {error}; point {CACHE_ENV} at a writable folder (datasets are cached there)"
                        if explicit else f"{error}; set {CACHE_ENV} to a writable folder for the datasets' cache") from None
