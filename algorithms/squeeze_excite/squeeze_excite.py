"""Composer's Squeeze-and-Excitation, with the gates' parameters placed in the optimizer group of their convolution.

Composer's `SqueezeExcite` updates the optimizer with `composer.utils.module_surgery.update_params_in_optimizer`,
which refuses to add parameters to an optimizer of several groups when none is removed (cifar10's SGD has two:
BatchNorm biases at a higher learning rate, the rest). `SqueezeExciteInGroups` does the same surgery without
the optimizer, then puts each gate's parameters in the group of the convolution it follows
(`trickstack.tricks.surgery.update_optimizers`). With one group, that is where Composer puts them too.
"""

from __future__ import annotations

from typing import Optional

from composer.algorithms import SqueezeExcite
from composer.algorithms.squeeze_excite.squeeze_excite import SqueezeExciteConv2d, apply_squeeze_excite
from composer.core import Event, State
from composer.loggers import Logger

from trickstack.tricks.surgery import update_optimizers


class SqueezeExciteInGroups(SqueezeExcite):
    """`SqueezeExcite` whose new parameters join the optimizer group of the convolution each gate follows."""

    def apply(self, event: Event, state: State, logger: Logger) -> Optional[int]:
        wrapped = {id(m) for m in state.model.modules() if isinstance(m, SqueezeExciteConv2d)}
        apply_squeeze_excite(state.model, latent_channels=self.latent_channels, min_channels=self.min_channels,
                             optimizers=None)
        for module in state.model.modules():
            if isinstance(module, SqueezeExciteConv2d) and id(module) not in wrapped:
                update_optimizers(state.optimizers, [], module.se.parameters(), like=module.conv.weight)
        return None
