"""z_loss, logit_softcap and wsd: each pure function checked against its paper's definition."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from trickstack.algorithms.logit_softcap.logit_softcap import (
    SoftCap,
    apply_soft_cap,
    soft_cap,
)
from trickstack.algorithms.wsd.wsd import wsd_multiplier
from trickstack.algorithms.z_loss.z_loss import IGNORE_INDEX, target_mask, z_loss
from trickstack.core.errors import UserError
from trickstack.tricks.registry import check_compatible

# ------------------------------------------------------------------------------------ z_loss


def test_z_loss_is_the_coefficient_times_the_mean_squared_log_normaliser():
    torch.manual_seed(0)
    logits = torch.randn(4, 7, 11) * 3
    log_z = torch.log(torch.exp(logits).sum(-1))  # PaLM's Z = sum_i exp(logit_i), per position
    assert torch.allclose(z_loss(logits, 1e-4), 1e-4 * (log_z**2).mean())
    assert torch.allclose(z_loss(logits[:, 0], 0.5), 0.5 * (log_z[:, 0] ** 2).mean())  # classification (N, C)


def test_z_loss_is_zero_when_the_logits_are_normalised():
    logits = torch.log_softmax(torch.randn(5, 9), dim=-1)  # log Z = 0 exactly, up to rounding
    assert float(z_loss(logits, 1.0)) < 1e-12


def test_z_loss_masks_ignored_targets():
    logits = torch.randn(2, 3, 5)
    targets = torch.tensor([[1, IGNORE_INDEX, 2], [IGNORE_INDEX, 0, 4]])
    mask = target_mask(logits, targets)
    log_z = torch.logsumexp(logits, -1)
    assert torch.allclose(z_loss(logits, 1.0, mask), log_z[mask].square().mean())
    assert target_mask(logits, torch.rand(2, 3, 5)) is None  # soft targets mark no positions
    assert float(z_loss(logits, 1.0, torch.zeros(2, 3, dtype=torch.bool))) == 0.0


@pytest.mark.parametrize("shift", [-3.0, 2.0])
def test_z_loss_gradient_pushes_log_z_towards_zero(shift):
    logits = (torch.randn(8, 10) + shift).requires_grad_()
    before = torch.logsumexp(logits, -1).detach()
    z_loss(logits, 1.0).backward()
    # d/dx log²Z = 2 log Z softmax(x): a descent step moves every logit against the sign of log Z.
    expected = 2 * before[:, None] * torch.softmax(logits.detach(), -1) / logits.shape[0]
    assert torch.allclose(logits.grad, expected, atol=1e-6)
    after = torch.logsumexp(logits.detach() - 0.1 * logits.grad, -1)
    assert bool((after.abs() < before.abs()).all())


# ------------------------------------------------------------------------------ logit_softcap


def test_soft_cap_is_bounded_odd_and_near_identity_for_small_logits():
    x = torch.linspace(-1000, 1000, 2001)
    y = soft_cap(x, 30.0)
    assert bool((y.abs() <= 30.0).all())
    assert torch.allclose(soft_cap(-x, 30.0), -y)  # odd
    small = torch.linspace(-0.3, 0.3, 61)  # |x| <= cap / 100: tanh(u) = u - u^3/3 + ...
    assert torch.allclose(soft_cap(small, 30.0), small, rtol=1e-4, atol=0)
    assert torch.allclose(y, 30.0 * torch.tanh(x / 30.0))  # Gemma 2's definition
    assert float(soft_cap(torch.tensor(30.0), 30.0)) == pytest.approx(30 * math.tanh(1.0))


def test_apply_soft_cap_keeps_parameter_names_and_tied_weights():
    from trickstack.workloads.shakespeare_char import GPT

    torch.manual_seed(0)
    gpt = GPT(vocab=5, context=4, layers=1, heads=1, width=4)
    names = [n for n, _ in gpt.named_parameters()]
    with torch.no_grad():
        gpt.wte.weight.mul_(1000)  # logits far beyond the cap
    assert apply_soft_cap(gpt, 2.0) == ["lm_head"]
    assert [n for n, _ in gpt.named_parameters()] == names
    assert gpt.lm_head.weight is gpt.wte.weight and isinstance(gpt.lm_head.logit_softcap, SoftCap)
    out = gpt(torch.tensor([[0, 1, 2, 3]]))
    assert bool((out.abs() <= 2.0).all())
    with pytest.raises(UserError, match="soft-capped already"):
        apply_soft_cap(gpt, 2.0)
    with pytest.raises(UserError, match="output_layer"):
        apply_soft_cap(nn.Linear(2, 2), 2.0)


def test_the_cap_survives_a_deepcopy_and_applies_in_eval_mode():
    import copy

    net = nn.Sequential()
    net.add_module("head", nn.Linear(3, 3))
    net.output_layer = "head"
    apply_soft_cap(net, 1.0)
    x = torch.full((2, 3), 50.0)
    for model in (net.eval(), copy.deepcopy(net)):
        assert torch.allclose(model(x), soft_cap(net.head.weight @ x.T + net.head.bias[:, None], 1.0).T)


# -------------------------------------------------------------------------------------- wsd


@pytest.mark.parametrize("shape", ["linear", "1-sqrt"])
@pytest.mark.parametrize("alpha_f", [0.0, 0.1])
def test_wsd_has_three_phases(shape, alpha_f):
    warmup, decay = 0.1, 0.25

    def f(p):
        return wsd_multiplier(p, warmup, decay, alpha_f, shape)

    # Warm-up: linear from 0, reaching 1 at `warmup`.
    for p in (0.0, 0.025, 0.05, 0.099):
        assert f(p) == pytest.approx(p / warmup)
    # Stable: exactly the peak.
    assert all(f(p) == 1.0 for p in (0.1, 0.3, 0.5, 0.75))
    # Decay: from 1 to alpha_f, monotone, with the paper's shape.
    grid = [0.75 + 0.25 * i / 100 for i in range(101)]
    values = [f(p) for p in grid]
    assert values[0] == 1.0 and values[-1] == pytest.approx(alpha_f)
    assert all(a >= b for a, b in zip(values, values[1:]))
    s = 0.36  # fraction of the decay done
    expected = 1 - s if shape == "linear" else 1 - math.sqrt(s)  # Hägele et al.: linear and 1-sqrt cooldowns
    assert f(0.75 + s * decay) == pytest.approx(alpha_f + (1 - alpha_f) * expected)
    assert f(1.5) == pytest.approx(alpha_f)  # clipped past the end


def test_one_minus_sqrt_decays_faster_early_than_linear():
    early = 0.8 + 0.2 * 0.1
    assert wsd_multiplier(early, 0.0, 0.2, 0.0, "1-sqrt") < wsd_multiplier(early, 0.0, 0.2, 0.0, "linear")


def test_wsd_rejects_bad_arguments():
    with pytest.raises(UserError, match="shape"):
        wsd_multiplier(0.5, 0.1, 0.2, 0.0, "cosine")
    with pytest.raises(UserError, match="summing to at most 1"):
        wsd_multiplier(0.5, 0.6, 0.5)


def test_wsd_conflicts_with_other_schedules():
    for other in ("cosine_schedule", "lr_warmup", "schedule_free"):
        assert "conflict" in check_compatible(["wsd", other], ("classification",), "toy")


def test_wsd_follows_the_budget_and_no_step_runs_at_zero():
    """Step s of T runs at the midpoint (s + 0.5) / T, T read live (the budget controller moves it)."""
    from types import SimpleNamespace

    from composer.core import Event, Time

    from trickstack.algorithms.wsd.wsd import WSD

    param = nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([param], lr=1.0)
    state = SimpleNamespace(max_duration=Time(10, "ba"), optimizers=[optimizer], schedulers=[])
    WSD(warmup=0.2, decay=0.2, alpha_f=0.0, shape="linear").apply(Event.FIT_START, state, None)
    scheduler = state.schedulers[0]
    lrs = []
    for step in range(10):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert lrs == pytest.approx([0.25, 0.75, 1, 1, 1, 1, 1, 1, 0.75, 0.25])
    state.max_duration = Time(20, "ba")  # the budget now buys twice the steps: the decay moves later
    scheduler.step()
    assert optimizer.param_groups[0]["lr"] == 1.0
