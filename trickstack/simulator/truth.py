"""The known truth a simulated study's runs are drawn from: the ``[synthetic]`` table of a study spec.

>>> SyntheticSection(effects={"ema": 0.01}, interactions={"ema:mixup": -0.005}).pairs()
{('ema', 'mixup'): -0.005}
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, field_validator

from trickstack.core.datafiles import Strict
from trickstack.core.errors import UserError

Finite = Annotated[float, Field(allow_inf_nan=False)]
Probability = Annotated[float, Field(ge=0, le=1)]


class SyntheticSection(Strict):
    """The known truth of a study on the ``synthetic`` workload (`trickstack.simulator.workload`): a run's
    score is ``baseline`` + the effects of the tricks on + the interactions of the pairs on + seed noise
    (shared by every arm of a seed: paired) + run noise. Keys are trick names of the study."""

    baseline: Finite = Field(0.0, description="score of the arm with no trick on (before noise)")
    effects: dict[str, Finite] = Field(default_factory=dict, description="TRICK = gain when it is on")
    interactions: dict[str, Finite] = Field(default_factory=dict, description='"A:B" = extra gain when both are on')
    seed_noise: Finite = Field(0.0, ge=0, description="sd of the noise shared by all arms of a seed (paired)")
    run_noise: Finite = Field(0.0, ge=0, description="sd of each run's own noise")
    diverge: dict[str, Probability] = Field(default_factory=dict, description="TRICK = probability that a run with it diverges")
    noise_seed: int = Field(0, ge=0, description="seeds the simulated noise; another value is an independent replicate")
    curves: bool = Field(False, description="give each run a simulated learning curve (the training loss falls from 2 "
                         "to 1 - score), for testing what shows curves")
    run_seconds: Finite = Field(0.0, ge=0, le=3600, description="wall seconds each simulated run takes (it sleeps): "
                                "rehearses a fleet's scheduling and preemption; the scores do not depend on it")

    @field_validator("interactions")
    @classmethod
    def _pairs(cls, value: dict[str, float]) -> dict[str, float]:
        seen: dict[frozenset, str] = {}
        for key in value:
            parts = key.split(":")
            if len(parts) != 2 or not all(parts) or parts[0] == parts[1]:
                raise ValueError(f"key {key!r}: expected two different tricks joined by ':', e.g. \"ema:mixup\"")
            if frozenset(parts) in seen:
                raise ValueError(f"key {key!r}: the pair is given twice (also as {seen[frozenset(parts)]!r})")
            seen[frozenset(parts)] = key
        return value

    def pairs(self) -> dict[tuple[str, str], float]:
        """The interactions as ``{(a, b): gain}``."""
        return {tuple(key.split(":")): gain for key, gain in self.interactions.items()}  # type: ignore[misc]

    def check_names(self, tricks: list[str]) -> None:
        """Every key names a registered trick of the study (``tricks``: the study's and the base's)."""
        from trickstack.tricks.registry import (
            get_trick,  # deferred: the registry imports Composer (seconds)
        )

        keys = [(f"synthetic.effects.{k}", [k]) for k in self.effects]
        keys += [(f"synthetic.interactions.{k}", k.split(":")) for k in self.interactions]
        keys += [(f"synthetic.diverge.{k}", [k]) for k in self.diverge]
        for where, names in keys:
            for name in names:
                try:
                    get_trick(name)
                except UserError as error:
                    raise UserError(f"{where}: {error}") from None
                if name not in tricks:
                    raise UserError(f"{where}: trick {name!r} is not in the study (its tricks: {', '.join(tricks)})")
