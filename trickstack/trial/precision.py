"""A trial's precision and compilation: bf16 autocast over the model's forward, `torch.compile` by Composer.

bf16 is `torch.autocast` to bfloat16 around the model's ``forward``, in training and in evaluation, on the
trial's device; floating outputs come back in float32, so that the loss, a trick's changes to it and the
eval metrics are computed in float32 from the bf16 forward. Composer's own ``precision="amp_bf16"`` is not
used: Composer 0.32.1 refuses it on the CPU (``_validate_precision``), and its context autocasts ``cuda``
whenever CUDA is visible, even for a model on the CPU; one mechanism on every device keeps a CPU test of bf16
a test of what a GPU runs. Compilation is Composer's (``compile_config={}``: `torch.compile` of the model's
forward with default settings, after the tricks' surgery at INIT), applied around the autocast.

FLOPs under both are counted as in fp32: torch's `FlopCounterMode` counts the same matrix products whatever
their dtype (autocast's casts cost none), and a compiled forward run under the counter is counted as the
eager one (`tests/test_precision.py` checks both).
"""

from __future__ import annotations

import types
from typing import Any, Optional

import torch
from torch.utils._pytree import tree_map

from trickstack.core.system import check_precision


def _to_float32(value: Any) -> Any:
    if isinstance(value, torch.Tensor) and value.dtype == torch.bfloat16:
        return value.float()
    return value


def autocast_forward(model: torch.nn.Module, device: str, precision: str) -> None:
    """Make ``model.forward`` run under bf16 autocast on ``device`` (``cpu``, ``cuda:N``, ``mps``) when
    ``precision`` is ``bf16``; its bfloat16 outputs are returned as float32. fp32 leaves the model as it is."""
    if check_precision(precision) == "fp32":
        return
    device_type = device.split(":")[0]

    def bf16_forward(self: torch.nn.Module, *args: Any, **kwargs: Any) -> Any:
        with torch.autocast(device_type, dtype=torch.bfloat16):
            outputs = type(self).forward(self, *args, **kwargs)
        return tree_map(_to_float32, outputs)

    # A method bound to the model, as an instance attribute: nn.Module.__call__ (and its hooks) call it, and a deep
    # copy of the model (SWA's averaged model) gets it bound to the copy, not to this model.
    model.forward = types.MethodType(bf16_forward, model)


def compile_config(compile: bool) -> Optional[dict]:
    """Composer's ``compile_config``: ``{}`` compiles with torch's defaults, None does not compile."""
    return {} if compile else None
