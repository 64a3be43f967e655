"""A trick's own hyperparameters: default value, allowed range and Optuna search space.

>>> p = Param("smoothing", 0.1, low=0.0, high=0.3, help="probability mass moved off the true class")
>>> p.validate(0.2, owner="label_smoothing")
0.2
>>> p.parse("0.05", owner="label_smoothing")
0.05
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Optional, Union

from trickstack.core.errors import UserError

Value = Union[float, int, str, bool]


@dataclass(frozen=True)
class Param:
    """One hyperparameter of a trick.

    The type follows ``default``: a float or int has an inclusive range ``[low, high]`` (log-scaled
    in the search space when ``log``); a str or bool may list its ``choices``. A str without
    choices is fixed in searches and checked by ``check`` (for example a Composer time string).
    """

    name: str
    default: Value
    low: Optional[float] = None
    high: Optional[float] = None
    log: bool = False
    choices: Optional[tuple[Value, ...]] = None
    help: str = ""
    check: Optional[Callable[[Any], Any]] = None  # raises ValueError on a bad value

    def __post_init__(self) -> None:
        if self.kind in ("float", "int") and (self.low is None or self.high is None):
            raise ValueError(f"numeric parameter {self.name!r} needs low and high")
        # The default's range is checked by its owner (`TrickInfo`, `Workload`) when that is defined,
        # so the message can name the trick or workload it belongs to.

    @property
    def kind(self) -> str:
        if isinstance(self.default, bool):
            return "bool"
        return type(self.default).__name__

    @property
    def searchable(self) -> bool:
        return self.kind in ("float", "int") or self.choices is not None or self.kind == "bool"

    def parse(self, text: str, owner: str) -> Value:
        """Turn the text of a value (``KEY=VALUE`` on the command line) into this parameter's type, then validate it."""
        where = f"{owner}.{self.name}"
        try:
            if self.kind == "bool":
                lowered = text.strip().lower()
                if lowered not in ("true", "false", "1", "0", "yes", "no"):
                    raise ValueError(text)
                value: Value = lowered in ("true", "1", "yes")
            elif self.kind == "int":
                number = float(text)
                if not math.isfinite(number) or number != int(number):  # 1e400 reads as inf
                    raise ValueError(text)
                value = int(number)
            elif self.kind == "float":
                value = float(text)
            else:
                value = text
        except ValueError:
            raise UserError(f"{where}: cannot read {text!r} as a {self.kind}") from None
        return self.validate(value, owner)

    def validate(self, value: Any, owner: str) -> Value:
        """Return ``value`` coerced to this parameter's type, or raise a `UserError` naming it."""
        where = f"{owner}.{self.name}"
        kind = self.kind
        if kind == "float" and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        expected = {"float": float, "int": int, "str": str, "bool": bool}[kind]
        if not isinstance(value, expected) or (kind != "bool" and isinstance(value, bool)):
            raise UserError(f"{where} must be a {kind}, got {value!r}")
        if kind in ("float", "int") and not (self.low <= value <= self.high):
            raise UserError(f"{where} = {value!r} is outside its allowed range [{self.low}, {self.high}]")
        if self.choices is not None and value not in self.choices:
            raise UserError(f"{where} = {value!r} is not one of {list(self.choices)}")
        if self.check is not None:
            try:
                self.check(value)
            except (ValueError, TypeError) as error:
                raise UserError(f"{where} = {value!r} is invalid: {error}") from None
        return value

    def suggest(self, trial: Any, prefix: str) -> Value:
        """Draw a value from an Optuna trial under the name ``prefix.name``."""
        key = f"{prefix}.{self.name}"
        if self.kind == "float":
            return trial.suggest_float(key, self.low, self.high, log=self.log)
        if self.kind == "int":
            return trial.suggest_int(key, int(self.low), int(self.high), log=self.log)
        if self.kind == "bool" and self.choices is None:
            return trial.suggest_categorical(key, [False, True])
        if self.choices is not None:
            return trial.suggest_categorical(key, list(self.choices))
        return self.default

    def describe(self) -> str:
        if self.kind in ("float", "int"):
            space = f"[{self.low}, {self.high}]" + (" log" if self.log else "")
        elif self.choices is not None:
            space = "{" + ", ".join(map(str, self.choices)) + "}"
        elif self.kind == "bool":
            space = "{True, False}"  # searched like a choice (see `searchable`)
        else:
            space = "fixed"
        return f"{self.name}={self.default!r} {space}"
