"""Tiny Shakespeare, character level: a small GPT predicting the next character (nanoGPT's CPU run).

Data. ``tinyshakespeare.txt`` (1,115,394 characters, 65 distinct) goes through Hugging Face
``datasets`` (the ``text`` builder, one document). It is looked for in ``$TRICKSTACK_DATA_DIR``;
when that is unset, in ``shared/data`` beside the repository checkout (where this project's
machines keep it); when neither has it, ``datasets`` downloads it from karpathy/char-rnn. The first
90% of characters train, the last 10% validate (1,003,854 / 111,540), as in char-rnn and nanoGPT.

Samples. A training sample is any window of 64 characters and its shift by one
(``x = c[i:i+64]``, ``y = c[i+1:i+65]``) for every start ``i``: ``train_x``/``train_y`` are
``unfold`` views of the one text tensor, so the ~1M windows cost no memory and a batch copies
only its own rows. The loader draws windows uniformly, like nanoGPT's random offsets.

Metric. Validation loss in nats per character over the whole validation split: every character
after the first is predicted exactly once, from the non-overlapping 64-character windows plus one
last window ending at the split's end whose already-scored targets are masked (-100).

Model and recipe. nanoGPT's ``shakespeare_char`` config at its CPU size (README: 4 layers,
4 heads, width 128, context 64, batch 12, no dropout, 2,000 iterations), which it reports reaches
a validation loss of about 1.88: pre-LayerNorm blocks without biases, GELU, learned positions,
tied input/output embeddings; AdamW lr 1e-3, betas (0.9, 0.99), weight decay 0.1 on matrices
only, 100 warm-up steps then cosine decay to 1e-4 (warm-up written as 5% of the duration, so it
scales with the budget).
"""

from __future__ import annotations

import functools
import math
import os
from pathlib import Path
from typing import Mapping, Optional

import torch
import torch.nn.functional as F
from composer.metrics import LanguageCrossEntropy
from composer.models import ComposerModel
from composer.optim import CosineAnnealingWithWarmupScheduler
from torch import nn

import trickstack
from trickstack.data import Splits, cache_dir
from trickstack.errors import UserError
from trickstack.params import Param, Value
from trickstack.workloads import Workload, register_workload

FILENAME = "tinyshakespeare.txt"
URL = "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt"
DATA_DIR_ENV = "TRICKSTACK_DATA_DIR"
VOCAB_SIZE = 65  # distinct characters of the corpus; the embedding table's size
CONTEXT = 64  # characters per window (nanoGPT's block_size for its CPU run)
TRAIN_FRACTION = 0.9
IGNORE = -100  # target masked out of the loss (torch's and LanguageCrossEntropy's ignore_index)


# ---------------------------------------------------------------------------------------- data


def default_data_dir() -> Path:
    """``shared/data`` beside the repository checkout (``<root>/main/trickstack`` -> ``<root>/shared/data``)."""
    return Path(trickstack.__file__).resolve().parents[2] / "shared" / "data"


def data_file() -> Optional[Path]:
    """The local corpus to read, or None when there is none and it should be downloaded.

    An explicit ``$TRICKSTACK_DATA_DIR`` lacking the file is an error, not a reason to download.
    """
    explicit = os.environ.get(DATA_DIR_ENV)
    if explicit:
        path = Path(explicit).expanduser() / FILENAME
        if not path.is_file():
            raise UserError(
                f"shakespeare-char: no {FILENAME} at {path}; put the file there or point "
                f"{DATA_DIR_ENV} at the directory that holds it (it is {URL})"
            )
        return path
    path = default_data_dir() / FILENAME
    return path if path.is_file() else None


def _read(data_files: str) -> str:
    """The whole corpus as one string, through ``datasets``' text builder (one row per document)."""
    import datasets

    ds = datasets.load_dataset(
        "text", data_files={"train": data_files}, sample_by="document", split="train",
        cache_dir=str(cache_dir() / "hf-datasets"),
    )
    return "".join(ds["text"])


def _download() -> str:
    return _read(URL)


