"""CIFAR-10 (`trickstack.workloads.cifar10`): the Hub path up to the network boundary, the cache, the missing-data
message, the augmentation, the optimizer's parametrisation, and cifar10-tiny end to end on a generated set."""

from __future__ import annotations

import math
import shutil

import pytest
import torch
from cifar_fixture import generated_cifar, make_dataset, save

from trickstack.core.budget import Budget
from trickstack.core.errors import UserError
from trickstack.testing.workload import check_workload
from trickstack.trial.runner import baseline_step_flops, reference_budget, run_trial
from trickstack.workloads import cifar10, cifar10_data, get_workload
from trickstack.workloads.cifar10_data import FLIPS, AugmentedBatches


@pytest.fixture
def hub(monkeypatch, tmp_path):
    """No local copy, an empty cache; ``datasets.load_dataset`` replaced at the network boundary."""
    monkeypatch.delenv(cifar10_data.DATA_ENV, raising=False)
    monkeypatch.setenv("TRICKSTACK_CACHE", str(tmp_path / "cache"))
    cifar10_data._uint8.cache_clear()
    calls = []

    def serve(answer):
        def load_dataset(*args, **kwargs):
            calls.append(args)
            if isinstance(answer, Exception):
                raise answer
            return answer
        monkeypatch.setattr(cifar10_data, "_load_dataset", load_dataset)
        return calls

    yield serve
    cifar10_data._uint8.cache_clear()
    for name in ("cifar10", "cifar10-tiny"):
        get_workload(name).__dict__.pop("splits", None)


def test_the_hub_set_is_converted_once_then_read_from_the_checked_cache(hub):
    calls = hub(make_dataset(train=30, test=20))
    data = cifar10_data.uint8_splits()
    assert calls == [("uoft-cs/cifar10",)]
    images, labels = data["train"]
    assert images.shape == (30, 3, 32, 32) and images.dtype == torch.uint8 and labels.dtype == torch.long
    assert data["test"][0].shape == (20, 3, 32, 32)
    cifar10_data._uint8.cache_clear()
    again = cifar10_data.uint8_splits()
    assert len(calls) == 1 and torch.equal(again["train"][0], images)  # from the cache, not converted again
    cache = cifar10_data.cache_file("uoft-cs/cifar10")
    cache.write_bytes(cache.read_bytes()[:-100])  # a damaged cache is converted again, not trusted
    cifar10_data._uint8.cache_clear()
    assert torch.equal(cifar10_data.uint8_splits()["train"][0], images) and len(calls) == 2


def test_a_local_copy_replaced_in_place_is_converted_again(tmp_path):
    with generated_cifar(tmp_path) as directory:
        first = cifar10_data.uint8_splits()["train"][0]
    shutil.rmtree(directory)
    save(directory, seed=1)  # another set at the same path: not the cached conversion of the first
    with generated_cifar(tmp_path):
        second = cifar10_data.uint8_splits()["train"][0]
    assert first.shape == second.shape and not torch.equal(first, second)


def test_offline_without_a_local_copy_is_one_line_naming_the_set_and_how_to_get_it(hub):
    hub(ConnectionError("Couldn't reach 'uoft-cs/cifar10' on the Hub (LocalEntryNotFoundError)"))
    with pytest.raises(UserError) as error:
        cifar10_data.uint8_splits()
    message = str(error.value)
    assert "\n" not in message and message.startswith("cifar10: cannot load the CIFAR-10 data from uoft-cs/cifar10")
    assert "ConnectionError" in message and "TRICKSTACK_CIFAR10" in message and "save_to_disk" in message


def test_the_cli_exits_2_with_the_message(hub, cli):
    hub(ConnectionError("no network"))
    code, out, err = cli("run", "--workload", "cifar10-tiny")
    assert code == 2
    assert "cifar10: cannot load the CIFAR-10 data" in err and "TRICKSTACK_CIFAR10" in err


