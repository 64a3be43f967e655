"""Study specs: TOML files validated strictly, with errors that name the file and the key.

>>> spec = StudySpec.from_toml_text('''
... [study]
... name = "demo"
... workload = "mnist1d"
... budget = { flops = 2e9 }
... seeds = 2
... design = "factorial"
... tricks = ["label_smoothing", "ema"]
... ''', source="demo.toml")
>>> spec.study.budget.as_budget()
Budget(unit='flops', value=2000000000.0)
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal, Optional, Union

from pydantic import Field, model_validator

from trickstack.core.budget import UNITS, Budget
from trickstack.core.datafiles import Strict as _Strict
from trickstack.core.datafiles import parse_toml, read_text, validate
from trickstack.core.errors import UserError
from trickstack.core.records import ResolvedRecipe
from trickstack.core.system import Precision, settings
from trickstack.recipes.recipe import open_recipe, resolve
from trickstack.simulator.truth import SyntheticSection
from trickstack.trial.runner import resolve_stack
from trickstack.tricks.registry import get_trick
from trickstack.workloads import get_workload

MAX_NAME = 100  # characters of a study name: it becomes part of file names (reports), which allow 255 bytes
FIRST_SEED_MAX = 999_000  # evaluation seeds stay below the tuning seeds (`trickstack.ablations.jobs.TUNING_SEED_OFFSET`)
MAX_SEED = 2**32 - 1  # numpy and Optuna's samplers take seeds in [0, 2**32 - 1]
Count = Annotated[int, Field(strict=True)]  # an integer written as one: `true` or 2.5 is refused, not read as 1 or 2

DESIGNS = ("one-at-a-time", "leave-one-out", "factorial", "fractional", "shapley", "greedy", "search")


class BudgetSpec(_Strict):
    flops: Optional[float] = Field(None, gt=0, allow_inf_nan=False)
    samples: Optional[float] = Field(None, gt=0, allow_inf_nan=False)
    seconds: Optional[float] = Field(None, gt=0, allow_inf_nan=False)

    @model_validator(mode="after")
    def _one_unit(self) -> "BudgetSpec":
        given = [unit for unit in UNITS if getattr(self, unit) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of flops, samples, seconds (got {', '.join(given) or 'none'})")
        return self

    def as_budget(self) -> Budget:
        unit = next(u for u in UNITS if getattr(self, u) is not None)
        return Budget(unit, float(getattr(self, unit)))  # type: ignore[arg-type]


class Range(_Strict):
    low: float
    high: float
    log: bool = False

    @model_validator(mode="after")
    def _ordered(self) -> "Range":
        if not self.low < self.high or (self.log and self.low <= 0):
            raise ValueError(f"needs low < high (and low > 0 when log), got low={self.low}, high={self.high}")
        return self


class StudySection(_Strict):
    name: str = Field(min_length=1, max_length=MAX_NAME, pattern=r"^[A-Za-z0-9_.\-]+$")
    workload: str
    budget: BudgetSpec
    seeds: Count = Field(ge=1, le=1000, description="evaluation seeds, paired across arms")
    first_seed: Count = Field(0, ge=0, le=FIRST_SEED_MAX, description="the evaluation seeds are first_seed, "
                              "first_seed + 1, ...: `recipe derive` starts each year after the seeds earlier years used")
    design: Literal[DESIGNS]  # type: ignore[valid-type]
    tricks: list[str] = Field(min_length=1)
    base: Union[list[str], str] = Field(default_factory=list, description="tricks every arm starts from, or a recipe "
                                        "(a file relative to the spec, or WORKLOAD/YEAR of a shipped one)")
    overrides: dict[str, Union[float, int, str, bool]] = Field(default_factory=dict,
                                                               description="fixed TRICK.PARAM or nuisance values")
    resolution: Count = Field(5, ge=3, le=8, description="fractional: minimum resolution")
    permutations: Count = Field(8, ge=1, le=1000, description="shapley: sampled orders")
    alpha: float = Field(0.05, gt=0, lt=1, description="greedy: one-sided paired test level for adding a trick")
    search_trials: Count = Field(16, ge=1, le=10000, description="search: configurations trained (proposals "
                               "excluded for conflicting tricks cost nothing and are not counted)")
    search_seeds: Count = Field(1, ge=1, le=20, description="search: seeds per configuration tried")
    search_nuisance: dict[str, Range] = Field(default_factory=dict, description="search: nuisance values searched "
                                                "with the tricks, on the search seeds (e.g. lr), as their own [tune] would")
    seed: Count = Field(0, ge=0, le=MAX_SEED, description="seeds the design's own randomness (shapley orders, search sampler)")
    precision: Precision = Field("fp32", description="system setting of every run: fp32, or bf16 (autocast over the "
                                 "model's forward); tricks that cannot run under it are excluded")
    compile: bool = Field(False, strict=True, description="system setting of every run: the model's forward compiled "
                          "by torch.compile; tricks that cannot run compiled are excluded")

    @property
    def system(self) -> tuple[str, ...]:
        """The study's system settings other than the defaults (`trickstack.core.system.settings`)."""
        return settings(self.precision, self.compile)


