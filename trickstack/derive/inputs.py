"""What `recipe derive` starts from: the previous recipe, the budget, the candidate tricks, the study spec."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Optional, Sequence, Union

import torch

from trickstack.ablations.processes import worker_threads
from trickstack.ablations.spec import StudySpec
from trickstack.core.budget import Budget
from trickstack.core.datafiles import Strict, parse_toml, read_text, validate
from trickstack.core.errors import UserError
from trickstack.core.records import ResolvedRecipe, RunRecord, provenance
from trickstack.derive.config import Config
from trickstack.recipes.recipe import YEAR, load_recipe, resolve
from trickstack.simulator.truth import SyntheticSection
from trickstack.simulator.workload import DEFAULT_BUDGET
from trickstack.stats import rules
from trickstack.trial import devices
from trickstack.trial.runner import reference_budget
from trickstack.tricks.registry import all_tricks, get_trick, trick_status
from trickstack.workloads import Workload

SEARCHED_NUISANCE = "lr"  # searched with the tricks; the other nuisance values keep the workload's defaults
LR_RANGE = 10.0  # lr searched over [default / 10, default * 10], log scale


def load_truth(path: Union[str, Path]):
    """Testing only: the ``[synthetic]`` table of a TOML file, the truth runs of ``synthetic`` are simulated from."""
    class TruthFile(Strict):
        synthetic: SyntheticSection

    return validate(TruthFile, parse_toml(read_text(path, "synthetic truth"), str(path)), str(path)).synthetic


def check_truth(wl: Workload, synthetic: Any) -> Optional[SyntheticSection]:
    """The truth a simulated workload's runs are drawn from (required for it, refused for any other)."""
    simulated = wl.simulate is not None
    if simulated and synthetic is None:
        raise UserError(f"workload {wl.name!r} trains nothing: deriving its recipe needs the truth its runs are "
                        "simulated from (a synthetic table, testing only)")
    if synthetic is not None and not simulated:
        raise UserError(f"a synthetic truth is only for a simulated workload; {wl.name!r} trains for real")
    if synthetic is None or isinstance(synthetic, SyntheticSection):
        return synthetic
    return SyntheticSection.model_validate(synthetic)


def fresh_seed(folder: Path, year: int) -> int:
    """The first evaluation seed of ``year``'s confirmation: after every evaluation and estimation seed of the
    earlier years' recipes in ``folder`` (one track's), so that no year re-runs the runs that got an earlier one accepted
    (runs are deterministic: the same seed is the same run). 0 the first year."""
    used = [0]
    for path in folder.glob("*.toml"):
        if YEAR.fullmatch(path.stem) and int(path.stem) < year:
            prov = load_recipe(path).provenance
            used += [s + 1 for s in ([*prov.seeds, *(prov.estimation_seeds or [])] if prov else [])]
    return max(used)


def previous(folder: Path, year: int) -> tuple[Optional[Path], Optional[ResolvedRecipe]]:
    """The latest ``<year>.toml`` of ``folder`` from before ``year``, resolved; none the first year."""
    years = sorted(int(p.stem) for p in folder.glob("*.toml") if YEAR.fullmatch(p.stem) and int(p.stem) < year)
    if not years:
        return None, None
    path = folder / f"{years[-1]}.toml"
    return path, resolve(load_recipe(path))


def budget_of(given: Optional[Budget], wl: Workload, prev_path: Optional[Path], track: str = "flops") -> Budget:
    """The budget: as given, else the previous recipe's, else the reference; it must equal the previous one's.
    The time track has no reference: its first year's budget is given."""
    claimed = None
    if prev_path is not None:
        prov = load_recipe(prev_path).provenance
        claimed = prov.budget.as_budget() if prov else None
    if given is None and claimed is not None:
        return claimed
    if given is None and track != "flops":
        raise UserError(f"the first {track}-track recipe of {wl.name} needs a budget in {track} (a workload's "
                        "reference budget is in FLOPs): give one, e.g. 10 seconds of training per run")
    chosen = given or reference(wl)
    if claimed is not None and (claimed.unit != chosen.unit or not math.isclose(claimed.value, chosen.value, rel_tol=1e-9)):
        raise UserError(f"budget {chosen.value:.6g} {chosen.unit} differs from the budget of the previous recipe "
                        f"{prev_path} ({claimed.value:.6g} {claimed.unit}): every recipe of a workload has the same "
                        "budget (give none to use it)")
    return chosen


def timed(wl: Workload, prev_path: Optional[Path], workers: int, device: str, precision: str = "fp32",
          compile: bool = False) -> str:
    """The hardware class the time track's runs will be timed on (`Provenance.hardware_class`); a `UserError`
    before any training if the previous recipe of the track was timed on another (times compare only within one)."""
    if wl.simulate is not None:
        return rules.SIMULATED_HARDWARE
    threads = torch.get_num_threads() if workers <= 1 else worker_threads(workers)  # as the engine sets them
    here = provenance(devices.accelerator(device), precision=precision, compiled=compile).model_copy(
        update={"torch_threads": threads}).hardware_class
    prov = load_recipe(prev_path).provenance if prev_path is not None else None
    if prov is not None and prov.hardware != here:
        raise UserError(f"{prev_path}: the time track's previous recipe was timed on {prov.hardware}, and this "
                        f"derivation would run on {here}: times are compared only on one class of hardware (derive "
                        "there, or into another recipes folder with --recipes)")
    return here


