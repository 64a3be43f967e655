"""The optimizer-replacing tricks (adamw, lion, muon, schedule_free) against their papers' update rules,
their parameter groups, and their interplay with Lookahead, SAM and evaluation."""

from types import SimpleNamespace

import pytest
import torch
from composer.core import Callback
from schedulefree import AdamWScheduleFree, AdamWScheduleFreePaper

from trickstack.algorithms.adamw import AdamW, adamw_from, decoupled_decay
from trickstack.algorithms.lion import lion_from, lion_step
from trickstack.algorithms.lookahead import Lookahead, LookaheadOptimizer
from trickstack.algorithms.muon import (
    Muon,
    MuonWithAdamW,
    input_output_params,
    muon_from,
    newton_schulz,
    shape_scale,
)
from trickstack.algorithms.muon.muon import NS_COEFFICIENTS
from trickstack.algorithms.schedule_free import (
    ScheduleFree,
    averaged_point,
    gradient_point,
    schedule_free_from,
)
from trickstack.core.budget import Budget
from trickstack.core.errors import UserError
from trickstack.trial.runner import run_trial
from trickstack.tricks.optimizers import decays
from trickstack.workloads.mnist1d import ConvBase
from trickstack.workloads.shakespeare_char import GPT


def generator(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def grads(shape, steps: int, seed: int = 1) -> list[torch.Tensor]:
    g = generator(seed)
    return [torch.randn(shape, generator=g) for _ in range(steps)]


def run(optimizer: torch.optim.Optimizer, param: torch.nn.Parameter, gradients) -> list[torch.Tensor]:
    """Step ``optimizer`` with the given gradients; the parameter after each step."""
    trace = []
    for g in gradients:
        param.grad = g.clone()
        optimizer.step()
        trace.append(param.detach().clone())
    return trace


def toy_net() -> torch.nn.Module:
    return torch.nn.Sequential(torch.nn.Conv1d(2, 4, 3), torch.nn.Flatten(), torch.nn.LayerNorm(8), torch.nn.Linear(8, 3))


# ------------------------------------------------------------------------------------------- adamw


def test_adamw_step_is_adams_step_then_decoupled_decay_of_the_old_weights():
    """The paper's Algorithm 2: w_t = w_{t-1} - lr * adam_direction_t - lr * wd * w_{t-1}."""
    lr, wd = 0.05, 0.3
    w0 = torch.randn(4, 5, generator=generator())
    gs = grads((4, 5), steps=4)
    adam = torch.nn.Parameter(w0.clone())
    adam_trace = [w0] + run(torch.optim.Adam([adam], lr=lr), adam, gs)  # the moments do not depend on w
    decoupled = torch.nn.Parameter(w0.clone())
    adamw_trace = run(torch.optim.AdamW([decoupled], lr=lr, weight_decay=wd), decoupled, gs)

    expected = w0
    for t in range(len(gs)):
        expected = decoupled_decay(expected, lr, wd) + (adam_trace[t + 1] - adam_trace[t])
        torch.testing.assert_close(adamw_trace[t], expected, rtol=0, atol=1e-6)

    coupled = torch.nn.Parameter(w0.clone())  # Adam's L2: wd * w joins the gradient, then is normalised
    coupled_trace = run(torch.optim.Adam([coupled], lr=lr, weight_decay=wd), coupled, gs)
    assert (coupled_trace[-1] - adamw_trace[-1]).abs().max() > 1e-3


def test_adamw_from_keeps_the_workloads_settings_and_decays_only_matrices():
    net = toy_net()
    base = torch.optim.Adam(net.parameters(), lr=3e-3, betas=(0.8, 0.95), eps=1e-6, weight_decay=0.5)
    new = adamw_from(base, weight_decay=0.2)
    assert isinstance(new, torch.optim.AdamW)
    assert sorted(id(p) for g in new.param_groups for p in g["params"]) == sorted(id(p) for p in net.parameters())
    for group in new.param_groups:
        assert (group["lr"], group["betas"], group["eps"]) == (3e-3, (0.8, 0.95), 1e-6)
        assert all(decays(p) == (group["weight_decay"] == 0.2) for p in group["params"])
        assert group["weight_decay"] in (0.0, 0.2)  # the coupled 0.5 is gone
    assert {tuple(p.shape) for g in new.param_groups if g["weight_decay"] for p in g["params"]} == {(4, 2, 3), (3, 8)}


def test_replacing_tricks_keep_each_group_learning_rate_and_refuse_non_adam_optimizers():
    net = toy_net()
    matrices = [p for p in net.parameters() if p.dim() >= 2]
    others = [p for p in net.parameters() if p.dim() < 2]
    base = torch.optim.AdamW([{"params": matrices, "weight_decay": 0.1}, {"params": others, "lr": 1e-4}], lr=1e-3)
    assert [g["lr"] for g in adamw_from(base, 0.1).param_groups] == [1e-3, 1e-4]
    assert [g["lr"] for g in lion_from(base, 0.1, 0.9, 0.99, 1.0).param_groups] == pytest.approx([1e-4, 1e-5])
    with pytest.raises(UserError, match="adamw replaces an Adam-family optimizer.*SGD has no betas, eps"):
        adamw_from(torch.optim.SGD(net.parameters(), lr=0.1), 0.1)


# -------------------------------------------------------------------------------------------- lion


def test_lion_pytorch_follows_the_papers_update():
    lr, beta1, beta2, wd = 0.01, 0.9, 0.99, 0.5
    w0 = torch.randn(6, 3, generator=generator())
    gs = grads((6, 3), steps=5)
    param = torch.nn.Parameter(w0.clone())
    optimizer = lion_from(torch.optim.Adam([param], lr=0.05), lr_ratio=0.2, beta1=beta1, beta2=beta2, weight_decay=wd)
    assert optimizer.param_groups[0]["lr"] == pytest.approx(lr)
    trace = run(optimizer, param, gs)
    expected, momentum = w0, torch.zeros_like(w0)
    for g, actual in zip(gs, trace):
        step = (expected * (1 - lr * wd) - actual) / lr  # what is left after the decay: the sign update
        torch.testing.assert_close(step.abs(), torch.ones_like(step), rtol=0, atol=1e-4)  # every entry is +-1
        expected, momentum = lion_step(expected, g, momentum, lr, beta1, beta2, wd)
        torch.testing.assert_close(actual, expected, rtol=0, atol=1e-6)


def test_lion_update_entries_are_minus_one_zero_or_one_times_lr():
    param, exp_avg = torch.ones(4), torch.tensor([0.0, 1.0, -1.0, 0.0])
    grad = torch.tensor([3.0, -20.0, 1e-6, 0.0])  # large and tiny arguments of the sign move the same distance
    new, _ = lion_step(param, grad, exp_avg, lr=0.1, beta1=0.9, beta2=0.99, weight_decay=0.0)
    torch.testing.assert_close((param - new) / 0.1, torch.tensor([1.0, -1.0, -1.0, 0.0]), rtol=0, atol=1e-6)


# -------------------------------------------------------------------------------------------- muon


def quintic(s: torch.Tensor, steps: int = 5) -> torch.Tensor:
    a, b, c = NS_COEFFICIENTS
    for _ in range(steps):
        s = a * s + b * s**3 + c * s**5
    return s


@pytest.mark.parametrize("shape", [(24, 80), (80, 24), (32, 32)])
def test_newton_schulz_keeps_singular_vectors_and_maps_singular_values_by_the_quintic(shape):
    g = torch.randn(shape, generator=generator(), dtype=torch.float64)
    u, s, vh = torch.linalg.svd(g, full_matrices=False)
    expected = u @ torch.diag(quintic(s / g.norm())) @ vh
    result = newton_schulz(g)
    assert result.dtype == torch.float32 and result.shape == g.shape
    torch.testing.assert_close(result.double(), expected, rtol=0, atol=1e-4)
    kept = s / g.norm() > 1e-2  # values this far above 0 reach the quintic's band in five steps
    band = torch.linalg.svdvals(result.double())[kept]
    assert band.min() > 0.67 and band.max() < 1.21, band


def test_muon_step_is_nesterov_momentum_orthogonalised_and_shape_scaled():
    lr, beta, wd = 0.02, 0.95, 0.1
    w0 = torch.randn(6, 2, 3, generator=generator())  # a conv kernel: flattened to 6 x 6
    gs = grads((6, 2, 3), steps=3)
    param = torch.nn.Parameter(w0.clone())
    optimizer = MuonWithAdamW([{"params": [param], "use_muon": True, "lr": lr, "momentum": beta, "weight_decay": wd}])
    trace = run(optimizer, param, gs)
    expected, buf = w0, torch.zeros_like(w0)
    for g, actual in zip(gs, trace):
        buf = beta * buf + (1 - beta) * g
        nesterov = (1 - beta) * g + beta * buf
        direction = newton_schulz(nesterov.reshape(6, -1)).reshape(w0.shape)
        expected = expected * (1 - lr * wd) - lr * shape_scale(6, 6) * direction
        torch.testing.assert_close(actual, expected, rtol=0, atol=1e-6)
    assert shape_scale(6, 2) == pytest.approx(3**0.5)


def test_muon_adamw_groups_step_exactly_as_torch_adamw():
    w0 = torch.randn(5, 4, generator=generator())
    gs = grads((5, 4), steps=4)
    ours, theirs = torch.nn.Parameter(w0.clone()), torch.nn.Parameter(w0.clone())
    settings = dict(lr=3e-3, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.1)
    a = run(MuonWithAdamW([{"params": [ours], "use_muon": False, **settings}]), ours, gs)
    b = run(torch.optim.AdamW([theirs], **settings), theirs, gs)
    assert all(torch.equal(x, y) for x, y in zip(a, b))


def test_muon_takes_hidden_matrices_and_leaves_embeddings_head_gains_to_adamw():
    gpt = GPT(layers=1, width=16, heads=2)
    base = torch.optim.AdamW(gpt.parameters(), lr=1e-3, betas=(0.9, 0.99))
    optimizer = muon_from(base, gpt, lr=0.02, momentum=0.95, weight_decay=0.1)
    muon = {id(p) for g in optimizer.param_groups if g["use_muon"] for p in g["params"]}
    names = {id(p): n for n, p in gpt.named_parameters()}
    hidden = sorted(n for n, p in gpt.named_parameters() if n.startswith("blocks.") and p.dim() == 2)
    assert len(hidden) >= 4 and sorted(names[i] for i in muon) == hidden  # attention and MLP matrices
    adam = {names[id(p)]: g for g in optimizer.param_groups if not g["use_muon"] for p in g["params"]}
    assert adam["wte.weight"]["weight_decay"] == 0.1 and adam["wte.weight"]["lr"] == 1e-3  # the tied head too
    assert adam["ln_f.weight"]["weight_decay"] == 0.0 and adam["wpe.weight"]["betas"] == (0.9, 0.99)
    cnn = ConvBase()  # no embeddings; its output layer is named by `output_layer`
    assert input_output_params(cnn) == {id(cnn.linear.weight), id(cnn.linear.bias)}


# ----------------------------------------------------------------------------------- schedule_free


def algorithm_1(w0, gs, lrs, beta1, beta2, eps, wd, released):
    """The paper's Algorithm 1 (schedule-free AdamW), returning (y, z, x) after each step.

    The paper's rate is gamma_t = lr_t * sqrt(1 - beta2^t): it scales the Adam step, the decay
    gamma_t * wd * y and the average's weights c_{t+1} = gamma_t^2 / sum gamma_i^2. ``released``: the
    released optimizer (schedulefree >= 1.3) uses lr_t, without the bias factor, for the decay and the
    weights; the Adam step is the same (its bias correction sits in v).
    """
    x = z = w0.clone()
    v = torch.zeros_like(w0)
    weight_sum, out = 0.0, []
    for t, (g, lr) in enumerate(zip(gs, lrs), start=1):
        y = (1 - beta1) * z + beta1 * x
        v = beta2 * v + (1 - beta2) * g * g
        gamma = lr * (1 - beta2**t) ** 0.5
        z = z - gamma * g / (v.sqrt() + eps) - (lr if released else gamma) * wd * y
        weight = (lr if released else gamma) ** 2
        weight_sum += weight
        c = weight / weight_sum
        x = (1 - c) * x + c * z
        out.append(((1 - beta1) * z + beta1 * x, z, x))
    return out


@pytest.mark.parametrize("cls,released", [(AdamWScheduleFree, True), (AdamWScheduleFreePaper, False)])
def test_schedulefree_follows_algorithm_1_and_its_y_z_x_relations(cls, released):
    beta1, beta2, eps, wd = 0.9, 0.999, 1e-8, 0.05
    lrs = [0.01 * min(1.0, (t + 1) / 4) for t in range(8)]  # a warm-up, then constant, as the trick sets it
    w0 = torch.randn(3, 4, generator=generator())
    gs = grads((3, 4), steps=len(lrs))
    param = torch.nn.Parameter(w0.clone())
    optimizer = cls([param], lr=lrs[0], betas=(beta1, beta2), eps=eps, weight_decay=wd, foreach=False)
    optimizer.train()
    reference = algorithm_1(w0, gs, lrs, beta1, beta2, 0.0, wd, released)  # eps placement differs: use 0
    for (y, z, x), g, lr in zip(reference, gs, lrs):
        optimizer.param_groups[0]["lr"] = lr
        param.grad = g.clone()
        optimizer.step()
        torch.testing.assert_close(param.detach(), y, rtol=1e-5, atol=1e-6)  # training weights: y
        torch.testing.assert_close(optimizer.state[param]["z"], z, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(averaged_point(param.detach(), optimizer.state[param]["z"], beta1), x, rtol=1e-5, atol=1e-6)
        optimizer.eval()  # evaluation weights: x
        torch.testing.assert_close(param.detach(), x, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(gradient_point(param.detach(), z, beta1), y, rtol=1e-5, atol=1e-6)
        optimizer.train()


def test_schedule_free_from_sets_the_ratio_beta_and_decay_and_is_in_train_mode():
    net = toy_net()
    base = torch.optim.Adam(net.parameters(), lr=2e-3, betas=(0.9, 0.98), eps=1e-7)
    optimizer = schedule_free_from(base, lr_ratio=3.0, beta=0.95, weight_decay=0.1)
    assert all(g["train_mode"] and g["lr"] == pytest.approx(6e-3) and g["betas"] == (0.95, 0.98) for g in optimizer.param_groups)
    assert [g["weight_decay"] for g in optimizer.param_groups] == [0.1, 0.0]


class EvalSpy(Callback):
    """Records the weights after the last optimizer step (y), and z and the weights at evaluation."""

    def fit_start(self, state, logger):
        self.y = None
        def record(*_):
            self.y = [p.detach().clone() for p in state.model.parameters()]

        state.optimizers[0].register_step_post_hook(record)

    def eval_before_forward(self, state, logger):
        if not hasattr(self, "evaluated"):
            optimizer = next(a for a in state.algorithms if isinstance(a, ScheduleFree))._optimizers[0]
            self.z = [optimizer.state[p]["z"].clone() for p in state.model.parameters()]
            self.evaluated = [p.detach().clone() for p in state.model.parameters()]
            self.lr = optimizer.param_groups[0]["lr"]


@pytest.mark.parametrize("stack", [["schedule_free"], ["sam", "schedule_free"]])
def test_the_final_evaluation_sees_the_averaged_point(small_budget, stack):
    spy = EvalSpy()
    budget = Budget("flops", small_budget.value / 4)
    run_trial("mnist1d", stack, seed=0, budget=budget, overrides={"schedule_free.beta": 0.8}, callbacks=[spy])
    for y, z, evaluated in zip(spy.y, spy.z, spy.evaluated):
        torch.testing.assert_close(evaluated, averaged_point(y, z, 0.8), rtol=1e-5, atol=1e-6)
    assert any(not torch.equal(y, e) for y, e in zip(spy.y, spy.evaluated))
    assert spy.lr == pytest.approx(1e-2)  # constant schedule at the workload's lr x 1.0 after the warm-up


# ------------------------------------------------------------------------------- wrapping order


@pytest.mark.parametrize("lookahead_first", [True, False])
@pytest.mark.parametrize("trick", [AdamW(), Muon()])
def test_lookahead_wraps_the_replacement_whichever_runs_first(trick, lookahead_first):
    net = toy_net()
    state = SimpleNamespace(optimizers=(torch.optim.Adam(net.parameters(), lr=1e-3),), model=net)
    order = [Lookahead(k=3, alpha=0.4), trick] if lookahead_first else [trick, Lookahead(k=3, alpha=0.4)]
    for algorithm in order:
        algorithm.apply(None, state, None)
    (optimizer,) = state.optimizers
    assert isinstance(optimizer, LookaheadOptimizer) and (optimizer.k, optimizer.alpha) == (3, 0.4)
    assert isinstance(optimizer.optimizer, (torch.optim.AdamW, MuonWithAdamW))
    assert optimizer.param_groups is optimizer.optimizer.param_groups  # schedules reach the inner optimizer


@pytest.mark.parametrize("stack,alone", [(["lookahead", "muon"], ["muon"]), (["lion", "sam"], ["lion"])])
def test_wrappers_stack_on_the_replaced_optimizers_in_a_trial(small_budget, stack, alone):
    budget = Budget("flops", small_budget.value / 4)
    wrapped, plain = (run_trial("mnist1d", s, seed=0, budget=budget) for s in (stack, alone))
    assert not wrapped.diverged and wrapped.metrics.train_loss != plain.metrics.train_loss  # the wrapper acted
