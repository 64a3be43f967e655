"""The run record: a versioned, self-describing account of one trial.

The JSON schema of a record is generated from these models (`record_json_schema`) and kept in
``trickstack/core/schemas/run_record.v2.json``; a test checks the two agree, so a change to the record
cannot go unnoticed. A change that makes an existing record invalid forces a new ``schema_version``;
a new optional field (``recipe``) does not: every record written before it is still valid. Version 2 added
the learning curve (``curve``); a version-1 record is still read, as it was written (``curve`` null).
"""

from __future__ import annotations

import functools
import json
import os
import platform
import subprocess
import sys
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Literal, Mapping, Optional, Sequence, Union

import torch
from pydantic import BaseModel, ConfigDict, Field, model_validator

from trickstack.core.budget import Budget, Unit
from trickstack.core.outputs import write_failures, write_file
from trickstack.core.system import Precision, settings

SCHEMA_VERSION = 2
SCHEMA_VERSIONS = (1, 2)  # every version a reader takes: 1 has no curve
SCHEMA_PATH = Path(__file__).parent / "schemas" / f"run_record.v{SCHEMA_VERSION}.json"

Value = Union[bool, int, float, str]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DistributionRecord(_Model):
    """The installed distribution (package) that provided a trick: ``trickstack`` for the built-ins."""

    name: str
    version: str

    def __str__(self) -> str:
        return f"{self.name} {self.version}"


class TrickRecord(_Model):
    name: str
    params: dict[str, Value] = Field(description="fully resolved parameters, defaults included")
    # Optional, so records and recipes written before it are still valid.
    distribution: Optional[DistributionRecord] = Field(
        None, description="the distribution and version whose code the trick ran; null in older records and in recipes")


def same_tricks(a: Sequence[TrickRecord], b: Sequence[TrickRecord]) -> bool:
    """Whether two lists of tricks are the same stack: names and resolved parameters, in order. Where a trick's code
    came from (``distribution``, which run records name and recipes do not) is not part of the stack."""
    return [(t.name, t.params) for t in a] == [(t.name, t.params) for t in b]


class BudgetRecord(_Model):  # a `Budget` as run records and recipe files store it
    unit: Unit
    value: float

    def as_budget(self) -> Budget:
        return Budget(self.unit, self.value)


class Metrics(_Model):
    eval_metric: str = Field(description="name of the workload's final eval metric, e.g. 'accuracy'")
    eval_value: Optional[float] = Field(description="final eval metric; null when the trial diverged")
    direction: Literal["maximize", "minimize"]
    train_loss: Optional[float] = Field(description="training loss of the last step")


class Provenance(_Model):
    trickstack_version: str
    git_commit: Optional[str] = Field(description="commit of the trickstack checkout; null from a wheel")
    git_dirty: Optional[bool]
    python: str
    torch: str
    composer: str
    optuna: str
    platform: str
    cpu: str
    torch_threads: int
    # Optional, so records written before devices were chosen stay valid (they all ran on the CPU, deterministic).
    device: Optional[str] = Field(None, description="where the run trained: cpu, cuda:N or mps; null in older records (cpu)")
    accelerator: Optional[str] = Field(None, description="the GPU's model (torch's device name); null on the CPU")
    accelerator_count: Optional[int] = Field(None, description="GPUs visible to the process; null on the CPU")
    cuda: Optional[str] = Field(None, description="torch's CUDA version on a CUDA device; null otherwise")
    deterministic: Optional[bool] = Field(
        None, description="torch's deterministic algorithms were on; null in older records (on)")
    # Optional, so records written before precision was chosen stay valid (they trained in fp32, not compiled).
    precision: Optional[Precision] = Field(
        None, description="fp32, or bf16 (autocast over the model's forward); null in older records (fp32)")
    compiled: Optional[bool] = Field(None, description="the model's forward was compiled by torch.compile; null in "
                                     "older records (not compiled)")

    @property
    def hardware_class(self) -> str:
        """What a run's training time depends on: the GPU model where it trained on one, else the CPU model and
        torch's thread count; then the system settings other than fp32 uncompiled (`trickstack.core.system`).
        Times are compared only between runs of one class (the time track's rule).

        >>> p = Provenance(trickstack_version="0", git_commit=None, git_dirty=None, python="3", torch="2", composer="0",
        ...                optuna="5", platform="Linux", cpu="AMD EPYC 7B13", torch_threads=1)
        >>> p.hardware_class
        'AMD EPYC 7B13, 1 torch thread'
        >>> p.model_copy(update={"precision": "bf16", "compiled": True}).hardware_class
        'AMD EPYC 7B13, 1 torch thread, bf16, compile'
        """
        system = "".join(f", {s}" for s in settings(self.precision, self.compiled))  # e.g. ", bf16, compile"
        if self.accelerator:
            return f"{self.accelerator} (GPU){system}"
        return f"{self.cpu}, {self.torch_threads} torch thread{'s' if self.torch_threads != 1 else ''}{system}"


