"""Architecture tricks for the ``gpt_blocks`` contract: each pure function against its paper's
definition, each surgery's effect on the network and the optimizer, and the surgeries stacked.

shakespeare-char trains here on the generated text of `shakespeare_fixture` (never the real corpus).
"""

from __future__ import annotations

import itertools
import math
import random

import pytest
import torch
import torch.nn.functional as F
from composer.core import Callback
from shakespeare_fixture import generated_corpus
from torch import nn

from trickstack.algorithms.qk_norm import apply_qk_norm, head_norm
from trickstack.algorithms.relu2 import ReLUSquared, apply_relu2, relu_squared
from trickstack.algorithms.rmsnorm import apply_rmsnorm, rms_norm
from trickstack.algorithms.rope import Rotary, apply_rope, rotate
from trickstack.algorithms.swiglu import (
    SwiGLUMLP,
    apply_swiglu,
    swiglu_ffn,
    swiglu_hidden,
)
from trickstack.algorithms.untied_embeddings import untie_embeddings
from trickstack.algorithms.zero_init_residual import zero_residual_projections
from trickstack.core.budget import Budget
from trickstack.core.errors import UserError
from trickstack.trial.runner import baseline_step_flops, run_trial
from trickstack.tricks.registry import check_compatible, get_trick, list_tricks
from trickstack.tricks.surgery import GPT_BLOCKS, trick_generator
from trickstack.workloads import get_workload
from trickstack.workloads.shakespeare_char import CONTEXT, GPT, VOCAB_SIZE

SURGERY = sorted(t for t in list_tricks() if GPT_BLOCKS in get_trick(t).requires)
STACK = ["qk_norm", "rmsnorm", "rope", "swiglu", "untied_embeddings", "zero_init_residual"]  # all but relu2 (conflicts)
WIDTH, HEADS, LAYERS = 128, 4, 4


@pytest.fixture(autouse=True)
def seeded():
    torch.manual_seed(0)  # the random inputs below


def gpt_and_optimizer(seed: int = 0) -> tuple[GPT, torch.optim.Optimizer]:
    """The workload's network and optimizer (two groups: matrices with weight decay, gains without)."""
    wl = get_workload("shakespeare-char")
    torch.manual_seed(seed)
    model = wl.build_model()
    return model.model, wl.make_optimizer(model, wl.resolve_nuisance())


def assert_optimizer_matches(gpt: nn.Module, optimizer: torch.optim.Optimizer) -> None:
    """Every parameter of the network is in the optimizer once, matrices in group 0, gains in group 1."""
    held = [p for g in optimizer.param_groups for p in g["params"]]
    assert len(held) == len({id(p) for p in held}) == len(list(gpt.parameters()))
    assert {id(p) for p in held} == {id(p) for p in gpt.parameters()}
    assert all(p.dim() == 2 for p in optimizer.param_groups[0]["params"])
    assert all(p.dim() == 1 for p in optimizer.param_groups[1]["params"])


def tokens(n: int = 3, t: int = CONTEXT, seed: int = 0) -> torch.Tensor:
    return torch.randint(0, VOCAB_SIZE, (n, t), generator=torch.Generator().manual_seed(seed))


def test_every_surgery_trick_requires_the_contract():
    assert SURGERY == sorted(["qk_norm", "relu2", "rmsnorm", "rope", "swiglu", "untied_embeddings", "zero_init_residual"])
    for name in SURGERY:
        assert get_trick(name).changes == ("model",)
        for workload in ("mnist1d", "digits"):
            assert "requires gpt_blocks" in check_compatible([name], get_workload(workload).provides, workload)
    assert "conflict" in check_compatible(["swiglu", "relu2"], get_workload("shakespeare-char").provides, "shakespeare-char")


