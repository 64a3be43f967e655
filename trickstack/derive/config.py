"""A configuration `recipe derive` runs: the tricks on and the values its jobs carry.

>>> c = Config(frozenset({"label_smoothing"}), {"label_smoothing.smoothing": 0.1, "lr": 0.02})
>>> c.subset([]).params, sorted(c.plus("ema", {}).arm), describe(c)
({'lr': 0.02}, ['ema', 'label_smoothing'], 'label_smoothing(smoothing=0.1), lr=0.02')
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Sequence

from trickstack.ablations.jobs import EVAL, Job


@dataclass(frozen=True, eq=False)
class Config:
    """One configuration to run: the tricks on and the values that jobs carry (``"trick.param"`` and
    nuisance values), as the engine's search jobs carry them, so equal configurations share jobs."""

    arm: frozenset
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> tuple:
        return self.arm, json.dumps(self.params, sort_keys=True)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Config) and self.key == other.key

    def __hash__(self) -> int:
        return hash(self.key)

    def jobs(self, seeds: Sequence[int]) -> list:
        return [Job(EVAL, self.arm, s, trick_params=self.params) for s in seeds]

    def subset(self, tricks: Sequence[str]) -> "Config":
        """The configuration with only ``tricks`` on (their values and the nuisance values kept)."""
        keep = {k: v for k, v in self.params.items() if "." not in k or k.split(".", 1)[0] in tricks}
        return Config(frozenset(tricks), keep)

    def plus(self, trick: str, params: dict[str, Any]) -> "Config":
        return Config(self.arm | {trick}, {**self.params, **{f"{trick}.{k}": v for k, v in params.items()}})


def describe(config: Config) -> str:
    """``label_smoothing(smoothing=0.12) + mixup, lr=0.02``."""
    parts = []
    for t in sorted(config.arm):
        values = {k.split(".", 1)[1]: v for k, v in config.params.items() if k.startswith(f"{t}.")}
        parts.append(f"{t}({fmt(values)})" if values else t)
    nuisance = {k: v for k, v in config.params.items() if "." not in k}
    return (" + ".join(parts) or "no trick") + (f", {fmt(nuisance)}" if nuisance else "")


def fmt(values: dict) -> str:
    return ", ".join(f"{k}={num(v)}" for k, v in sorted(values.items()))


def num(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)
