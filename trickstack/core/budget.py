"""Fixed compute: a budget in FLOPs (default), samples or seconds.

A budget is the unit and amount of training compute every arm of a comparison gets; the callback
that spends it during a trial is `trickstack.trial.flops.BudgetController`.

>>> Budget.parse("2e11")
Budget(unit='flops', value=200000000000.0)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from trickstack.core.errors import UserError

Unit = Literal["flops", "samples", "seconds"]
UNITS: tuple[Unit, ...] = ("flops", "samples", "seconds")


@dataclass(frozen=True)
class Budget:
    unit: Unit
    value: float

    def __post_init__(self) -> None:
        if self.unit not in UNITS:
            raise UserError(f"budget unit must be one of {', '.join(UNITS)}, got {self.unit!r}")
        if not (isinstance(self.value, (int, float)) and math.isfinite(self.value) and self.value > 0):
            raise UserError(f"budget must be a positive, finite number of {self.unit}, got {self.value!r}")

    def __str__(self) -> str:
        """``2e+09 flops``: how messages and tables show a budget."""
        return f"{self.value:g} {self.unit}"

    @classmethod
    def parse(cls, text: str, unit: str = "flops") -> "Budget":
        try:
            value = float(text)
        except ValueError:
            raise UserError(f"budget: cannot read {text!r} as a number of {unit}") from None
        return cls(unit, value)  # type: ignore[arg-type]

    def scaled(self, fraction: float) -> "Budget":
        """This budget times ``fraction`` (a fraction of a reference budget).

        >>> Budget("flops", 4e10).scaled(0.25)
        Budget(unit='flops', value=10000000000.0)
        """
        check_fraction(fraction)
        if not math.isfinite(self.value * fraction):
            raise UserError(f"{fraction:g} times the reference budget is not a finite number of {self.unit}")
        return Budget(self.unit, self.value * fraction)


def check_fraction(fraction: float) -> float:
    """``fraction`` if it can scale a budget (positive and finite), else a `UserError`."""
    if not (isinstance(fraction, (int, float)) and math.isfinite(fraction) and fraction > 0):
        raise UserError(f"a fraction of the reference budget must be a positive, finite number, e.g. 0.25 "
                        f"(got {fraction:g})")
    return fraction
