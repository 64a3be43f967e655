"""CIFAR-10 through Hugging Face ``datasets``, converted once to uint8 tensors, and airbench's training augmentation.

Source. ``datasets.load_dataset("uoft-cs/cifar10")`` (the Hub copy of Krizhevsky's set: a ``train``
split of 50,000 and a ``test`` split of 10,000 32x32 RGB images, columns ``img`` (PIL image) and
``label`` (ClassLabel of the ten names in `CLASSES`)). ``$TRICKSTACK_CIFAR10`` points at local data
instead: a directory written by ``DatasetDict.save_to_disk`` or a clone of the Hub repository (its
parquet files), read without the network. When neither works (no network, no local copy), loading
raises one `UserError` naming the dataset and the two ways to get it.

Cache. The decoded images are kept as one file per source under ``<cache>/cifar10/`` (``<cache>``:
``$TRICKSTACK_CACHE``, default ``~/.cache/trickstack``): uint8 (N, 3, 32, 32) images, int64 labels and
the sha256 of both, written atomically and checked when read, so a later run skips the decoding and a
damaged file is decoded again instead of trusted.

Augmentation (`AugmentedBatches`). airbench94's training augmentation, done on the CPU in the loader
from a generator seeded by the trial's seed (so every arm of a study sees the same crops): each image
is reflect-padded by `TRANSLATE` pixels and cropped back to 32x32 at a random offset, then flipped
left-right. ``flip="random"``: each image with probability 1/2 at every step (the baseline).
``flip="alternating"`` (the ``alternating_flip`` trick): image i is flipped in epoch e when
``r_i XOR (e mod 2)``, r_i drawn once per image, as airbench does (each image is seen both ways in
every two epochs instead of at random).

>>> x = torch.arange(2 * 3 * 4 * 4, dtype=torch.float32).view(2, 3, 4, 4)
>>> crop(x, torch.zeros(2, 2, dtype=torch.long), pad=1).equal(x)  # offset 0 is the original image
True
>>> crop(x, torch.tensor([[1, 1], [-1, 0]]), pad=1)[0, 0, 0].tolist()  # a window one pixel lower and righter
[5.0, 6.0, 7.0, 6.0]
"""

from __future__ import annotations

import functools
import hashlib
import os
import pickle
import tempfile
from pathlib import Path
from typing import Any, Optional

import numpy as np
import torch
import torch.nn.functional as F

from trickstack.core.errors import UserError
from trickstack.workloads.data import TensorBatches, cache_dir

HUB_NAME = "uoft-cs/cifar10"  # the Hugging Face Hub dataset
DATA_ENV = "TRICKSTACK_CIFAR10"  # a local copy: a save_to_disk directory or a clone of the Hub repository
CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
SIDE = 32  # pixels per image side
# Per-channel mean and standard deviation of the training images, as airbench94 normalises them.
MEAN = (0.4914, 0.4822, 0.4465)
STD = (0.2470, 0.2435, 0.2616)
TRANSLATE = 2  # pixels of reflect padding for the random crop (airbench94: hyp['aug']['translate'])
FLIPS = ("random", "alternating")
HOW_TO_GET = (f"on a machine with network access it is downloaded by datasets.load_dataset({HUB_NAME!r}); "
              f"offline, save it there with load_dataset({HUB_NAME!r}).save_to_disk(DIR) (or clone "
              f"https://huggingface.co/datasets/{HUB_NAME}) and set {DATA_ENV}=DIR")


def _load_dataset(*args: Any, **kwargs: Any):
    """The network boundary (tests replace it): ``datasets.load_dataset``."""
    import datasets

    return datasets.load_dataset(*args, **kwargs)


def _load_from_disk(path: str):
    import datasets

    return datasets.load_from_disk(path)


def source() -> str:
    """Where the data comes from: the local directory of ``$TRICKSTACK_CIFAR10``, else the Hub name."""
    local = os.environ.get(DATA_ENV)
    return str(Path(local).expanduser().resolve()) if local else HUB_NAME


