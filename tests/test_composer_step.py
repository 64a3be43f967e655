"""The lean training step (`trickstack.trial.composer_step`): taken where its conditions hold, and then the same
fit as Composer's own step, event for event, logged value for logged value, weight for weight."""

from __future__ import annotations

import pytest
import torch
from composer import Trainer
from composer.algorithms import SAM
from composer.core import Callback, DataSpec
from composer.loggers import InMemoryLogger
from composer.models import ComposerClassifier
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
from torchmetrics import MetricCollection
from torchmetrics.classification import MulticlassAccuracy

from trickstack.trial import composer_step
from trickstack.trial.composer_patches import apply_patches

FEATURES, CLASSES, BATCH = 12, 4, 16


class Net(ComposerClassifier):
    """A small classifier whose loss is one tensor, a tuple, a dict, or a dict with its own total."""

    def __init__(self, loss_kind: str, train_metrics: bool):
        torch.manual_seed(0)
        net = nn.Sequential(nn.Linear(FEATURES, 8), nn.ReLU(), nn.Linear(8, CLASSES))
        metrics = [MulticlassAccuracy(num_classes=CLASSES)] if train_metrics else []
        super().__init__(net, num_classes=CLASSES, train_metrics=MetricCollection(metrics))
        self.loss_kind = loss_kind

    def loss(self, outputs, batch, *args, **kwargs):
        ce = super().loss(outputs, batch, *args, **kwargs)
        square = outputs.pow(2).mean()
        return {"tensor": ce, "tuple": (ce, square), "dict": {"ce": ce, "square": square},
                "total": {"ce": ce, "total": ce + 0.1 * square}}[self.loss_kind]


class Events(Callback):
    def __init__(self):
        self.seen: list = []

    def run_event(self, event, state, logger):
        loss = state.loss if isinstance(state.loss, torch.Tensor) and state.loss.numel() else None
        self.seen.append((event.value, int(state.timestamp.batch), None if loss is None else loss.item()))


def _plain(value):
    return value.tolist() if isinstance(value, torch.Tensor) else value


def _counts(timestamp):
    return tuple(int(getattr(timestamp, name)) for name in ("epoch", "batch", "sample", "token", "batch_in_epoch"))


def _fit(lean: bool, loss_kind="tensor", train_metrics=False, microbatch=BATCH, sam=False, samples=None, subset=None,
         trainer_class=Trainer):
    """A short fit through the lean step (``lean``) or Composer's own: the events, the logged values, the weights,
    and how many microbatches the lean path trained."""
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(5 * BATCH, FEATURES, generator=g), torch.randint(0, CLASSES, (5 * BATCH,), generator=g)
    loader = DataLoader(TensorDataset(x, y), batch_size=BATCH, shuffle=False)
    data = DataSpec(loader, get_num_samples_in_batch=samples) if samples else loader
    model = Net(loss_kind, train_metrics)
    events, memory = Events(), InMemoryLogger()
    trained = []
    original = composer_step._train_microbatch

    def counting(self, *args):
        trained.append(1)
        return original(self, *args)

    patches = {"_train_batch": composer_step._train_batch, "_iter_dataloader": composer_step._iter_dataloader}
    saved = {name: Trainer.__dict__[name] for name in patches}
    apply_patches()
    for name, patch in patches.items():
        setattr(Trainer, name, patch if lean else getattr(composer_step, f"_original{name}"))
    composer_step._train_microbatch = counting
    try:
        trainer = trainer_class(
            model=model, train_dataloader=data, max_duration="2ep", optimizers=torch.optim.SGD(model.parameters(), lr=0.1),
            algorithms=[SAM(rho=0.05)] if sam else [], callbacks=[events], loggers=[memory], progress_bar=False,
            log_to_console=False, auto_log_hparams=False, device="cpu", device_train_microbatch_size=microbatch,
            train_subset_num_batches=subset or -1, seed=3, python_log_level=None)
        trainer.fit()
        trainer.close()
    finally:
        composer_step._train_microbatch = original
        for name, function in saved.items():
            setattr(Trainer, name, function)
    logged = {k: [(_counts(t), _plain(v)) for t, v in values] for k, values in memory.data.items()}
    weights = {k: v.clone() for k, v in model.state_dict().items()}
    return events.seen, logged, weights, len(trained)


def _same(lean, original):
    (events, logged, weights, _), (events0, logged0, weights0, trained0) = lean, original
    assert events == events0
    assert logged.keys() == logged0.keys() and "loss/train/total" in logged
    for key in logged:
        assert logged[key] == logged0[key], key  # bit for bit: floats compared with ==
    assert weights.keys() == weights0.keys() and all(torch.equal(weights[k], weights0[k]) for k in weights)
    assert trained0 == 0


@pytest.mark.parametrize("case", [
    {},  # the loss one tensor, the batch one microbatch: the shortcut through the loss bookkeeping
    {"loss_kind": "tuple"}, {"loss_kind": "dict"}, {"loss_kind": "total"},  # the original's bookkeeping
    {"microbatch": BATCH // 4},  # four microbatches: the loss scaled by 1/4
    {"train_metrics": True},  # the batch copied for training metrics, computed and logged
    {"sam": True},  # SAM calls the optimizer's closure twice a step
    {"samples": lambda batch: float(len(batch[0]))},  # a float sample count, converted as the original converts it
    {"subset": 3},  # a dataloader length: the batches cut by islice
])
def test_lean_step_is_the_original_step(case):
    lean, original = _fit(True, **case), _fit(False, **case)
    _same(lean, original)
    steps = 2 * (case.get("subset") or 5)
    microbatches = BATCH // case.get("microbatch", BATCH)
    assert lean[3] == steps * microbatches * (2 if case.get("sam") else 1)  # the lean path trained every microbatch
    assert sum(1 for event, *_ in lean[0] if event == "batch_end") == steps
    if case.get("train_metrics"):
        assert "metrics/train/MulticlassAccuracy" in lean[1]


class OwnTrainer(Trainer):
    pass


def test_lean_step_leaves_other_trainers_to_composer():
    lean, original = _fit(True, trainer_class=OwnTrainer), _fit(False, trainer_class=OwnTrainer)
    _same(lean, original)
    assert lean[3] == 0  # a subclass may override any step method: Composer's own step ran


def test_lean_step_leaves_several_processes_to_composer(monkeypatch):
    monkeypatch.setattr(composer_step, "_single_process", lambda: False)
    lean = _fit(True)
    assert lean[3] == 0
    _same(lean, _fit(False))


def test_batch_size_over_one_rank_as_the_original():
    class FakeTrainer:
        accumulate_train_batch_on_tokens = False
        _train_data_spec = DataSpec(DataLoader([]), get_num_samples_in_batch=lambda batch: batch)
        state = type("S", (), {"device": type("D", (), {"tensor_to_device": staticmethod(lambda t: t)})()})()

    for counts in ([16], [8, 8], [2**40, 3], [0.1, 0.2], [True]):
        expected = torch.tensor(sum(counts)).item() / 1  # the original's conversion in one process
        got = composer_step._summed_batch_size(FakeTrainer(), counts)  # type: ignore[arg-type]
        assert got == expected and type(got) is type(expected), counts


def test_a_trainer_with_a_step_method_of_its_own_is_left_to_composer():
    trainer = Trainer.__new__(Trainer)  # no fit needed: only which methods it has is asked
    assert composer_step._own_step_methods(trainer)
    trainer._train_microbatch = lambda *args: None  # type: ignore[method-assign]
    assert not composer_step._own_step_methods(trainer)
