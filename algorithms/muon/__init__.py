"""Muon: orthogonalised momentum for hidden weight matrices, AdamW for the rest (ours)."""

from trickstack.algorithms.muon.muon import (
    Muon,
    MuonWithAdamW,
    input_output_params,
    muon_from,
    newton_schulz,
    shape_scale,
)
from trickstack.core.params import Param
from trickstack.tricks.optimizers import ADAM_OPTIMIZER
from trickstack.tricks.registry import Citation, register_trick

__all__ = ["Muon", "MuonWithAdamW", "input_output_params", "muon_from", "newton_schulz", "shape_scale"]


@register_trick(
    name="muon",
    year=2024,
    summary="Step hidden weight matrices along their orthogonalised momentum (Newton-Schulz); AdamW for the rest",
    citation=Citation("Muon: An optimizer for hidden layers in neural networks (Jordan et al.)",
                      "https://kellerjordan.github.io/posts/muon/"),
    domains=("vision", "language"),
    changes=("optimizer",),
    requires=(ADAM_OPTIMIZER,),  # keeps the workload optimizer's lr, betas and eps
    conflicts=("adamw", "lion", "schedule_free"),  # each replaces the optimizer
    params=(
        # The reference's 0.02: an orthogonal step of spectral norm ~lr x shape scale, in its own units
        # (not relative to Adam's lr, which still drives the embeddings, head, biases and gains).
        Param("lr", 0.02, low=0.002, high=0.2, log=True, help="Muon's learning rate for hidden matrices"),
        Param("momentum", 0.95, low=0.8, high=0.99, help="momentum of the orthogonalised (Nesterov) update"),
        Param("weight_decay", 0.0, low=0.0, high=1.0,
              help="decoupled decay per unit of lr on every matrix (the reference's default is none)"),
    ),
)
def muon(lr: float, momentum: float, weight_decay: float) -> Muon:
    return Muon(lr=lr, momentum=momentum, weight_decay=weight_decay)