def read_text() -> str:
    path = data_file()
    if path is not None:
        return _read(str(path))
    try:
        return _download()
    except Exception as error:  # no network, proxy refused, ...: whatever datasets raises
        raise UserError(
            f"shakespeare-char: no {FILENAME} at {default_data_dir() / FILENAME} and downloading {URL} "
            f"failed ({type(error).__name__}); set {DATA_DIR_ENV} to a directory holding {FILENAME}"
        ) from error


@functools.lru_cache(maxsize=4)
def _encode(text: str) -> tuple[torch.Tensor, tuple[str, ...]]:
    vocab = tuple(sorted(set(text)))
    if len(vocab) > VOCAB_SIZE:
        raise UserError(f"shakespeare-char: the text has {len(vocab)} distinct characters, more than the model's {VOCAB_SIZE}")
    lookup = {ch: i for i, ch in enumerate(vocab)}
    return torch.tensor([lookup[ch] for ch in text], dtype=torch.long), vocab


def encoded() -> tuple[torch.Tensor, tuple[str, ...]]:
    """The corpus as character ids (vocabulary: its sorted distinct characters) and the vocabulary.

    Cached by the text itself, so a different ``$TRICKSTACK_DATA_DIR`` reads its own file.
    """
    return _encode(read_text())


def split_point(n: int) -> int:
    return int(n * TRAIN_FRACTION)