def test_a_local_directory_that_is_missing_or_in_another_format_is_named(hub, monkeypatch, tmp_path):
    monkeypatch.setenv(cifar10_data.DATA_ENV, str(tmp_path / "nowhere"))
    with pytest.raises(UserError, match=r"TRICKSTACK_CIFAR10=.*nowhere is not a directory"):
        cifar10_data.uint8_splits()
    wrong = make_dataset(train=4, test=4).rename_column("img", "image")
    wrong.save_to_disk(str(tmp_path / "wrong"))
    monkeypatch.setenv(cifar10_data.DATA_ENV, str(tmp_path / "wrong"))
    with pytest.raises(UserError, match=r"the train split has no column img \(it has image, label\)"):
        cifar10_data.uint8_splits()


def test_augmentation_is_seeded_and_alternating_flips_invert_each_epoch():
    images, labels = torch.randn(8, 3, 32, 32), torch.arange(8)
    batches = [AugmentedBatches(images, labels, seed=s)[[0, 1, 2, 3]][0] for s in (0, 0, 1)]
    assert torch.equal(batches[0], batches[1]) and not torch.equal(batches[0], batches[2])
    data = AugmentedBatches(images, labels, seed=0, flip="alternating")
    index = torch.arange(8)
    first = data.flip_mask(index, 0)
    assert torch.equal(data.flip_mask(index, 1), ~first) and torch.equal(data.flip_mask(index, 2), first)
    # Served batches: each image's mirroring, read off a left-to-right ramp (mirrored, it falls), inverts from
    # one epoch (two batches of 4) to the next, starting from `first_flip`.
    ramp = torch.arange(32.0).expand(8, 3, 32, 32).clone()
    served = AugmentedBatches(ramp, labels, seed=0, flip="alternating")
    epochs = [torch.cat([served[[0, 1, 2, 3]][0], served[[4, 5, 6, 7]][0]]) for _ in range(2)]
    mirrored = [(e[..., 16:].mean((1, 2, 3)) < e[..., :16].mean((1, 2, 3))) for e in epochs]
    assert torch.equal(mirrored[0], served.first_flip) and torch.equal(mirrored[1], ~served.first_flip)
    # The crops are the same whichever flip mode: each alternating image is the random mode's or its mirror.
    random, alternating = (AugmentedBatches(images, labels, seed=5, flip=f)[[0, 1, 2, 3]][0] for f in FLIPS)
    assert all(torch.equal(a, r) or torch.equal(a, r.flip(-1)) for a, r in zip(alternating, random))
    data.flip = "sideways"
    with pytest.raises(UserError, match="flip must be one of random, alternating"):
        data[[0, 1]]


def test_the_mean_loss_optimizer_steps_as_airbench_does_on_the_summed_loss():
    """One step of make_optimizer on the batch-mean loss == airbench94's SGD on the summed loss."""
    torch.manual_seed(0)
    net = cifar10.CifarNet((4, 8, 8))
    twin = cifar10.CifarNet((4, 8, 8))
    twin.load_state_dict(net.state_dict())
    x, y = torch.randn(16, 3, 32, 32), torch.randint(0, 10, (16,))
    hp = {p.name: p.default for p in cifar10.nuisance()}
    ours = cifar10.make_optimizer(net, hp, batch_size=16)
    kilostep = 1024 * (1 + 1 / (1 - hp["momentum"]))
    lr, wd = hp["lr"] / kilostep, hp["weight_decay"] * 16 / kilostep  # airbench94's main()
    norms = [p for n, p in twin.named_parameters() if "norm" in n and p.requires_grad]
    others = [p for n, p in twin.named_parameters() if "norm" not in n and p.requires_grad]
    bias_lr = lr * hp["bias_scaler"]
    theirs = torch.optim.SGD([dict(params=norms, lr=bias_lr, weight_decay=wd / bias_lr),
                              dict(params=others, lr=lr, weight_decay=wd / lr)], momentum=hp["momentum"], nesterov=True)
    for model, optimizer, reduction in ((net, ours, "mean"), (twin, theirs, "sum")):
        for _ in range(2):
            optimizer.zero_grad()
            torch.nn.functional.cross_entropy(model(x), y, reduction=reduction).backward()
            optimizer.step()
    for a, b in zip(net.parameters(), twin.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)