class ResolvedRecipe(_Model):
    """A recipe with its bases applied, removed tricks dropped and defaults filled in (`trickstack.recipes.recipe`).

    Everything a run needs to repeat the recipe, and nothing it does not (no reasons, no provenance).
    """

    name: str = Field(description="WORKLOAD/YEAR, e.g. 'mnist1d/2019'")
    workload: str
    year: int
    tricks: list[TrickRecord] = Field(description="the recipe's tricks in canonical order (by name), parameters resolved")
    nuisance: dict[str, Value] = Field(description="every nuisance hyperparameter of the workload, resolved")

    @property
    def stack(self) -> list[str]:
        return [t.name for t in self.tricks]

    def overrides(self) -> dict[str, Value]:
        """The recipe as `run_trial` overrides: ``{"TRICK.PARAM": value, ..., "NUISANCE": value}``."""
        return {**{f"{t.name}.{k}": v for t in self.tricks for k, v in t.params.items()}, **self.nuisance}


class FlopMismatch(_Model):
    step: int
    cached: int = Field(description="FLOPs cached for the step's cost signature")
    measured: Optional[int] = Field(description="FLOPs the step was measured to spend; null for a step that was not "
                                    "measured but called the model's forward a different number of times")
    forward_calls: Optional[int] = Field(None, description="calls of the model's forward in the step (counted in every "
                                         "step); null in records written before it")
    forward_calls_cached: Optional[int] = Field(None, description="calls of the model's forward in the measured step "
                                                "whose cost was cached for the same signature")


class FlopCheck(_Model):
    """How a run's FLOPs were checked: what the cost cache could miss is measured, not trusted."""

    audit_window: int = Field(
        description="one step in every this many was measured again although its cost was cached (1: every step)")
    audited_steps: int = Field(description="steps measured again and compared with the cached cost of their signature; "
                               "every step's count of the model's forward calls is compared with its signature's too")
    flops_outside_steps: float = Field(
        description="FLOPs spent between steps (epoch ends, ...), included in flops and charged to the budget")
    mismatches: list[FlopMismatch] = Field(
        description="audited steps whose cost differed from the cache: such a run is refused (FlopAuditError)")


class CurvePoint(_Model):
    """The training so far, at one point of a run's learning curve."""

    fraction: float = Field(description="share of the budget spent, in the budget's unit (0 to 1)")
    steps: int = Field(description="training steps done")
    flops: float = Field(description="training FLOPs spent (as the record's flops counts them)")
    samples: int = Field(description="training samples seen")
    seconds: float = Field(description="training wall seconds since training started (as train_seconds counts them, "
                                       "the curve's own evaluations excluded)")
    train_loss: Optional[float] = Field(description="mean training loss of the steps since the previous point (the "
                                        "smoothing); null where one of them was not finite")


class EvalPoint(_Model):
    """The workload's eval metric at one point of training, measured outside the budget (`Curve.eval_note`)."""

    fraction: float = Field(description="share of the budget spent when it was measured")
    steps: int
    flops: float
    samples: int
    seconds: float
    value: Optional[float] = Field(description="the eval metric; null where it was not finite")


class Curve(_Model):
    """A run's learning curve: about `points` points spaced by the share of the budget spent."""

    smoothing: str = Field(description="how each point's train_loss was smoothed")
    points: list[CurvePoint]
    eval_points: list[EvalPoint] = Field(default_factory=list, description="the eval metric during training, where "
                                         "the workload declares it cheap (Workload.curve_evals); empty otherwise")
    eval_note: Optional[str] = Field(None, description="what the eval points cost and where that cost is not counted; "
                                     "null without eval points")
    eval_seconds: float = Field(0.0, description="wall seconds of the eval points, in neither train_seconds, "
                                "eval_seconds nor the budget")


