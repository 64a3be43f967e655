"""Muon (Jordan et al., 2024): momentum, orthogonalised by a Newton-Schulz iteration, for hidden matrices.

Each hidden weight matrix (a convolution kernel is flattened to ``(out, in * k...)``) steps along
``NS(m)``, its momentum with every singular value pushed towards 1, scaled by
``sqrt(max(1, rows / cols))``. Embeddings, the output layer, biases and gains take AdamW steps, as in
Keller Jordan's reference ``MuonWithAuxAdam``. Written here rather than taken from a library: the
one maintained package (pytorch-optimizer) runs the iteration in bfloat16 only, a GPU speed choice
that is ~10x slower than float32 on CPU for this project's small matrices.
"""

from __future__ import annotations

import torch
from composer.core import Algorithm, Event, State
from composer.loggers import Logger
from torch.optim.adamw import adamw as adamw_update

from trickstack.tricks.optimizers import replace_optimizers, split_for_decay

NS_COEFFICIENTS = (3.4445, -4.7750, 2.0315)  # the reference's quintic: steep at 0, lands in ~[0.7, 1.2]
NS_STEPS = 5


def newton_schulz(matrix: torch.Tensor, steps: int = NS_STEPS) -> torch.Tensor:
    """``U S' V^T`` for ``matrix = U S V^T``, with ``S'`` approximately 1: the quintic Newton-Schulz iteration.

    The matrix is scaled to Frobenius norm 1 (so every singular value is at most 1), then each step
    maps ``X -> a X + b (X X^T) X + c (X X^T)^2 X``, i.e. each singular value ``s -> a s + b s^3 + c s^5``.
    Computed in float32 on the smaller Gram matrix. Singular values well above 1e-3 of the norm end
    in about [0.68, 1.2], not exactly at 1 -- by design, which is what lets five steps suffice:

    >>> s = torch.linalg.svdvals(newton_schulz(torch.randn(16, 48, generator=torch.Generator().manual_seed(0))))
    >>> bool(s.min() > 0.6 and s.max() < 1.25)
    True
    """
    a, b, c = NS_COEFFICIENTS
    x = matrix.float()
    wide = x.size(-2) <= x.size(-1)
    x = x if wide else x.mT
    x = x / (x.norm() + 1e-7)
    for _ in range(steps):
        gram = x @ x.mT
        x = a * x + (b * gram + c * gram @ gram) @ x
    return x if wide else x.mT


def shape_scale(rows: int, cols: int) -> float:
    """The reference's step multiplier for a ``rows x cols`` matrix: ``sqrt(max(1, rows / cols))``.

    >>> shape_scale(512, 128), shape_scale(128, 512)
    (2.0, 1.0)
    """
    return max(1.0, rows / cols) ** 0.5


class MuonWithAdamW(torch.optim.Optimizer):
    """One optimizer, two kinds of groups: ``use_muon=True`` groups take Muon steps, the others torch's AdamW.

    A Muon step: ``m <- momentum * m + (1 - momentum) * g``; ``u = g + momentum * (m - g)`` (Nesterov)
    or ``m``; ``w <- w * (1 - lr * wd) - lr * shape_scale * newton_schulz(u)``. One optimizer, so the
    trainer's scheduler (one LambdaLR) scales both kinds of groups.
    """

    def __init__(self, groups: list[dict]):
        defaults = dict(lr=0.02, momentum=0.95, nesterov=True, weight_decay=0.0, betas=(0.9, 0.999), eps=1e-8, use_muon=False)
        super().__init__(groups, defaults)

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            (self._muon if group["use_muon"] else self._adamw)(group)
        return loss

    def _muon(self, group: dict) -> None:
        beta, lr = group["momentum"], group["lr"]
        for p in group["params"]:
            if p.grad is None:
                continue
            buf = self.state[p].setdefault("momentum_buffer", torch.zeros_like(p))
            buf.lerp_(p.grad, 1.0 - beta)
            update = p.grad.lerp(buf, beta) if group["nesterov"] else buf
            matrix = update.reshape(update.size(0), -1)
            direction = newton_schulz(matrix) * shape_scale(*matrix.shape)
            p.mul_(1.0 - lr * group["weight_decay"])
            p.add_(direction.reshape(p.shape).to(p.dtype), alpha=-lr)

    def _adamw(self, group: dict) -> None:
        params = [p for p in group["params"] if p.grad is not None]
        for p in params:
            if not self.state[p]:
                self.state[p].update(step=torch.tensor(0.0), exp_avg=torch.zeros_like(p), exp_avg_sq=torch.zeros_like(p))
        if not params:
            return
        states = [self.state[p] for p in params]
        beta1, beta2 = group["betas"]
        adamw_update(  # torch's own AdamW update, the code path torch.optim.AdamW runs on CPU
            params, [p.grad for p in params], [s["exp_avg"] for s in states], [s["exp_avg_sq"] for s in states], [],
            [s["step"] for s in states], foreach=False, amsgrad=False, beta1=beta1, beta2=beta2, lr=group["lr"],
            weight_decay=group["weight_decay"], eps=group["eps"], maximize=False,
        )