def check_timed(records: Sequence[RunRecord], hardware: str) -> None:
    """Every run of a time-track derivation was timed on ``hardware`` (a `UserError` naming the others)."""
    if hardware == rules.SIMULATED_HARDWARE:
        return
    other = sorted({r.provenance.hardware_class for r in records} - {hardware})
    if other:
        raise UserError(f"runs of this time-track derivation ran on {', '.join(other)} as well as on {hardware}: "
                        "times are compared only on one class of hardware (a worker on another machine, or another "
                        "thread count); derive again with workers of one class")
    busy = rules.busy_runs(records)
    if busy:
        shares = sorted(r.train_cpu_seconds / (r.train_seconds * r.provenance.torch_threads) for r in busy)
        raise UserError(f"{len(busy)} of the {len(records)} timed runs got less than {rules.BUSY_SHARE:.0%} of their "
                        f"CPU threads' time (as little as {shares[0]:.0%}): the machine was busy, and their seconds "
                        "bought fewer steps than an idle machine's. Nothing is written; derive again on an idle machine, "
                        "into a new study (--study or --storage)")


def reference(wl: Workload) -> Budget:
    """The workload's reference budget (a simulated workload's notional one)."""
    return DEFAULT_BUDGET if wl.simulate is not None else reference_budget(wl)


def candidates(wl: Workload, year: int, only: Optional[Sequence[str]], prev: Optional[ResolvedRecipe],
               system: Sequence[str] = ()) -> list[str]:
    """Tricks of ``year`` or before that act on the workload (`trick_status` "ok") under the ``system`` settings,
    and the previous recipe's (each of which must run under them)."""
    for name in prev.stack if prev else ():
        status, why = trick_status(get_trick(name), wl, system)
        if status == "excluded":
            raise UserError(f"the previous recipe {prev.name} has trick {name!r}, which is excluded here: {why}")
    if only:
        for name in only:
            info = get_trick(name)
            status, why = trick_status(info, wl, system)
            if info.year > year:
                raise UserError(f"trick {name!r} is from {info.year}, after {year}")
            if status != "ok":
                raise UserError(f"trick {name!r}: {status} on {wl.name}" + (f" ({why})" if why else ""))
    pool = [i for i in all_tricks() if i.year <= year and trick_status(i, wl, system)[0] == "ok"]
    names = {i.name for i in pool if not only or i.name in only} | set(prev.stack if prev else ())
    if not names:
        earliest = min((i for i in all_tricks() if trick_status(i, wl)[0] == "ok"), key=lambda i: i.year, default=None)
        hint = f" (the earliest: {earliest.name}, {earliest.year})" if earliest else ""
        raise UserError(f"no trick of {year} or before acts on {wl.name}{hint}: nothing to derive a recipe from")
    return sorted(names)


def default_lr(wl: Workload) -> float:
    return float(wl.nuisance_param(SEARCHED_NUISANCE).default)


def study_spec(name: str, wl: Workload, year: int, budget: Budget, seeds: int, trials: int, search_seeds: int,
               tricks: list[str], truth: Optional[SyntheticSection], source: Optional[str] = None,
               first_seed: int = 0, precision: str = "fp32", compile: bool = False) -> StudySpec:
    """The search study's spec: a `search` design over ``tricks`` and the learning rate, its runs in ``precision``
    and compiled or not (the study's system settings)."""
    param, lr = wl.nuisance_param(SEARCHED_NUISANCE), default_lr(wl)
    space = {"low": max(param.low, lr / LR_RANGE), "high": min(param.high, lr * LR_RANGE), "log": True}
    data = {"study": {"name": name, "workload": wl.name, "budget": {budget.unit: budget.value}, "seeds": seeds,
                      "first_seed": first_seed,
                      "design": "search", "tricks": tricks, "search_trials": trials, "search_seeds": search_seeds,
                      "search_nuisance": {SEARCHED_NUISANCE: space}, "precision": precision, "compile": compile},
            "source": source or f"recipe derive --workload {wl.name} --year {year}"}
    if truth is not None:
        data["synthetic"] = truth.model_dump()
    spec = validate(StudySpec, data, data["source"])
    spec.check()
    return spec


def config_of(recipe: ResolvedRecipe, wl: Workload) -> Config:
    """A recipe as a configuration: its searchable (and non-default) parameters and nuisance values."""
    params: dict[str, Any] = {}
    for t in recipe.tricks:
        for p in get_trick(t.name).params:
            if p.searchable or t.params[p.name] != p.default:
                params[f"{t.name}.{p.name}"] = t.params[p.name]
    defaults = wl.resolve_nuisance()
    params.update({k: v for k, v in recipe.nuisance.items() if k == SEARCHED_NUISANCE or v != defaults[k]})
    return Config(frozenset(recipe.stack), params)