class TuneSection(_Strict):
    trials_per_arm: Count = Field(ge=1, le=1000)
    seeds: Count = Field(1, ge=1, le=20, description="tuning seeds per trial; disjoint from the evaluation seeds")
    params: dict[str, Range] = Field(min_length=1)


class StudySpec(_Strict):
    study: StudySection
    tune: Optional[TuneSection] = None
    synthetic: Optional[SyntheticSection] = None  # only, and always, with workload = "synthetic"
    # Filled in by the loader from a recipe base: the resolved recipe (trick parameters and nuisance
    # values included) that every arm starts from. Stored with the study, so it never changes with the file.
    base_recipe: Optional[ResolvedRecipe] = None
    source: str = "<spec>"

    @classmethod
    def from_toml_text(cls, text: str, source: str) -> "StudySpec":
        data = parse_toml(text, source)
        if "base_recipe" in data:
            raise UserError(f"{source}: base_recipe: unknown key (it is filled in from a recipe given as study.base)")
        spec = validate(cls, {**data, "source": source}, source).with_resolved_base(Path(source).parent)
        spec.check()
        return spec

    @classmethod
    def load(cls, path: Union[str, Path]) -> "StudySpec":
        return cls.from_toml_text(read_text(path, "study spec"), source=str(path))

    def with_resolved_base(self, folder: Path) -> "StudySpec":
        """A recipe base replaced by its tricks, its resolution kept in `base_recipe`."""
        base = self.study.base
        if isinstance(base, list):
            return self
        path = Path(base) if Path(base).is_absolute() else folder / base
        try:
            recipe = resolve(open_recipe(path if path.exists() or base.endswith(".toml") else base))
        except UserError as error:
            raise UserError(f"{self.source}: study.base: {error}") from None
        if recipe.workload != self.study.workload:
            raise UserError(f"{self.source}: study.base: recipe {recipe.name} is for workload {recipe.workload!r}, "
                            f"the study's is {self.study.workload!r}")
        study = self.study.model_copy(update={"base": recipe.stack})
        return self.model_copy(update={"study": study, "base_recipe": recipe})

    def check(self) -> None:
        """Names that only the registries can check: workload, tricks, parameters."""
        s = self.study
        try:
            wl = get_workload(s.workload)
            names = list(dict.fromkeys(s.tricks))
            if len(names) != len(s.tricks):
                raise UserError(f"study.tricks lists a trick twice: {s.tricks}")
            for name in [*s.tricks, *self.base_tricks()]:
                get_trick(name)
            overlap = set(s.tricks) & set(self.base_tricks())
            if overlap:
                raise UserError(f"study.tricks and study.base both contain {sorted(overlap)}")
            all_tricks = [*self.base_tricks(), *s.tricks]
            for key, value in s.overrides.items():
                if "." in key:
                    trick, param = key.split(".", 1)
                    if trick not in all_tricks:
                        raise UserError(f"study.overrides.{key}: trick {trick!r} is not in the study")
                    get_trick(trick).param(param).validate(value, owner=trick)
                else:
                    wl.nuisance_param(key).validate(value, owner=wl.name)
            resolve_stack(wl, self.base_tricks(), {}, s.system)  # the base itself must be stackable, under the settings
            if self.tune:
                for name in self.tune.params:
                    wl.nuisance_param(name)
            for name in s.search_nuisance:
                wl.nuisance_param(name)
                if s.design != "search":
                    raise UserError(f"study.search_nuisance.{name}: only a search study searches nuisance values "
                                    "with the tricks (other designs tune them per arm with a [tune] section)")
                if name in s.overrides:
                    raise UserError(f"study.search_nuisance.{name}: also fixed in study.overrides; search it or fix it")
            simulated = wl.simulate is not None
            if simulated and self.synthetic is None:
                raise UserError(f"workload {wl.name!r} is simulated: add a synthetic table with the truth to "
                                "simulate (baseline, effects, interactions, seed_noise, run_noise, diverge)")
            if self.synthetic is not None and not simulated:
                raise UserError(f"a synthetic table is only allowed with workload = \"synthetic\" (this study's workload "
                                f"is {wl.name!r}, which trains for real)")
            if self.synthetic is not None:
                self.synthetic.check_names(all_tricks)
        except UserError as error:
            raise UserError(f"{self.source}: {error}") from None

    def base_tricks(self) -> list[str]:
        """The tricks every arm starts from (a recipe base's, once `with_resolved_base` has read it)."""
        if isinstance(self.study.base, str):
            raise UserError(f"{self.source}: study.base: the recipe {self.study.base!r} has not been read "
                            "(load specs with StudySpec.load or from_toml_text)")
        return list(self.study.base)

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")