def eval_windows(chars: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs and targets covering every character after the first exactly once (see the module doc)."""
    n_targets = len(chars) - 1
    starts = list(range(0, n_targets - CONTEXT + 1, CONTEXT))
    x = torch.stack([chars[s:s + CONTEXT] for s in starts])
    y = torch.stack([chars[s + 1:s + CONTEXT + 1] for s in starts])
    covered = len(starts) * CONTEXT
    if covered < n_targets:  # one last window ending at the end; mask the targets scored already
        last_x, last_y = chars[-CONTEXT - 1:-1], chars[-CONTEXT:].clone()
        last_y[: CONTEXT - (n_targets - covered)] = IGNORE
        x, y = torch.cat([x, last_x[None]]), torch.cat([y, last_y[None]])
    return x, y


def load_splits() -> Splits:
    chars, _ = encoded()
    cut = split_point(len(chars))
    train, val = chars[:cut], chars[cut:]
    # (N, 64) views of the text, one row per start position: no copy until a batch is indexed.
    train_x, train_y = train[:-1].unfold(0, CONTEXT, 1), train[1:].unfold(0, CONTEXT, 1)
    return Splits(train_x, train_y, *eval_windows(val))


# ---------------------------------------------------------------------------------------- model


class Block(nn.Module):
    def __init__(self, width: int, heads: int):
        super().__init__()
        self.heads = heads
        self.ln1, self.ln2 = nn.LayerNorm(width, bias=False), nn.LayerNorm(width, bias=False)
        self.qkv = nn.Linear(width, 3 * width, bias=False)
        self.proj = nn.Linear(width, width, bias=False)
        self.fc = nn.Linear(width, 4 * width, bias=False)
        self.fc_proj = nn.Linear(4 * width, width, bias=False)

    def attend(self, x: torch.Tensor) -> torch.Tensor:
        n, t, c = x.shape
        q, k, v = (z.view(n, t, self.heads, c // self.heads).transpose(1, 2) for z in self.qkv(x).split(c, dim=2))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.proj(y.transpose(1, 2).reshape(n, t, c))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attend(self.ln1(x))
        return x + self.fc_proj(F.gelu(self.fc(self.ln2(x))))


class GPT(nn.Module):
    """nanoGPT's ``GPT`` without dropout: ids (N, T) -> logits (N, T, vocab)."""

    def __init__(self, vocab: int = VOCAB_SIZE, context: int = CONTEXT, layers: int = 4, heads: int = 4, width: int = 128):
        super().__init__()
        self.wte, self.wpe = nn.Embedding(vocab, width), nn.Embedding(context, width)
        self.blocks = nn.ModuleList(Block(width, heads) for _ in range(layers))
        self.ln_f = nn.LayerNorm(width, bias=False)
        self.lm_head = nn.Linear(width, vocab, bias=False)
        self.lm_head.weight = self.wte.weight  # tied embeddings
        # GPT-2 initialisation: N(0, 0.02), residual projections scaled by 1/sqrt(2 * layers).
        for name, p in self.named_parameters():
            if p.dim() == 2:
                std = 0.02 / math.sqrt(2 * layers) if name.endswith(("proj.weight", "fc_proj.weight")) else 0.02
                nn.init.normal_(p, mean=0.0, std=std)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        x = self.wte(idx) + self.wpe(torch.arange(idx.shape[1], device=idx.device))
        for block in self.blocks:
            x = block(x)
        return self.lm_head(self.ln_f(x))


class CharLM(ComposerModel):
    """A `GPT` as a Composer model: batches are ``(x, y)`` id tensors; the loss is mean cross-entropy."""

    def __init__(self, **gpt_kwargs):
        super().__init__()
        self.model = GPT(**gpt_kwargs)
        self.val_loss = LanguageCrossEntropy(ignore_index=IGNORE)

    def forward(self, batch) -> torch.Tensor:
        return self.model(batch[0])

    def loss(self, outputs: torch.Tensor, batch, *args, **kwargs) -> torch.Tensor:
        return F.cross_entropy(outputs.flatten(0, 1), batch[1].flatten(), ignore_index=IGNORE)

    def eval_forward(self, batch, outputs: Optional[torch.Tensor] = None) -> torch.Tensor:
        return outputs if outputs is not None else self.forward(batch)

    def get_metrics(self, is_train: bool = False) -> dict:
        # No per-step train metrics: they cost time on every step and nothing reads them.
        return {} if is_train else {"LanguageCrossEntropy": self.val_loss}

    def update_metric(self, batch, outputs: torch.Tensor, metric) -> None:
        metric.update(outputs, batch[1])


def build_model() -> CharLM:
    return CharLM()


def make_optimizer(model: nn.Module, hp: Mapping[str, Value]) -> torch.optim.Optimizer:
    # As nanoGPT: weight decay on matrices (linear weights, embeddings), none on LayerNorm gains.
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [
        {"params": [p for p in params if p.dim() >= 2], "weight_decay": hp["weight_decay"]},
        {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=hp["lr"], betas=(0.9, hp["beta2"]))


SHAKESPEARE_CHAR = register_workload(
    Workload(
        name="shakespeare-char",
        domain="character-level language modelling",
        summary="Tiny Shakespeare, 90/10 split, nanoGPT's 4-layer GPT (0.8M parameters), context 64",
        provides=("language", "transformer", "causal_lm"),
        metric="val_loss",
        metric_key="LanguageCrossEntropy",
        direction="minimize",
        batch_size=12,  # windows of 64 characters per step (nanoGPT's CPU run)
        eval_batch_size=256,  # windows per eval batch; the metric does not depend on it
        reference_steps=2000,
        reference_note="nanoGPT's CPU run (2,000 steps of 12 x 64 characters; it reports val loss ~1.88); "
        "python -m trickstack.benchmarks.shakespeare_baseline measures it",
        nuisance=(
            Param("lr", 1e-3, low=1e-5, high=1e-1, log=True, help="peak learning rate of AdamW"),
            Param("weight_decay", 0.1, low=0.0, high=1.0, help="decoupled weight decay of AdamW, on matrices only"),
            Param("beta2", 0.99, low=0.9, high=0.9999, help="AdamW's second-moment decay (0.99: few tokens per step)"),
        ),
        build_model=build_model,
        load_splits=load_splits,
        make_optimizer=make_optimizer,
        # 100 of 2,000 steps of warm-up, then cosine to 1e-4 (alpha_f = 0.1 of the peak).
        make_schedule=lambda hp: CosineAnnealingWithWarmupScheduler(t_warmup="0.05dur", alpha_f=0.1),
    )
)
