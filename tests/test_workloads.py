import pytest
import torch

from trickstack.core.errors import RegistryError
from trickstack.workloads import get_workload, list_workloads
from trickstack.workloads.data import TensorBatches, batched_loader


def test_mnist1d_has_the_paper_split(workload):
    s = workload.splits
    assert s.train_x.shape == (4000, 1, 40) and s.eval_x.shape == (1000, 1, 40)
    assert s.train_y.shape == (4000,) and set(s.train_y.tolist()) == set(range(10))
    assert s.train_x.dtype == torch.float32


def test_contract_fields(workload):
    assert workload.metric == "accuracy" and workload.direction == "maximize"
    assert {p.name for p in workload.nuisance} == {"lr", "weight_decay"}
    model = workload.build_model()
    assert model(( workload.splits.train_x[:7], None)).shape == (7, 10)
    assert model.get_metrics(is_train=True) == {}  # no per-step train metrics: they cost time


def test_loader_indexes_whole_batches_in_a_seeded_order(monkeypatch):
    x, y = torch.arange(10.0), torch.arange(10)
    calls = []
    original = TensorBatches.__getitem__
    monkeypatch.setattr(TensorBatches, "__getitem__", lambda self, idx: calls.append(len(idx)) or original(self, idx))
    order = [b[1].tolist() for b in batched_loader((x, y), 4, seed=5)]
    assert calls == [4, 4]  # one indexing per batch, never item by item; drop_last keeps batches full
    assert order == [b[1].tolist() for b in batched_loader((x, y), 4, seed=5)]
    assert order != [b[1].tolist() for b in batched_loader((x, y), 4, seed=6)]


def test_unknown_workload_suggests():
    assert {"mnist1d", "shakespeare-char"} <= set(list_workloads())
    with pytest.raises(RegistryError, match=r"unknown workload 'mnist' \(did you mean: mnist1d\?\)"):
        get_workload("mnist")