def open_dataset(where: str):
    """The ``DatasetDict`` at ``where`` (a directory or the Hub name); a `UserError` naming it when it cannot."""
    path = Path(where)
    if where != HUB_NAME and not path.is_dir():
        raise UserError(f"cifar10: {DATA_ENV}={where} is not a directory; {HOW_TO_GET}")
    try:
        if (path / "dataset_dict.json").is_file():
            return _load_from_disk(where)
        return _load_dataset(where, cache_dir=str(cache_dir() / "hf-datasets"))
    except Exception as error:  # offline: ConnectionError, OSError, DatasetNotFoundError, huggingface_hub errors
        why = f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}".rstrip(": ")
        raise UserError(f"cifar10: cannot load the CIFAR-10 data from {where} ({why}); {HOW_TO_GET}") from error


def convert(split: Any, name: str) -> tuple[torch.Tensor, torch.Tensor]:
    """One split (columns ``img`` and ``label``) as uint8 images (N, 3, 32, 32) and int64 labels."""
    missing = {"img", "label"} - set(split.column_names)
    if missing:
        raise UserError(f"cifar10: the {name} split has no column {', '.join(sorted(missing))} "
                        f"(it has {', '.join(split.column_names)}); expected the format of {HUB_NAME}")
    images = np.stack([np.asarray(img.convert("RGB"), dtype=np.uint8) for img in split["img"]]) if len(split) else None
    if images is None or images.shape[1:] != (SIDE, SIDE, 3):
        shape = "no images" if images is None else f"images of shape {images.shape[1:]}"
        raise UserError(f"cifar10: the {name} split has {shape}, not {SIDE}x{SIDE} RGB images")
    labels = torch.tensor(split["label"], dtype=torch.long)
    if labels.min() < 0 or labels.max() >= len(CLASSES):
        raise UserError(f"cifar10: the {name} split has labels outside 0..{len(CLASSES) - 1}")
    return torch.from_numpy(images).permute(0, 3, 1, 2).contiguous(), labels


def _digest(images: torch.Tensor, labels: torch.Tensor) -> str:
    digest = hashlib.sha256(images.contiguous().numpy())  # the array's own buffer: no copy of its bytes
    digest.update(labels.contiguous().numpy())
    return digest.hexdigest()


def cache_file(where: str) -> Path:
    """The converted tensors of source ``where``: ``<cache>/cifar10/<source digest>.pt``. For a local directory
    the digest covers each file's name, size and modification time, so a copy replaced in place is converted
    again, not read back from the conversion of the old one."""
    key = where
    if where != HUB_NAME and Path(where).is_dir():
        files = sorted(p for p in Path(where).rglob("*") if p.is_file())
        key += "".join(f"\n{p.relative_to(where)} {p.stat().st_size} {p.stat().st_mtime_ns}" for p in files)
    return cache_dir() / "cifar10" / f"{hashlib.sha256(key.encode()).hexdigest()[:16]}.pt"


def _read_cache(path: Path) -> Optional[dict[str, tuple[torch.Tensor, torch.Tensor]]]:
    try:
        stored = torch.load(path, weights_only=True)
        splits = {name: (stored[f"{name}_images"], stored[f"{name}_labels"]) for name in ("train", "test")}
        if all(stored[f"{name}_sha256"] == _digest(*pair) for name, pair in splits.items()):
            return splits
    except (OSError, KeyError, RuntimeError, EOFError, ValueError, pickle.UnpicklingError):
        pass
    return None  # missing or damaged: decoded again