class RunRecord(_Model):
    schema_version: Literal[1, 2] = SCHEMA_VERSION
    workload: str
    tricks: list[TrickRecord]
    nuisance: dict[str, Value] = Field(description="the workload's optimizer and schedule settings used")
    seed: int
    budget: BudgetRecord
    flops: float = Field(
        description="training FLOPs counted by torch's FlopCounterMode (forward and backward, and any work between steps)")
    flops_measured_steps: int = Field(description="steps measured with the counter (the first of each signature, and "
                                      "audited ones); the others reused a measured cost of the same signature")
    steps: int
    samples: int
    train_seconds: float
    eval_seconds: float
    train_cpu_seconds: Optional[float] = Field(
        None, description="CPU time of the training process during training (all its threads); with train_seconds and "
                          "provenance.torch_threads it shows whether a CPU run had its cores to itself; null in older "
                          "records")
    metrics: Metrics
    diverged: bool
    diverged_step: Optional[int]
    created: datetime
    provenance: Provenance
    # Optional, so every record written before recipes existed is still a valid schema-1 record.
    recipe: Optional[ResolvedRecipe] = Field(None, description="the resolved recipe the run started from; null without one")
    flops_check: Optional[FlopCheck] = Field(None, description="how the FLOPs were checked; null in records written before it")
    # New in schema 2; a schema-1 record has none, and readers say so where they would show it.
    curve: Optional[Curve] = Field(None, description="the learning curve; null in schema-1 records and where it was "
                                   "not recorded")

    @model_validator(mode="after")
    def _curve_needs_version_2(self) -> "RunRecord":
        if self.curve is not None and self.schema_version < 2:
            raise ValueError("a schema_version 1 record has no curve (curves are new in schema 2)")
        return self

    def to_json(self, indent: Optional[int] = 2) -> str:
        return self.model_dump_json(indent=indent)

    @classmethod
    def from_json(cls, text: str) -> "RunRecord":
        return cls.model_validate_json(text)


def record_json_schema() -> dict:
    return RunRecord.model_json_schema()


def write_schema(path: Path = SCHEMA_PATH) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_file(path, json.dumps(record_json_schema(), indent=2, sort_keys=True) + "\n")


def now() -> datetime:
    return datetime.now(timezone.utc)


def _version(dist: str) -> str:
    try:
        return version(dist)
    except PackageNotFoundError:
        return "unknown"


def _git(*args: str) -> Optional[str]:
    source = Path(__file__).resolve().parent.parent
    try:
        out = subprocess.run(["git", "-C", str(source), *args], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import cpuinfo

    return cpuinfo.get_cpu_info().get("brand_raw", platform.processor() or "unknown")


@functools.cache
def _static_provenance() -> dict:
    inside = _git("rev-parse", "--is-inside-work-tree") == "true"
    top = _git("rev-parse", "--show-toplevel") if inside else None
    # Only a checkout of trickstack itself counts (an installed wheel inside some other repo does not).
    ours = top is not None and Path(__file__).resolve().is_relative_to(Path(top).resolve())
    return {
        "trickstack_version": _version("trickstack"),
        "git_commit": _git("rev-parse", "HEAD") if ours else None,
        "git_dirty": bool(_git("status", "--porcelain", "--untracked-files=no")) if ours else None,
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "composer": _version("mosaicml"),
        "optuna": _version("optuna"),
        "platform": platform.platform(),
        "cpu": _cpu_model(),
    }


def provenance(device: Optional[Mapping[str, Any]] = None, deterministic: Optional[bool] = None,
               precision: Optional[str] = None, compiled: Optional[bool] = None) -> Provenance:
    """Where and with what a run was made. Git state is read once per process. ``device``: the device fields
    (``device``, ``accelerator``, ``accelerator_count``, ``cuda``; `trickstack.trial.devices.accelerator`);
    ``precision`` and ``compiled``: the system settings (`trickstack.core.system`)."""
    return Provenance(**_static_provenance(), torch_threads=torch.get_num_threads(), **dict(device or {}),
                      deterministic=deterministic, precision=precision, compiled=compiled)


def save_record(record: RunRecord, out_dir: os.PathLike) -> Path:
    """Write ``record`` to a new file in ``out_dir`` (atomically); an existing record is never overwritten."""
    out = Path(out_dir)
    with write_failures(out, "the record into it"):
        out.mkdir(parents=True, exist_ok=True)
    stem = f"{record.workload}-{'+'.join(t.name for t in record.tricks) or 'baseline'}-seed{record.seed}"
    n = 1
    while True:
        path = out / (f"{stem}.json" if n == 1 else f"{stem}-{n}.json")
        try:
            return write_file(path, record.to_json() + "\n", overwrite=False)
        except FileExistsError:  # never overwritten: the next free name
            n += 1
