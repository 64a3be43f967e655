"""A derived recipe written down: its TOML (changes from the previous recipe, reasons, provenance) and
the run records of its evidence, each run of exactly a recipe carrying that recipe."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path
from typing import Any, Optional

from trickstack.core.budget import Budget
from trickstack.core.evidence import runs_text
from trickstack.core.outputs import replacing, write_failures
from trickstack.core.records import ResolvedRecipe, RunRecord, provenance, same_tricks
from trickstack.derive.attribution import Found, removed_reason, shapley_reasons
from trickstack.derive.config import describe, num
from trickstack.recipes.recipe import Recipe, evidence_digest, write_recipe
from trickstack.stats.selection import corrected, fresh_of
from trickstack.tricks.registry import get_trick


def quoted(test: dict[str, float], accepted: bool, confirmation: Optional[dict[str, Any]],
           fresh: Optional[dict[str, float]] = None) -> dict[str, Any]:
    """The gain a recipe's provenance quotes from its confirmation's paired ``test``: the raw mean paired difference
    and its t interval, and, for an accepted year, the gain corrected for that acceptance and for the sequential stop
    (`trickstack.stats.selection.corrected`) with its interval; ``fresh``: the paired test on the estimation seeds
    run after the acceptance (`trickstack.derive.search.estimation`), which the corrected gain adds."""
    out: dict[str, Any] = {"gain": float(test["gain"]), "ci": [float(test["low"]), float(test["high"])]}
    fixed = corrected(test["gain"], test.get("sd", float("nan")), int(test["n_pairs"]), confirmation,
                      fresh_of(fresh)) if accepted else None
    if fixed is not None and all(map(math.isfinite, (fixed.gain, fixed.low, fixed.high))):
        out.update({"gain_corrected": fixed.gain, "ci_corrected": [fixed.low, fixed.high]})
    return out


def recipe_of(f: Found, path: Path, budget: Budget, study: str, hardware: Optional[str] = None) -> Recipe:
    """The `Recipe` to write: the changes from the previous recipe, with reasons and provenance."""
    wl, prev, test = f.wl, f.prev, f.test
    prev_name = prev.name if prev else "the baseline"
    data: dict[str, Any] = {"recipe": {"workload": wl.name, "year": f.year, **({"base": str(prev.year)} if prev else {}),
                                       **({"track": budget.unit} if budget.unit == "seconds" else {})}}
    if f.accepted:
        record = f.runs.of(f.config, f.seeds)[0]
        new = {t.name: t.params for t in record.tricks}
        old = {t.name: t.params for t in prev.tricks} if prev else {}
        shapley = shapley_reasons(f)
        tricks = {}
        for name, params in new.items():
            info = get_trick(name)
            if name not in old:
                shown = {k: v for k, v in params.items() if f"{name}.{k}" in f.config.params or v != info.defaults[k]}
                tricks[name] = {"reason": "added by the search" + shapley.get(name, ""), **({"params": shown} if shown else {})}
            elif params != old[name]:
                changed = {k: v for k, v in params.items() if old[name].get(k) != v}
                what = ", ".join(f"{k} {num(old[name].get(k))} -> {num(v)}" for k, v in changed.items())
                tricks[name] = {"reason": f"re-tuned by the search ({what})" + shapley.get(name, ""), "params": changed}
        removed = {name: {"reason": removed_reason(f, name)} for name in old if name not in new}
        base_nuisance = prev.nuisance if prev else wl.resolve_nuisance()
        nuisance = {k: v for k, v in record.nuisance.items() if base_nuisance.get(k) != v}
        data.update({"tricks": tricks, "removed": removed, "nuisance": nuisance})
        data["recipe"]["summary"] = (f"derived by trickstack: the best of {f.tried} stacks searched, {test['gain']:+.4g} "
                                     f"{wl.metric} over {prev_name} (p = {test['p']:.2g}, {test['n_pairs']} paired seeds)")
    else:
        data["recipe"]["summary"] = (f"carried forward: the best candidate ({describe(f.candidate)}) did not beat "
                                     f"{prev_name} (p = {test['p']:.2g}, {test['n_pairs']} paired seeds)")
    data["provenance"] = {
        "study": study, "date": dt.datetime.now(dt.timezone.utc).date(), "commit": _commit(),
        "budget": {"unit": budget.unit, "value": budget.value}, "seeds": list(f.seeds),
        **({"estimation_seeds": list(f.estimation_seeds)} if f.estimation_seeds else {}),
        "previous": str(prev.year) if prev else "baseline", **quoted(test, f.accepted, f.confirmation, f.fresh),
        "p_value": float(test["p"]), "accepted": f.accepted,
        "evidence": f"{f.year}.runs.jsonl", **({"hardware": hardware} if hardware else {}),
        **({"confirmation": f.confirmation} if f.confirmation else {})}
    return Recipe.model_validate({**data, "source": str(path)})


def check_recipe(resolved: ResolvedRecipe, runs: list[RunRecord]) -> None:
    """The recipe written must be exactly what its runs ran (a bug otherwise, not bad input)."""
    ran = runs[0]
    if not same_tricks(resolved.tricks, ran.tricks) or resolved.nuisance != ran.nuisance:
        raise RuntimeError(f"the recipe {resolved.name} ({resolved.tricks}, {resolved.nuisance}) differs from its runs "
                           f"({ran.tricks}, {ran.nuisance})")


def write_sealed(recipe: Recipe, path: Path, evidence: Path, records: list[RunRecord]) -> None:
    """Write the evidence file and the recipe sealed with its SHA-256, both or neither: the evidence is
    written beside its place, the recipe written (atomically), then the evidence moved into place. A write
    that fails (a full disk) leaves a previous recipe and its evidence as they were."""
    with write_failures(path.parent, "the recipe into it"):
        path.parent.mkdir(parents=True, exist_ok=True)
    with replacing(evidence) as staged:
        staged.write_text(runs_text(records), encoding="utf-8")
        sealed = recipe.provenance.model_copy(update={"evidence_sha256": evidence_digest(staged)})
        write_recipe(recipe.model_copy(update={"provenance": sealed}), path)


def stamp(record: RunRecord, recipe: ResolvedRecipe, prev: Optional[ResolvedRecipe]) -> RunRecord:
    """A run of exactly a recipe's tricks and values carries that resolved recipe (as `run_trial(recipe=)` would)."""
    for r in (recipe, prev):
        if r is not None and same_tricks(record.tricks, r.tricks) and record.nuisance == r.nuisance:
            return record.model_copy(update={"recipe": r})
    return record


def _commit() -> str:
    p = provenance()
    if not p.git_commit:
        return f"v{p.trickstack_version}"
    return p.git_commit[:7] + ("-dirty" if p.git_dirty else "")
