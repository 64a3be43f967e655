"""Recipes and their evidence, read and checked before any number is computed from them.

A recipe file (``recipes/<workload>/<year>.toml``) is read and resolved by `trickstack.recipes.recipe`; its
evidence file (``<year>.runs.jsonl``, one `RunRecord` a line) is checked record by record: a valid record of
the recipe's workload and metric, a finite metric unless the run diverged, no run twice (same tricks,
nuisance values, seed and budget), no trick published after the recipe's year, a run stamped with a recipe
only if it is that recipe's (or an earlier year's) and has its tricks, no run created after the recipe's date.
A derived recipe seals its evidence with ``provenance.evidence_sha256``: any edit of the file, of any record,
is refused (`check_seal`).

>>> _describe({}), _params({"lr": 0.001, "warmup": 3})
('no tricks', 'lr=0.001, warmup=3')
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Optional

from trickstack.core.errors import UserError
from trickstack.core.evidence import read_runs
from trickstack.core.records import RunRecord, same_tricks
from trickstack.recipes.recipe import YEAR, check_folder, evidence_digest, load_recipe, resolve
from trickstack.tricks.registry import get_trick

Stack = dict[str, dict[str, Any]]  # trick -> resolved parameters


@dataclass
class ListedRecipe:
    """One recipe file, resolved by `trickstack.recipes.recipe`: its full stack (bases applied, defaults filled in),
    nuisance values, the reasons it gives and its provenance (a plain dict; empty for a hand-written one)."""

    path: Path
    workload: str
    year: int
    summary: str
    stack: Stack
    nuisance: dict[str, Any]
    reasons: dict[str, str]  # trick (added or removed this year) -> reason given in the file
    provenance: dict[str, Any]
    name: str  # the recipe's one name (`trickstack.recipes.recipe.recipe_name`)
    track: str = "flops"


def read_recipes(folder: Path) -> list[ListedRecipe]:
    """Every ``<year>.toml`` of one track's folder (`track_folder`), loaded and resolved strictly (errors name
    the file)."""
    out = []
    for path in sorted((p for p in folder.glob("*.toml") if YEAR.fullmatch(p.stem)), key=lambda p: int(p.stem)):
        loaded = check_folder(load_recipe(path), path)
        resolved = resolve(loaded)
        reasons = {**{n: e.reason for n, e in loaded.tricks.items()}, **{n: e.reason for n, e in loaded.removed.items()}}
        out.append(ListedRecipe(path, resolved.workload, resolved.year, loaded.recipe.summary,
                          {t.name: dict(t.params) for t in resolved.tricks}, dict(resolved.nuisance), reasons,
                          loaded.provenance.model_dump(mode="json", exclude_none=True) if loaded.provenance else {},
                          resolved.name, loaded.track))
    return out


def read_evidence(path: Path, recipe: ListedRecipe, metric: str, direction: str,
                  replication: bool = False) -> list[RunRecord]:
    """The run records of an evidence file, each checked (see the module's docstring); errors name the file
    and the line. ``replication``: the runs of a fresh-seed replication, recorded after the recipe."""
    seen: dict = {}
    date = None if replication else recipe.provenance.get("date")

    def problem(record: RunRecord, number: int) -> Optional[str]:
        if record.workload != recipe.workload:
            return f"a run of workload {record.workload!r} in the evidence of {recipe.name}: records that do not match the recipe"
        m = record.metrics
        if (m.eval_metric, m.direction) != (metric, direction):
            return (f"a run measuring {m.eval_metric} ({m.direction}), but workload {recipe.workload!r} is ranked by "
                    f"{metric} ({direction})")
        if not record.diverged and (m.eval_value is None or not math.isfinite(m.eval_value)):
            return (f"metric {m.eval_metric} = {m.eval_value} in a run that did not diverge: a finite value is needed "
                    "(a diverged run says diverged = true)")
        key = (_frozen(stack_of(record)), _frozen(record.nuisance), record.seed, record.budget.unit, record.budget.value)
        if key in seen:
            return (f"the same run as line {seen[key]} ({_describe(stack_of(record))}, seed {record.seed}, nuisance "
                    f"{_params(record.nuisance)}): each run is evidence once")
        seen[key] = number
        late = [f"{t.name} ({get_trick(t.name).year})" for t in record.tricks if get_trick(t.name).year > recipe.year]
        if late:
            return (f"a run with {', '.join(late)} in the evidence of {recipe.name}: a recipe of {recipe.year} can only "
                    "have tried tricks published by then")
        stamp = record.recipe
        if stamp is not None and (stamp.workload != recipe.workload or stamp.year > recipe.year
                                  or not same_tricks(stamp.tricks, record.tricks) or stamp.nuisance != record.nuisance):
            return (f"a run stamped with recipe {stamp.name} but run with {_describe(stack_of(record))}, nuisance "
                    f"{_params(record.nuisance)}, in the evidence of {recipe.name}: records that do not match the recipe")
        if date is not None and record.created.date().isoformat() > str(date):
            return (f"a run created on {record.created.date()}, after {recipe.path}'s provenance.date {date}: evidence "
                    "is recorded before the recipe is derived")
        return None

    try:
        records = read_runs(path, f"{'replication' if replication else 'evidence'} of recipe {recipe.path}", problem)
    except UserError as error:
        if "is missing" not in str(error):
            raise
        raise UserError(f"{error}; `trickstack recipe derive` writes it, and the leaderboard shows stored records "
                        "only") from None
    if not records:
        raise UserError(f"{path}: the evidence of {recipe.name} holds no run record")
    return records


def check_seal(recipe: ListedRecipe, evidence: Path) -> Optional[str]:
    """The digest of ``evidence`` when it equals the recipe's ``provenance.evidence_sha256``; None for a
    hand-written recipe (no provenance); a `UserError` when a derived recipe has no digest or another one."""
    if not recipe.provenance:
        return None
    claimed = recipe.provenance.get("evidence_sha256")
    if claimed is None:
        raise UserError(f"{recipe.path}: provenance.evidence_sha256 is missing: a derived recipe seals its evidence "
                        f"{evidence.name} with its digest (`trickstack recipe seal` writes it)")
    actual = evidence_digest(evidence)
    if actual != claimed:
        raise UserError(f"{evidence}: its SHA-256 is {actual}, but {recipe.path} records provenance.evidence_sha256 = "
                        f"{claimed}: the evidence was edited after the recipe was derived")
    return actual


def stack_of(record) -> Stack:
    return {t.name: dict(t.params) for t in record.tricks}


def _frozen(mapping: Mapping) -> tuple:
    return tuple(sorted((k, _frozen(v) if isinstance(v, Mapping) else v) for k, v in mapping.items()))


def _describe(stack: Stack) -> str:
    """``label_smoothing(smoothing=0.15) + mixup``: parameters shown where they differ from the defaults."""

    def changed(name: str, params: Mapping[str, Any]) -> dict[str, Any]:
        defaults = get_trick(name).defaults
        return {k: v for k, v in params.items() if defaults.get(k) != v}

    parts = [(n, changed(n, p)) for n, p in sorted(stack.items())]
    return " + ".join(f"{n}({_params(p)})" if p else n for n, p in parts) or "no tricks"


def _params(params: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={_value(v)}" for k, v in sorted(params.items()))


def _value(v: Any) -> str:
    """A parameter as tables show it: floats to 6 significant digits (the evidence keeps them whole)."""
    return f"{v:g}" if isinstance(v, float) else str(v)


def runs_of(records, stack: Stack, nuisance: Optional[Mapping] = None, strict: bool = False, where: str = "") -> list:
    """The records of ``stack``, one per seed. With several nuisance variants, the one equal to ``nuisance``;
    ``strict``: only that one. Several variants and none preferred: error."""
    same = [r for r in records if stack_of(r) == stack]
    variants = {_frozen(r.nuisance) for r in same}
    if nuisance is not None and _frozen(nuisance) in variants:
        same = [r for r in same if _frozen(r.nuisance) == _frozen(nuisance)]
    elif strict or len(variants) > 1:
        if len(variants) > 1:
            raise UserError(f"{where}: runs of {_describe(stack)} with {len(variants)} different nuisance settings and "
                            f"none equal to {dict(nuisance or {})}: cannot tell which are the evidence")
        return []
    by_seed: dict[int, Any] = {}
    for r in same:
        by_seed.setdefault(r.seed, r)
    return [by_seed[s] for s in sorted(by_seed)]