def _write_cache(path: Path, splits: dict[str, tuple[torch.Tensor, torch.Tensor]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    stored: dict[str, Any] = {}
    for name, (images, labels) in splits.items():
        stored.update({f"{name}_images": images, f"{name}_labels": labels, f"{name}_sha256": _digest(images, labels)})
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    os.close(handle)
    try:
        torch.save(stored, temporary)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


@functools.lru_cache(maxsize=2)
def _uint8(where: str) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    path = cache_file(where)
    cached = _read_cache(path) if path.is_file() else None
    if cached is not None:
        return cached
    dataset = open_dataset(where)
    if not {"train", "test"} <= set(dataset):
        raise UserError(f"cifar10: {where} has splits {', '.join(dataset)}; expected train and test")
    splits = {name: convert(dataset[name], name) for name in ("train", "test")}
    _write_cache(path, splits)
    return splits


def uint8_splits() -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """``{"train": (images, labels), "test": (...)}``: uint8 (N, 3, 32, 32) and int64, from the cache or converted now."""
    return _uint8(source())


def normalise(images: torch.Tensor) -> torch.Tensor:
    """uint8 images -> float32, each channel shifted and scaled by `MEAN` and `STD`."""
    mean = torch.tensor(MEAN).view(1, 3, 1, 1)
    std = torch.tensor(STD).view(1, 3, 1, 1)
    return (images.float() / 255 - mean) / std


def crop(images: torch.Tensor, shifts: torch.Tensor, pad: int = TRANSLATE) -> torch.Tensor:
    """Each image reflect-padded by ``pad`` and cropped back at offset ``shifts[i] = (dy, dx)`` in [-pad, pad]:
    one slice copy per distinct offset (at most (2 pad + 1)^2), not a gather of every pixel.

    >>> x = torch.arange(2 * 4 * 4.).view(2, 1, 4, 4)
    >>> crop(x, torch.tensor([[0, 0], [1, -1]]), pad=1)[1, 0].tolist()
    [[21.0, 20.0, 21.0, 22.0], [25.0, 24.0, 25.0, 26.0], [29.0, 28.0, 29.0, 30.0], [25.0, 24.0, 25.0, 26.0]]
    """
    h, w = images.shape[-2:]
    padded = F.pad(images, (pad,) * 4, mode="reflect")
    out = torch.empty_like(images)
    side = 2 * pad + 1
    offsets = (shifts[:, 0] + pad) * side + (shifts[:, 1] + pad)
    for offset in offsets.unique().tolist():
        dy, dx = divmod(offset, side)
        which = (offsets == offset).nonzero().squeeze(1)
        out[which] = padded[which, :, dy:dy + h, dx:dx + w]
    return out


class AugmentedBatches(TensorBatches):
    """Whole batches of (images, labels), each image randomly translated and flipped (see the module doc).

    ``flip`` is ``"random"`` or ``"alternating"``; a trick may switch it before the first batch. Epochs are
    counted from the samples served (the loader drops the last partial batch, as the runner's does).
    """

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, seed: int, flip: str = "random"):
        super().__init__((images, labels))
        self.flip = flip
        # Streams of their own, apart from the loader's order (seeded with ``seed`` itself) and from each other,
        # so that the crops of a seed are the same whichever flip mode a trick chooses.
        self.crops = torch.Generator().manual_seed(4 * seed + 1)
        self.flips = torch.Generator().manual_seed(4 * seed + 2)
        self.first_flip = torch.rand(len(images), generator=torch.Generator().manual_seed(4 * seed + 3)) < 0.5
        self.served = 0

    def flip_mask(self, index: torch.Tensor, epoch: int) -> torch.Tensor:
        """Which of the images ``index`` are mirrored in ``epoch`` (random mode: a fresh draw at each call)."""
        if self.flip == "random":
            return torch.rand(len(index), generator=self.flips) < 0.5
        if self.flip == "alternating":
            return self.first_flip[index] ^ bool(epoch % 2)
        raise UserError(f"cifar10: flip must be one of {', '.join(FLIPS)}, got {self.flip!r}")

    def __getitem__(self, indices: list[int]) -> tuple[torch.Tensor, ...]:
        index = torch.as_tensor(indices)
        images, labels = (t[index] for t in self.tensors)
        epoch = self.served // ((len(self) // len(index)) * len(index))
        self.served += len(index)
        shifts = torch.randint(-TRANSLATE, TRANSLATE + 1, (len(index), 2), generator=self.crops)
        flip = self.flip_mask(index, epoch)
        images = crop(images, shifts)
        images[flip] = images[flip].flip(-1)  # only the mirrored ones
        return images, labels
