"""Tiny Shakespeare, character level: a small GPT predicting the next character (nanoGPT's CPU run).

Data. ``tinyshakespeare.txt`` (1,115,394 characters, 65 distinct) goes through Hugging Face
``datasets`` (the ``text`` builder, one document). It is looked for in ``$TRICKSTACK_DATA_DIR``;
when that is unset, in ``shared/data`` beside the repository checkout (where this project's
machines keep it), then in the cache (``$TRICKSTACK_CACHE``, default ``~/.cache/trickstack``); when
none has it, it is downloaded from karpathy/char-rnn with the standard library into the cache
(written atomically, kept only if its sha256 is the published one). The first
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

Extension points (the ``gpt_blocks`` capability). Tricks change the network only by module surgery
at Event.INIT (``algorithms/rmsnorm``, ``rope``, ``qk_norm``, ``relu2``, ``swiglu``,
``zero_init_residual``, ``untied_embeddings``), never through flags in ``forward``; with every slot at
its default the network above is computed bit for bit. The contract, by attribute name:

- `GPT`: ``wte`` (token embedding, nn.Embedding), ``wpe`` (position slot, ``(N, T, C) -> (N, T, C)``:
  `LearnedPositions` adds a learned vector per position; nn.Identity adds none), ``blocks``
  (nn.ModuleList of `Block`), ``ln_f`` (final norm, nn.LayerNorm), ``lm_head`` (nn.Linear whose weight
  *is* ``wte.weight``: tied), ``context`` (longest sequence), ``init_std`` (0.02) and
  ``residual_init_std`` (0.02 / sqrt(2 * layers)): the GPT-2 initialisation a new matrix should use.
- `Block`: ``ln1``, ``ln2`` (the residual-stream norms, nn.LayerNorm without bias), ``attn``, ``mlp``.
- `CausalSelfAttention`: ``qkv`` (width -> 3 width), ``heads``, ``q_norm`` and ``k_norm`` (on queries and
  keys of shape (N, heads, T, head_dim); nn.Identity), ``rotary`` (on both, after the norms, same
  shape; nn.Identity), ``proj`` (width -> width, writes to the residual stream).
- `MLP`: ``fc`` (width -> 4 width), ``act`` (nn.GELU), ``fc_proj`` (4 width -> width, writes to the
  residual stream). A replacement MLP keeps the name ``fc_proj`` for its output projection.

The optimizer groups parameters by kind (matrices get weight decay, norm gains do not), so surgery
puts a new parameter in the group of the parameter it replaces or of one of the same kind
(`trickstack.tricks.surgery`).
"""

from __future__ import annotations

import functools
import hashlib
import math
import os
import tempfile
import urllib.request
from pathlib import Path
from typing import Mapping, Optional

import torch
import torch.nn.functional as F
from composer.metrics import LanguageCrossEntropy
from composer.models import ComposerModel
from composer.optim import CosineAnnealingWithWarmupScheduler
from torch import nn

import trickstack
from trickstack.core.errors import UserError
from trickstack.core.params import Param, Value
from trickstack.workloads import Workload, register_workload
from trickstack.workloads.data import Splits, cache_dir

FILENAME = "tinyshakespeare.txt"
URL = "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt"
SHA256 = "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"  # of the 1,115,394 bytes at URL
DOWNLOAD_TIMEOUT = 60  # seconds without an answer before the download is given up
DATA_DIR_ENV = "TRICKSTACK_DATA_DIR"
VOCAB_SIZE = 65  # distinct characters of the corpus; the embedding table's size
CONTEXT = 64  # characters per window (nanoGPT's block_size for its CPU run)
TRAIN_FRACTION = 0.9
IGNORE = -100  # target masked out of the loss (torch's and LanguageCrossEntropy's ignore_index)


# ---------------------------------------------------------------------------------------- data


def default_data_dir() -> Path:
    """``shared/data`` beside the repository checkout (``<root>/main/trickstack`` -> ``<root>/shared/data``)."""
    return Path(trickstack.__file__).resolve().parents[2] / "shared" / "data"


def cached_file() -> Path:
    """Where a downloaded corpus is kept: ``<cache>/tinyshakespeare.txt``, outside the repository."""
    return cache_dir() / FILENAME


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
    for path in (default_data_dir() / FILENAME, cached_file()):
        if path.is_file():
            return path
    return None


def _read(data_files: str) -> str:
    """The whole corpus as one string, through ``datasets``' text builder (one row per document)."""
    import datasets

    ds = datasets.load_dataset(
        "text", data_files={"train": data_files}, sample_by="document", split="train",
        cache_dir=str(cache_dir() / "hf-datasets"),
    )
    return "".join(ds["text"])


