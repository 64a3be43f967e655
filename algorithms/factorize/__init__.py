"""Factorize: replace wide linear and 2-D convolution layers by two thinner ones in sequence (Composer's)."""

from collections import Counter
from typing import Optional

import torch
from composer.algorithms import Factorize as ComposerFactorize
from composer.algorithms.factorize.factorize_modules import factorizing_could_speedup
from composer.core import Event, State
from composer.loggers import Logger

from trickstack.core.errors import UserError
from trickstack.core.params import Param
from trickstack.tricks.registry import Citation, register_trick


def tied_linears(model: torch.nn.Module) -> list[str]:
    """Names of the Linear modules whose weight is shared with another module (tied embeddings)."""
    uses = Counter(id(p) for _, p in model.named_parameters(remove_duplicate=False))
    return [n for n, m in model.named_modules() if isinstance(m, torch.nn.Linear) and uses[id(m.weight)] > 1]


class Factorize(ComposerFactorize):
    """Composer's Factorize, refusing to factorize a tied Linear layer.

    Composer's surgery would give such a layer new weights, untying it, and drop the shared tensor
    from the optimizer: the embedding it is tied to would silently stop training.
    """

    def apply(self, event: Event, state: State, logger: Logger) -> Optional[int]:
        if self.factorize_linears:
            modules = dict(state.model.named_modules())
            for name in tied_linears(state.model):
                m = modules[name]
                if min(m.in_features, m.out_features) >= self.min_features and factorizing_could_speedup(m, self.latent_features):
                    raise UserError(f"factorize: min_features={self.min_features} would factorize {name}, whose weight "
                                    f"is tied to another module's; raise min_features above {min(m.in_features, m.out_features)}")
        return super().apply(event, state, logger)


@register_trick(
    name="factorize",
    year=2016,
    summary="Replace each wide linear or 2-D convolution layer by a low-rank pair of thinner layers",
    citation=Citation(
        "Accelerating Very Deep Convolutional Networks for Classification and Detection (Zhang et al.)",
        "https://arxiv.org/abs/1505.06798",
    ),
    domains=("vision", "language"),
    changes=("model",),
    # Acts on torch.nn.Linear and torch.nn.Conv2d modules wide enough; MNIST-1D's CNN has 1-D
    # convolutions and a 125 -> 10 head, narrower than the smallest min_features.
    noop_on={"mnist1d": "its convolutions are 1-D (not factorized) and its only linear layer, 125 -> 10, "
                        "is narrower than min_features"},
    params=(
        Param("latent_features", 0.25, low=0.1, high=0.45,
              help="rank of a factorized linear layer, as a fraction of its smaller side (below 0.5 saves FLOPs)"),
        Param("min_features", 128, low=128, high=4096, log=True,
              help="linear layers with fewer input or output features stay whole"),
        Param("latent_channels", 0.25, low=0.1, high=0.9,
              help="rank of a factorized convolution, as a fraction of its smaller channel count"),
        Param("min_channels", 16, low=4, high=512, log=True,
              help="convolutions with fewer input or output channels stay whole"),
    ),
)
def factorize(latent_features: float, min_features: int, latent_channels: float, min_channels: int) -> Factorize:
    return Factorize(factorize_convs=True, factorize_linears=True, min_channels=min_channels,
                     latent_channels=latent_channels, min_features=min_features, latent_features=latent_features)
