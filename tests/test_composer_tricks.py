"""The Composer wrappers' own logic: cost keys that match what the algorithm does, tuple batches for
sequence-length warm-up, no factorizing of tied weights, and digits accepting smaller images."""

import doctest
import importlib

import pytest
import torch
from composer.core import Time

from trickstack.core.errors import UserError

WRAPPERS = ("progressive_resizing", "seq_length_warmup", "factorize")


@pytest.mark.parametrize("name", [*WRAPPERS, "unusable"])
def test_doctests(name):
    module = importlib.import_module(f"trickstack.algorithms.{name}")
    assert doctest.testmod(module).failed == 0


class FakeState:
    """What the wrappers read from a Composer State: the batch and the elapsed fraction of the budget."""

    def __init__(self, batch, elapsed: float):
        self.batch, self.elapsed = batch, elapsed

    def get_elapsed_duration(self):
        return Time.from_timestring(f"{self.elapsed}dur")

    def batch_get_item(self, key):
        return self.batch[key]

    def batch_set_item(self, key, value):
        batch = list(self.batch)
        batch[key] = value
        self.batch = tuple(batch)


@pytest.mark.parametrize("mode", ["resize", "crop"])
@pytest.mark.parametrize("increment", [1, 2, 4])
def test_progressive_resizing_cost_key_is_the_side_it_resizes_to(mode, increment):
    from trickstack.algorithms.progressive_resizing import ProgressiveResizing

    algorithm = ProgressiveResizing(mode=mode, initial_scale=0.5, delay_fraction=0.2, finetune_fraction=0.2,
                                    size_increment=increment)
    assert algorithm.cost_key(FakeState(None, 0.0)) is None  # before the first batch
    seen = set()
    for elapsed in [i / 40 for i in range(40)]:
        state = FakeState((torch.rand(3, 1, 8, 8), torch.arange(3)), elapsed)
        algorithm.apply(None, state)
        assert state.batch[0].shape[-2:] == (algorithm.cost_key(state),) * 2
        seen.add(algorithm.cost_key(state))
    assert min(seen) == 4 and max(seen) == 8


def test_progressive_resizing_refuses_empty_images():
    from trickstack.algorithms.progressive_resizing import ProgressiveResizing

    algorithm = ProgressiveResizing(initial_scale=0.25, size_increment=8)  # 8 px * 0.25 / 8 rounds to 0
    with pytest.raises(UserError, match="0 pixels"):
        algorithm.apply(None, FakeState((torch.rand(2, 1, 8, 8), torch.arange(2)), 0.0))


@pytest.mark.parametrize("truncate", [True, False])
def test_seq_length_warmup_cuts_tuple_batches_and_keeps_targets_aligned(truncate):
    from trickstack.algorithms.seq_length_warmup import SeqLengthWarmup

    algorithm = SeqLengthWarmup(duration=0.5, min_seq_length=8, step_size=8, truncate=truncate)
    text = torch.arange(1000)
    windows = torch.stack([text[i:i + 65] for i in (0, 100, 200, 300)])  # 4 windows of 64 + 1
    assert algorithm.cost_key(FakeState(None, 0.0)) is None
    for elapsed, length in [(0.0, 8), (0.1, 16), (0.45, 56), (0.5, 64), (0.9, 64)]:
        state = FakeState((windows[:, :-1], windows[:, 1:]), elapsed)
        algorithm.apply(None, state, logger=None)
        x, y = state.batch
        assert x.shape[1] == y.shape[1] == length == algorithm.cost_key(state)
        assert torch.equal(y, x + 1)  # every target is still the next character of its input
        tokens = 4 * length if truncate else 256 // length * length  # reshaping drops the remainder
        assert x.numel() == tokens


def test_factorize_refuses_tied_weights_and_acts_on_digits():
    from composer.algorithms.factorize import FactorizedConv2d, FactorizedLinear

    from trickstack.algorithms.factorize import Factorize, tied_linears
    from trickstack.workloads.digits import SmallCNN
    from trickstack.workloads.shakespeare_char import GPT

    gpt = GPT()
    assert tied_linears(gpt) == ["lm_head"]
    state = FakeState(None, 0.0)
    state.model, state.optimizers = gpt, [torch.optim.AdamW(gpt.parameters())]
    with pytest.raises(UserError, match="lm_head"):
        Factorize(min_features=32, latent_features=0.25).apply(None, state, logger=None)

    cnn = SmallCNN()
    state.model, state.optimizers = cnn, [torch.optim.Adam(cnn.parameters())]

    class Logger:
        def log_hyperparameters(self, values):
            pass

    Factorize(min_channels=16, latent_channels=0.25, min_features=128).apply(None, state, Logger())
    assert isinstance(cnn.conv2, FactorizedConv2d) and not isinstance(cnn.conv1, FactorizedConv2d)
    assert not isinstance(cnn.linear, FactorizedLinear)  # 512 -> 10: narrower than min_features
    assert cnn(torch.rand(2, 1, 8, 8)).shape == (2, 10)


def test_digits_cnn_accepts_smaller_images_and_is_unchanged_at_full_size():
    from trickstack.workloads.digits import SmallCNN

    torch.manual_seed(0)
    cnn = SmallCNN()
    x = torch.rand(5, 1, 8, 8)
    h = cnn.pool(cnn.conv2(cnn.conv1(x).relu()).relu())
    assert torch.equal(cnn.linear(h.flatten(1)), cnn(x))  # the 4x4 grid pooling is the identity at 8x8
    for side in (2, 4, 5, 6, 7):
        assert cnn(torch.rand(3, 1, side, side)).shape == (3, 10)