def input_output_params(model: torch.nn.Module) -> set[int]:
    """``id``s of the parameters Muon leaves to AdamW beyond biases and gains: embeddings and the output layer.

    Embeddings are the weights of ``nn.Embedding`` modules. The output layer is the child a network
    names in its ``output_layer`` attribute (the workloads' convention), or else the last module in
    registration order that owns a matrix. Tied weights (a head sharing the embedding) count once.
    """
    ids = {id(p) for m in model.modules() if isinstance(m, torch.nn.Embedding) for p in m.parameters()}
    named = [m for m in model.modules() if isinstance(getattr(m, "output_layer", None), str)]
    if named:
        head = getattr(named[0], named[0].output_layer)
    else:
        owners = [m for m in model.modules() if any(p.dim() >= 2 for p in m.parameters(recurse=False))]
        head = owners[-1] if owners else torch.nn.Module()
    return ids | {id(p) for p in head.parameters()}


def muon_from(
    optimizer: torch.optim.Optimizer, model: torch.nn.Module, lr: float, momentum: float, weight_decay: float
) -> MuonWithAdamW:
    """`MuonWithAdamW` over ``optimizer``'s parameters: Muon at ``lr`` for hidden matrices and kernels,
    AdamW at the workload's lr, betas and eps for the rest. ``weight_decay`` (decoupled, per unit of
    each group's lr) applies to every matrix, Muon's or AdamW's, never to biases or gains."""
    excluded = input_output_params(model)
    groups = []
    for part in split_for_decay(optimizer, owner="muon"):
        hidden = [p for p in part.params if part.decay and id(p) not in excluded]
        rest = [p for p in part.params if not (part.decay and id(p) not in excluded)]
        if hidden:
            groups.append({"params": hidden, "use_muon": True, "lr": lr, "momentum": momentum, "weight_decay": weight_decay})
        if rest:
            groups.append({"params": rest, "use_muon": False, "lr": part.lr, "betas": part.betas, "eps": part.eps,
                           "weight_decay": weight_decay if part.decay else 0.0})
    return MuonWithAdamW(groups)


class Muon(Algorithm):
    """Replaces the workload's optimizer by `muon_from` at INIT, before the schedulers are bound."""

    def __init__(self, lr: float = 0.02, momentum: float = 0.95, weight_decay: float = 0.0):
        self.lr = lr  # Muon's own rate for hidden matrices: spectral-norm step size, not Adam's units
        self.momentum = momentum
        self.weight_decay = weight_decay  # per unit of each group's lr

    def match(self, event: Event, state: State) -> bool:
        return event == Event.INIT

    def apply(self, event: Event, state: State, logger: Logger) -> None:
        replace_optimizers(state, lambda o: muon_from(o, state.model, self.lr, self.momentum, self.weight_decay))
