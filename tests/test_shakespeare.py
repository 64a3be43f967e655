"""The shakespeare-char workload on a generated few-KB text (the real corpus is never read here)."""

from __future__ import annotations

import math

import pytest
import torch
from shakespeare_fixture import ALPHABET, N_CHARS, use_text

from trickstack.core.budget import Budget
from trickstack.core.errors import UserError
from trickstack.trial.runner import baseline_step_flops, run_trial
from trickstack.workloads import get_workload
from trickstack.workloads import shakespeare_char as sc


@pytest.fixture
def wl():
    """The workload with its cached splits dropped before and after, so each test reads its own data dir."""
    workload = get_workload("shakespeare-char")
    saved = workload.__dict__.pop("splits", None)
    yield workload
    workload.__dict__.pop("splits", None)
    if saved is not None:
        workload.__dict__["splits"] = saved


@pytest.fixture
def text(tmp_path, monkeypatch) -> str:
    """A random text in ``tmp_path/data/tinyshakespeare.txt``, with ``TRICKSTACK_DATA_DIR`` pointing there."""
    return use_text(monkeypatch, tmp_path)


def test_split_vocabulary_and_windows(wl, text):
    chars, vocab = sc.encoded()
    assert vocab == tuple(sorted(ALPHABET)) and len(chars) == N_CHARS
    assert "".join(vocab[i] for i in chars.tolist()) == text
    cut = int(N_CHARS * 0.9)
    s = wl.splits
    assert s.train_x.shape == s.train_y.shape == (cut - sc.CONTEXT, sc.CONTEXT)
    assert s.train_x.dtype == torch.long
    assert torch.equal(s.train_x[5], chars[5:5 + sc.CONTEXT]) and torch.equal(s.train_y[5], chars[6:6 + sc.CONTEXT])
    assert torch.equal(s.train_y[-1], chars[cut - sc.CONTEXT:cut])  # training never sees a validation character
    assert s.train_x.untyped_storage().data_ptr() == chars.untyped_storage().data_ptr()  # views, not copies
    # Validation: every character after the first is a target exactly once, in order.
    assert s.eval_x.shape == s.eval_y.shape and s.eval_x.shape[1] == sc.CONTEXT
    scored = s.eval_y[s.eval_y != sc.IGNORE]
    assert torch.equal(scored, chars[cut + 1:])
    assert torch.equal(s.eval_x[-1], chars[-sc.CONTEXT - 1:-1])


def test_model_is_a_tied_gpt(wl, text):
    model = wl.build_model()
    gpt = model.model
    assert gpt.lm_head.weight is gpt.wte.weight
    assert (len(gpt.blocks), gpt.blocks[0].heads, gpt.wte.embedding_dim, gpt.wpe.num_embeddings) == (4, 4, 128, 64)
    x = wl.splits.train_x[:3]
    assert model((x, None)).shape == (3, sc.CONTEXT, sc.VOCAB_SIZE)
    assert model.get_metrics(is_train=True) == {}
    assert list(model.get_metrics(is_train=False)) == [wl.metric_key]
    # Causal: changing the last character leaves the logits of the earlier positions unchanged.
    y = x.clone()
    y[:, -1] = (y[:, -1] + 1) % sc.VOCAB_SIZE
    with torch.no_grad():
        assert torch.allclose(model((x, None))[:, :-1], model((y, None))[:, :-1])


def test_tiny_run_is_finite_and_reproducible(wl, text):
    assert (wl.metric, wl.direction, wl.batch_size, wl.reference_steps) == ("val_loss", "minimize", 12, 2000)
    budget = Budget("flops", 10 * baseline_step_flops(wl))  # 10 steps: ~0.2 s each on 2 cores
    first = run_trial("shakespeare-char", [], seed=0, budget=budget)
    second = run_trial("shakespeare-char", [], seed=0, budget=budget)
    assert first.steps == 10 and not first.diverged
    assert math.isfinite(first.metrics.eval_value) and first.metrics.eval_value < math.log(sc.VOCAB_SIZE) + 0.5
    assert first.metrics.eval_value == second.metrics.eval_value
    assert first.metrics.train_loss == second.metrics.train_loss


@pytest.mark.parametrize("trick", ["label_smoothing", "mixup"])
def test_classification_tricks_are_refused(trick):
    with pytest.raises(UserError, match=rf"{trick}' requires classification, which workload 'shakespeare-char' does not"):
        run_trial("shakespeare-char", [trick], seed=0, budget=Budget("flops", 1e12))


def test_missing_data_dir_names_the_path(wl, tmp_path, monkeypatch):
    monkeypatch.setenv(sc.DATA_DIR_ENV, str(tmp_path / "nowhere"))
    with pytest.raises(UserError, match=rf"{tmp_path / 'nowhere' / sc.FILENAME}.*{sc.DATA_DIR_ENV}"):
        wl.splits


def test_no_local_file_and_no_network(wl, tmp_path, monkeypatch):
    monkeypatch.delenv(sc.DATA_DIR_ENV, raising=False)
    monkeypatch.setattr(sc, "default_data_dir", lambda: tmp_path)
    monkeypatch.setenv("TRICKSTACK_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(sc, "_urlopen", lambda url: (_ for _ in ()).throw(ConnectionError("offline")))
    with pytest.raises(UserError, match=rf"{tmp_path / sc.FILENAME} .*ConnectionError.*{sc.DATA_DIR_ENV}"):
        wl.splits