def _urlopen(url: str):
    """The network boundary (tests replace it): a file-like response for ``url``."""
    return urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT)


def download(destination: Optional[Path] = None) -> Path:
    """Fetch the corpus from `URL` to ``destination`` (default `cached_file`) and return its path.

    The bytes go to a temporary file beside the destination and are moved into place only when their
    sha256 is `SHA256`, so an interrupted or altered download never leaves a file that looks complete.
    """
    destination = destination or cached_file()
    destination.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{FILENAME}.", suffix=".part", dir=destination.parent)
    try:
        digest = hashlib.sha256()
        with os.fdopen(handle, "wb") as file, _urlopen(URL) as response:
            for chunk in iter(lambda: response.read(1 << 16), b""):
                digest.update(chunk)
                file.write(chunk)
            file.flush()
            os.fsync(file.fileno())
        if digest.hexdigest() != SHA256:
            raise UserError(f"shakespeare-char: the file downloaded from {URL} has sha256 {digest.hexdigest()}, "
                            f"not the published {SHA256}; it was not kept")
        os.replace(temporary, destination)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
    return destination


def corpus_file() -> Path:
    """The corpus on disk: found locally (see `data_file`) or downloaded into the cache now."""
    path = data_file()
    if path is not None:
        return path
    try:
        return download()
    except UserError:
        raise
    except (OSError, ValueError) as error:  # URLError, timeouts, refused, disk full: all OSError
        raise UserError(
            f"shakespeare-char: no {FILENAME} at {default_data_dir() / FILENAME} or {cached_file()}, and downloading "
            f"{URL} failed ({type(error).__name__}: {error}); download it yourself and put it at {cached_file()}, "
            f"or set {DATA_DIR_ENV} to a directory holding {FILENAME}"
        ) from error


def read_text(path: Optional[Path] = None) -> str:
    """The text of the corpus (default: `corpus_file`), refused naming the file when empty or not UTF-8."""
    path = path or corpus_file()
    try:  # checked before datasets reads it: a file that is not text is named, not a traceback
        if not path.read_bytes().decode("utf-8"):
            raise UserError(f"shakespeare-char: {path} is empty{_where_from()}")
    except UnicodeDecodeError as error:
        raise UserError(f"shakespeare-char: {path} is not UTF-8 text (byte {error.start} is not): it is not "
                        f"Tiny Shakespeare{_where_from()}") from None
    except OSError as error:
        raise UserError(f"shakespeare-char: cannot read {path} ({error.strerror or error})") from None
    return _read(str(path))


def min_chars() -> int:
    """The shortest text with a window of `CONTEXT` characters and its next one in both splits."""
    return next(n for n in range(CONTEXT, 100 * CONTEXT) if min(split_point(n), n - split_point(n)) > CONTEXT)


def check_text(text: str, path: Path) -> None:
    """Refuse a corpus the model cannot train on, naming its file: too short, or more distinct characters
    than the embedding table holds (`VOCAB_SIZE`)."""
    if len(text) < min_chars():
        raise UserError(f"shakespeare-char: {path} holds only {len(text)} characters; the splits need at least {min_chars()} "
                        f"(Tiny Shakespeare has 1,115,394){_where_from()}")
    distinct = len(set(text))
    if distinct > VOCAB_SIZE:
        raise UserError(f"shakespeare-char: {path} has {distinct} distinct characters, more than the model's "
                        f"{VOCAB_SIZE}: it is not Tiny Shakespeare{_where_from()}")


def _where_from() -> str:
    return f" (Tiny Shakespeare is {URL}; {DATA_DIR_ENV} names the folder that holds it)"


@functools.lru_cache(maxsize=4)
def _encode(text: str) -> tuple[torch.Tensor, tuple[str, ...]]:
    vocab = tuple(sorted(set(text)))
    lookup = {ch: i for i, ch in enumerate(vocab)}
    return torch.tensor([lookup[ch] for ch in text], dtype=torch.long), vocab


def encoded() -> tuple[torch.Tensor, tuple[str, ...]]:
    """The corpus as character ids (vocabulary: its sorted distinct characters) and the vocabulary.

    Cached by the text itself, so a different ``$TRICKSTACK_DATA_DIR`` reads its own file.
    """
    path = corpus_file()
    text = read_text(path)
    check_text(text, path)
    return _encode(text)


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