def test_the_full_workload_is_airbench94_sized():
    wl = get_workload("cifar10")
    assert wl.cpu_variant == "cifar10-tiny" and wl.batch_size == 1024
    assert wl.reference_steps == math.ceil(9.9 * (50_000 // 1024))  # 476: 9.9 epochs of 48 steps
    net = wl.build_model().module
    assert [g.conv2.out_channels for g in net.groups] == [64, 256, 256]
    assert net(torch.randn(2, 3, 32, 32)).shape == (2, 10)


def test_cifar10_tiny_trains_bit_for_bit_on_the_generated_set_and_keeps_the_contract(tmp_path):
    with generated_cifar(tmp_path):
        wl = get_workload("cifar10-tiny")
        assert reference_budget(wl).value == wl.reference_steps * baseline_step_flops(wl)
        budget = reference_budget(wl).scaled(0.1)  # 4 steps
        a, b = (run_trial(wl, [], seed=3, budget=budget) for _ in range(2))
        assert (a.metrics.eval_value, a.metrics.train_loss, a.flops) == (b.metrics.eval_value, b.metrics.train_loss, b.flops)
        assert a.steps == 4 and abs(a.flops / budget.value - 1) <= 0.02
        c = run_trial(wl, [], seed=4, budget=budget)
        assert c.metrics.train_loss != a.metrics.train_loss  # another seed: other initial weights, order and crops
        check_workload("cifar10-tiny", steps=2, skip=("tricks",))  # the tricks: tests/test_contract.py


AIRBENCH_TRICKS = ("label_smoothing", "lookahead", "ema", "flip_tta", "alternating_flip", "whitening_init", "identity_init")


def test_airbench_ingredients_are_tricks_that_run_on_cifar10_and_only_where_they_fit():
    from trickstack.tricks.registry import get_trick, trick_status

    for workload in ("cifar10", "cifar10-tiny"):
        wl = get_workload(workload)
        assert [trick_status(get_trick(t), wl)[0] for t in AIRBENCH_TRICKS] == ["ok"] * len(AIRBENCH_TRICKS)
        assert trick_status(get_trick("adamw"), wl)[0] == "excluded"  # it replaces an Adam-family optimizer; this is SGD
    digits = get_workload("digits")  # a mirrored digit is another digit; its network has no whitening layer
    assert {t: trick_status(get_trick(t), digits)[0] for t in ("flip_tta", "whitening_init", "identity_init")} == {
        "flip_tta": "excluded", "whitening_init": "excluded", "identity_init": "excluded"}


def test_whitening_init_finds_its_convolution_inside_a_squeeze_excite_wrapper(tmp_path):
    # squeeze_excite with min_channels <= 3 wraps the whiten convolution (3 -> 24 channels) at INIT, before
    # FIT_START where whitening_init looks for it: it still sets and freezes that convolution.
    from composer.core import Callback

    class Frozen(Callback):
        def fit_end(self, state, logger):
            self.frozen = not cifar10.find_net(state.model, "test").whiten.conv.weight.requires_grad

    seen = Frozen()
    with generated_cifar(tmp_path):
        wl = get_workload("cifar10-tiny")
        run_trial(wl, ["squeeze_excite", "whitening_init"], seed=0, overrides={"squeeze_excite.min_channels": 2},
                  budget=Budget("flops", 2 * baseline_step_flops(wl)), callbacks=[seen])
    assert seen.frozen
