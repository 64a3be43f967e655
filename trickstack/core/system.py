"""A study's system settings: the numeric precision its runs train in and whether their model is compiled.

They are settings of the whole study (every arm trains alike), not per-arm choices. A run's record keeps them
in its provenance, and they are part of its class of hardware, so that times in bf16 or compiled are never
compared with times in fp32:

>>> settings("bf16", compile=True)
('bf16', 'compile')
>>> settings("fp32", compile=False)
()
>>> check_precision("fp16")
Traceback (most recent call last):
...
trickstack.core.errors.UserError: precision 'fp16' is not one of fp32, bf16
"""

from __future__ import annotations

from typing import Literal, Optional

from trickstack.core.errors import UserError

PRECISIONS = ("fp32", "bf16")  # fp32: no autocast; bf16: torch.autocast to bfloat16 over the model's forward
Precision = Literal["fp32", "bf16"]
SETTINGS = ("bf16", "compile")  # what a trick may be unable to run under (`TrickInfo.unsupported`)


def check_precision(precision: str) -> str:
    """``precision`` if it is one of `PRECISIONS`, else a `UserError` naming it."""
    if precision not in PRECISIONS:
        raise UserError(f"precision {precision!r} is not one of {', '.join(PRECISIONS)}")
    return precision


def settings(precision: Optional[str] = "fp32", compile: Optional[bool] = False) -> tuple[str, ...]:
    """The settings in force that differ from the default (fp32, not compiled); None (older records) is the default."""
    return (*(("bf16",) if precision == "bf16" else ()), *(("compile",) if compile else ()))