INIT_STD = 0.02  # GPT-2 initialisation: N(0, 0.02) for every matrix ...


def residual_init_std(layers: int) -> float:
    """... except the projections writing to the residual stream: 0.02 / sqrt(2 * layers) (GPT-2)."""
    return INIT_STD / math.sqrt(2 * layers)


class LearnedPositions(nn.Embedding):
    """The ``wpe`` slot: adds a learned vector per position, (N, T, C) -> (N, T, C)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + super().forward(torch.arange(x.shape[1], device=x.device))


class CausalSelfAttention(nn.Module):
    """Multi-head causal self-attention with slots for per-head query/key norms and a rotary map.

    ``q_norm``, ``k_norm`` and ``rotary`` act on tensors of shape (N, heads, T, head_dim), in that
    order (norms first); by default they are ``nn.Identity`` and attention is nanoGPT's.
    """

    def __init__(self, width: int, heads: int):
        super().__init__()
        if width % heads:
            raise UserError(f"shakespeare-char: width {width} is not a multiple of heads {heads}")
        self.heads = heads
        self.qkv = nn.Linear(width, 3 * width, bias=False)
        self.proj = nn.Linear(width, width, bias=False)  # writes to the residual stream
        self.q_norm, self.k_norm = nn.Identity(), nn.Identity()
        self.rotary = nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, t, c = x.shape
        q, k, v = (z.view(n, t, self.heads, c // self.heads).transpose(1, 2) for z in self.qkv(x).split(c, dim=2))
        q, k = self.rotary(self.q_norm(q)), self.rotary(self.k_norm(k))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.proj(y.transpose(1, 2).reshape(n, t, c))


class MLP(nn.Module):
    """``fc_proj(act(fc(x)))``: width -> hidden -> width, with the activation in the ``act`` slot."""

    def __init__(self, width: int, hidden: int):
        super().__init__()
        self.fc = nn.Linear(width, hidden, bias=False)
        self.act = nn.GELU()  # exact (erf) GELU, as F.gelu
        self.fc_proj = nn.Linear(hidden, width, bias=False)  # writes to the residual stream

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc_proj(self.act(self.fc(x)))


class Block(nn.Module):
    """Pre-norm transformer block: ``x + attn(ln1(x))``, then ``x + mlp(ln2(x))``."""

    def __init__(self, width: int, heads: int):
        super().__init__()
        # Construction order fixes the order in which the random initialisation is drawn: keep it.
        self.ln1, self.ln2 = nn.LayerNorm(width, bias=False), nn.LayerNorm(width, bias=False)
        self.attn = CausalSelfAttention(width, heads)
        self.mlp = MLP(width, 4 * width)

    @property
    def heads(self) -> int:
        return self.attn.heads

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln1(x))
        return x + self.mlp(self.ln2(x))


class GPT(nn.Module):
    """nanoGPT's ``GPT`` without dropout: ids (N, T) -> logits (N, T, vocab). Slots: see the module doc."""

    output_layer = "lm_head"  # the child module producing the logits (the ``logits`` capability)

    def __init__(self, vocab: int = VOCAB_SIZE, context: int = CONTEXT, layers: int = 4, heads: int = 4, width: int = 128):
        super().__init__()
        self.context = context  # longest sequence, in characters
        self.init_std, self.residual_init_std = INIT_STD, residual_init_std(layers)
        self.wte, self.wpe = nn.Embedding(vocab, width), LearnedPositions(context, width)
        self.blocks = nn.ModuleList(Block(width, heads) for _ in range(layers))
        self.ln_f = nn.LayerNorm(width, bias=False)
        self.lm_head = nn.Linear(width, vocab, bias=False)
        self.lm_head.weight = self.wte.weight  # tied embeddings
        residual = {id(p) for b in self.blocks for p in (b.attn.proj.weight, b.mlp.fc_proj.weight)}
        for p in self.parameters():  # registration order: the random stream is drawn in this order
            if p.dim() == 2:
                nn.init.normal_(p, mean=0.0, std=self.residual_init_std if id(p) in residual else self.init_std)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        x = self.wpe(self.wte(idx))
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
        provides=("language", "transformer", "causal_lm", "logits", "gpt_blocks", "adam_optimizer"),  # gpt_blocks: the module doc
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
        includes={
            "lr_warmup": "linear warm-up over the first 5% of the budget (nanoGPT's 100 of 2,000 steps)",
            "cosine_schedule": "cosine decay from the peak to 0.1x over the budget",
            "adamw": "AdamW, decoupled weight decay 0.1 on matrices",
        },
    )
)