def nanogpt_forward(gpt: GPT, idx: torch.Tensor) -> torch.Tensor:
    """nanoGPT's forward written out with the network's weights, ignoring the slots."""
    n, t = idx.shape
    x = gpt.wte.weight[idx] + gpt.wpe.weight[:t]
    for b in gpt.blocks:
        h = F.layer_norm(x, (WIDTH,), b.ln1.weight, None, 1e-5)
        q, k, v = (z.view(n, t, HEADS, WIDTH // HEADS).transpose(1, 2) for z in (h @ b.attn.qkv.weight.T).split(WIDTH, dim=2))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2).reshape(n, t, WIDTH)
        x = x + y @ b.attn.proj.weight.T
        h = F.layer_norm(x, (WIDTH,), b.ln2.weight, None, 1e-5)
        x = x + F.gelu(h @ b.mlp.fc.weight.T) @ b.mlp.fc_proj.weight.T
    return F.layer_norm(x, (WIDTH,), gpt.ln_f.weight, None, 1e-5) @ gpt.wte.weight.T


def test_default_slots_compute_nanogpt():
    """With every slot at its default the network is nanoGPT's (the baseline is untouched by the contract)."""
    gpt, _ = gpt_and_optimizer()
    idx = tokens()
    with torch.no_grad():
        assert torch.allclose(gpt(idx), nanogpt_forward(gpt, idx), atol=1e-5)
    assert gpt.lm_head.weight is gpt.wte.weight


# ------------------------------------------------------------------------------------ rmsnorm


def test_rms_norm_has_unit_rms_and_keeps_the_mean():
    x = torch.randn(5, 128, dtype=torch.float64) * 3 + 2  # a mean far from zero
    y = rms_norm(x, eps=0.0)
    # Zhang & Sennrich eq. 4 with unit gain: a_i / sqrt(mean(a^2)); no centring, so y is x rescaled.
    assert torch.allclose(y.pow(2).mean(-1).sqrt(), torch.ones(5, dtype=torch.float64))
    assert torch.allclose(y, x / x.pow(2).mean(-1, keepdim=True).sqrt())
    assert (y.mean(-1) > 0.3).all()  # about 2 / sqrt(2^2 + 3^2) = 0.55; LayerNorm would have made it zero
    gain = torch.rand(128, dtype=torch.float64)
    assert torch.allclose(rms_norm(x, gain, eps=0.0), y * gain)


def test_rmsnorm_surgery_replaces_the_residual_norms_and_keeps_the_optimizer_whole():
    gpt, opt = gpt_and_optimizer()
    with torch.no_grad():
        gpt.ln_f.weight.mul_(1.5)  # a trained gain is carried over
    assert apply_rmsnorm(gpt, [opt]) == 2 * LAYERS + 1
    assert not any(isinstance(m, nn.LayerNorm) for m in gpt.modules())
    assert all(isinstance(m, nn.RMSNorm) for b in gpt.blocks for m in (b.ln1, b.ln2)) and isinstance(gpt.ln_f, nn.RMSNorm)
    assert torch.equal(gpt.ln_f.weight, torch.full((WIDTH,), 1.5))
    x = torch.randn(2, 7, WIDTH)
    assert torch.allclose(gpt.ln_f(x), rms_norm(x, gpt.ln_f.weight, eps=1e-5), atol=1e-6)
    assert_optimizer_matches(gpt, opt)


# ------------------------------------------------------------------------------------ rope


def roformer_matrix(m: int, d: int, base: float) -> torch.Tensor:
    """RoFormer eq. 15: block-diagonal R^d_{Theta,m} of 2x2 rotations by m * theta_i, theta_i = base^(-2(i-1)/d)."""
    r = torch.zeros(d, d, dtype=torch.float64)
    for i in range(d // 2):
        a = m * base ** (-2 * i / d)
        r[2 * i:2 * i + 2, 2 * i:2 * i + 2] = torch.tensor([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    return r


def test_rotate_is_the_roformer_rotation():
    t, d, base = 10, 8, 100.0
    x = torch.randn(2, 3, t, d, dtype=torch.float64)
    y = rotate(x, base)
    for m in range(t):
        assert torch.allclose(y[..., m, :], x[..., m, :] @ roformer_matrix(m, d, base).T, atol=1e-6)
    assert torch.allclose(y.norm(dim=-1), x.norm(dim=-1))  # a rotation preserves norms
    with pytest.raises(UserError, match="even"):
        rotate(torch.zeros(1, 4, 3))


def test_rotated_scores_depend_only_on_the_offset():
    d, t = 32, 20
    q, k = torch.randn(d, dtype=torch.float64), torch.randn(d, dtype=torch.float64)
    rq, rk = rotate(q.expand(t, d)), rotate(k.expand(t, d))  # the same q and k at every position
    scores = rq @ rk.T  # scores[m, n] = <R_m q, R_n k> = q^T R_{n-m} k
    for m, n, shift in [(0, 3, 5), (2, 2, 9), (7, 1, 11), (4, 15, 4)]:
        assert torch.allclose(scores[m, n], scores[m + shift, n + shift])
    assert not torch.allclose(scores[0, 1], scores[0, 5])  # but they do depend on it


def test_rope_surgery_drops_learned_positions():
    gpt, opt = gpt_and_optimizer()
    wpe = gpt.wpe.weight
    apply_rope(gpt, base=10000.0, optimizers=[opt])
    assert isinstance(gpt.wpe, nn.Identity) and all(isinstance(b.attn.rotary, Rotary) for b in gpt.blocks)
    assert not any(p is wpe for g in opt.param_groups for p in g["params"])
    assert_optimizer_matches(gpt, opt)
    # Order still matters, through the rotation alone: in one attention layer, reversing the first
    # characters changes the last position's output, which without position information it would not.
    attn = gpt.blocks[0].attn
    idx = torch.arange(8)[None]
    swapped = torch.cat([idx[:, :4].flip(1), idx[:, 4:]], dim=1)
    with torch.no_grad():
        attn.qkv.weight.mul_(30.0)  # peaked attention; at N(0, 0.02) it is nearly uniform
        x, y = gpt.wpe(gpt.wte(idx)), gpt.wpe(gpt.wte(swapped))
        change = lambda: ((attn(x)[0, -1] - attn(y)[0, -1]).norm() / attn(x)[0, -1].norm()).item()  # noqa: E731
        assert change() > 1e-3  # 5e-3 here, against < 1e-5 without the rotation
        attn.rotary = nn.Identity()
        assert change() < 1e-5


# ------------------------------------------------------------------------------------ qk_norm


@pytest.mark.parametrize("kind", ["layer", "rms"])
def test_head_norm_gives_unit_rms_per_head(kind):
    q = torch.randn(2, HEADS, 10, 32, dtype=torch.float64) * torch.tensor([0.1, 1.0, 10.0, 100.0]).view(1, HEADS, 1, 1) + 3
    y = head_norm(q, kind, eps=0.0)
    assert torch.allclose(y.pow(2).mean(-1).sqrt(), torch.ones(2, HEADS, 10, dtype=torch.float64))
    if kind == "layer":  # LayerNorm (Dehghani et al.) also centres each head's vector
        assert torch.allclose(y.mean(-1), torch.zeros(2, HEADS, 10, dtype=torch.float64), atol=1e-12)
    else:
        assert torch.allclose(y, q / q.pow(2).mean(-1, keepdim=True).sqrt())


@pytest.mark.parametrize("kind", ["layer", "rms"])
def test_qk_norm_surgery_makes_attention_blind_to_the_scale_of_q_and_k(kind):
    gpt, opt = gpt_and_optimizer()
    apply_qk_norm(gpt, kind, [opt])
    attn = gpt.blocks[0].attn
    assert type(attn.q_norm) is type(attn.k_norm) is (nn.LayerNorm if kind == "layer" else nn.RMSNorm)
    assert attn.q_norm.weight.shape == (WIDTH // HEADS,) and attn.q_norm is not attn.k_norm
    assert_optimizer_matches(gpt, opt)  # the new gains are in the no-decay group
    x = torch.randn(2, 9, WIDTH)
    with torch.no_grad():
        before = attn(x)
        attn.qkv.weight[: 2 * WIDTH] *= 50.0  # scale queries and keys, not values
        assert torch.allclose(attn(x), before, atol=1e-4)


# ------------------------------------------------------------------------------------ relu2


def test_relu_squared_is_relu_then_square():
    x = torch.linspace(-3, 3, 61, dtype=torch.float64)
    assert torch.equal(relu_squared(x), torch.where(x > 0, x * x, torch.zeros_like(x)))
    gpt, _ = gpt_and_optimizer()
    apply_relu2(gpt)
    assert all(isinstance(b.mlp.act, ReLUSquared) for b in gpt.blocks)
    assert not any(isinstance(m, nn.GELU) for m in gpt.modules())


# ------------------------------------------------------------------------------------ swiglu


def test_swiglu_is_the_gated_linear_unit_with_swish():
    x = torch.randn(4, 16, dtype=torch.float64)
    w, v, w2 = (torch.randn(*s, dtype=torch.float64) for s in [(16, 10), (16, 10), (10, 16)])
    xw = x @ w
    expected = ((xw * torch.sigmoid(xw)) * (x @ v)) @ w2  # Shazeer eq. 6: (Swish_1(xW) * xV) W2
    assert torch.allclose(swiglu_ffn(x, w, v, w2), expected)
    assert torch.allclose(swiglu_ffn(x, w, v, w2), (F.silu(xw) * (x @ v)) @ w2)  # Swish_1 is SiLU
    mlp = SwiGLUMLP(16, 10, std=0.02, out_std=0.01, generator=torch.Generator().manual_seed(0)).double()
    assert torch.allclose(mlp(x), swiglu_ffn(x, mlp.gate.weight.T, mlp.fc.weight.T, mlp.fc_proj.weight.T))


def test_swiglu_surgery_matches_the_parameter_count():
    gpt, opt = gpt_and_optimizer()
    gelu_mlp = sum(p.numel() for p in gpt.blocks[0].mlp.parameters())
    apply_swiglu(gpt, torch.Generator().manual_seed(0), [opt])
    mlp = gpt.blocks[0].mlp
    assert isinstance(mlp, SwiGLUMLP) and swiglu_hidden(WIDTH) == 341 == mlp.gate.out_features
    assert abs(sum(p.numel() for p in mlp.parameters()) / gelu_mlp - 1) < 0.002  # 130,944 vs 131,072
    assert abs(mlp.gate.weight.std().item() - 0.02) < 0.002
    assert abs(mlp.fc_proj.weight.std().item() - gpt.residual_init_std) < 0.001
    assert_optimizer_matches(gpt, opt)


# ------------------------------------------------------------------------------------ zero_init_residual


def test_zero_init_residual_makes_every_block_the_identity():
    gpt, _ = gpt_and_optimizer()
    zeroed = zero_residual_projections(gpt)
    assert len(zeroed) == 2 * LAYERS and all(not p.any() for p in zeroed)
    x = torch.randn(2, 11, WIDTH)
    with torch.no_grad():
        for block in gpt.blocks:
            assert torch.equal(block(x), x)
        idx = tokens()
        assert torch.equal(gpt(idx), gpt.lm_head(gpt.ln_f(gpt.wpe(gpt.wte(idx)))))
    # The zeroed projections still learn: their inputs are not zero, so their gradients are not.
    F.cross_entropy(gpt(tokens()).flatten(0, 1), tokens(seed=1).flatten()).backward()
    assert all(p.grad.abs().sum() > 0 for p in zeroed)


# ------------------------------------------------------------------------------------ untied_embeddings


def test_untied_embeddings_are_distinct_and_learn_differently():
    gpt, opt = gpt_and_optimizer()
    assert gpt.lm_head.weight is gpt.wte.weight
    head = untie_embeddings(gpt, torch.Generator().manual_seed(0), [opt])
    assert gpt.lm_head.weight is head and head is not gpt.wte.weight
    assert head.data_ptr() != gpt.wte.weight.data_ptr() and not torch.equal(head, gpt.wte.weight)
    assert abs(head.std().item() - 0.02) < 0.002  # GPT-2's N(0, 0.02)
    assert_optimizer_matches(gpt, opt)  # the new head decays with the matrices
    idx = torch.full((2, 16), 5)  # one character only: the input embedding's other rows get no gradient
    F.cross_entropy(gpt(idx).flatten(0, 1), idx.flatten()).backward()
    embed, out = gpt.wte.weight.grad, head.grad
    assert not torch.allclose(embed, out)
    assert embed[torch.arange(VOCAB_SIZE) != 5].abs().sum() == 0 and out[torch.arange(VOCAB_SIZE) != 5].abs().sum() > 0
    with pytest.raises(UserError, match="already untied"):
        untie_embeddings(gpt)


# ------------------------------------------------------------------------------------ stacking


def stacked(order: list[str], seed: int = 0) -> tuple[GPT, torch.optim.Optimizer]:
    """The network after the pure surgeries of ``order``, applied in that order (as the algorithms do)."""
    gpt, opt = gpt_and_optimizer(seed)
    apply = {
        "qk_norm": lambda: apply_qk_norm(gpt, "layer", [opt]),
        "rmsnorm": lambda: apply_rmsnorm(gpt, [opt]),
        "rope": lambda: apply_rope(gpt, 10000.0, [opt]),
        "swiglu": lambda: apply_swiglu(gpt, trick_generator(seed, "swiglu"), [opt]),
        "untied_embeddings": lambda: untie_embeddings(gpt, trick_generator(seed, "untied_embeddings"), [opt]),
        "zero_init_residual": lambda: zero_residual_projections(gpt),
    }
    for name in order:
        apply[name]()
    return gpt, opt


def test_surgeries_commute():
    """Any order of the stack gives the same network (names, module types, weights) and a whole optimizer."""
    reference, _ = stacked(STACK)
    orders = [STACK[::-1]] + [random.Random(i).sample(STACK, len(STACK)) for i in range(4)]
    orders += [list(o) for o in itertools.islice(itertools.permutations(STACK), 0, 720, 97)]
    for order in orders:
        gpt, opt = stacked(order)
        assert [type(m).__name__ for m in gpt.modules()] == [type(m).__name__ for m in reference.modules()], order
        ours, theirs = gpt.state_dict(), reference.state_dict()
        assert list(ours) == list(theirs) and all(torch.equal(ours[k], theirs[k]) for k in ours), order
        assert_optimizer_matches(gpt, opt)
    assert all(not b.mlp.fc_proj.weight.any() for b in reference.blocks)  # zero_init_residual survived swiglu


class OptimizerAudit(Callback):
    """At FIT_START (after every INIT surgery): the optimizer holds exactly the model's parameters."""

    def __init__(self) -> None:
        self.modules: list[str] = []

    def fit_start(self, state, logger) -> None:
        held = [p for o in state.optimizers for g in o.param_groups for p in g["params"]]
        assert {id(p) for p in held} == {id(p) for p in state.model.parameters()} and len(held) == len(set(map(id, held)))
        self.modules = [type(m).__name__ for m in state.model.modules()]


@pytest.fixture(scope="module")
def text(tmp_path_factory):
    """shakespeare-char reads the generated text for this module; its cached splits are dropped after."""
    with generated_corpus(tmp_path_factory.mktemp("shakespeare")):
        yield


@pytest.mark.parametrize("name", SURGERY)
def test_each_surgery_runs_through_the_trainer(name, text):
    """One step through Composer: the INIT surgery leaves the optimizer holding exactly the new parameters."""
    audit = OptimizerAudit()
    record = run_trial("shakespeare-char", [name], seed=0, callbacks=[audit],
                       budget=Budget("flops", baseline_step_flops(get_workload("shakespeare-char"))))
    assert record.steps >= 1 and not record.diverged and math.isfinite(record.metrics.eval_value)
    assert audit.modules  # FIT_START was reached


def test_full_stack_trains_and_is_deterministic(text):
    wl = get_workload("shakespeare-char")
    budget = Budget("flops", 5 * baseline_step_flops(wl))  # the contract tests audit each trick's FLOPs alone
    audit = OptimizerAudit()
    first = run_trial("shakespeare-char", STACK[::-1], seed=0, budget=budget, callbacks=[audit])
    second = run_trial("shakespeare-char", STACK, seed=0, budget=budget)
    assert not first.diverged and math.isfinite(first.metrics.eval_value)
    assert first.metrics.eval_value < math.log(VOCAB_SIZE) + 0.5
    assert abs(first.flops / budget.value - 1) <= 0.02
    assert (first.metrics.eval_value, first.metrics.train_loss, first.steps) == (
        second.metrics.eval_value, second.metrics.train_loss, second.steps)
    for module in ("RMSNorm", "Rotary", "SwiGLUMLP", "LayerNorm"):  # LayerNorm: qk_norm's default kind
        assert module in audit.modules
    assert "LearnedPositions" not in audit.modules and "GELU" not in audit.modules
