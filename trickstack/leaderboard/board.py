"""Yearly leaderboards, computed from recipe TOMLs and their evidence files only (nothing typed).

A workload's leaderboard has one row for the baseline and one per year's integrated recipe
(``recipes/<workload>/<year>.toml``, the format of `trickstack.recipes.recipe`). Every number of a row comes
from the run records in the recipe's evidence file (``<year>.runs.jsonl``, one `RunRecord` a line) by
`trickstack.stats.analysis`: the recipe's metric (`arm_summary`), its paired gain over the previous year's
recipe and over the baseline with a one-sided p (`paired_differences`), and, on the recipe's page,
the Shapley values and interactions of its tricks from the attribution runs (via `trickstack.reports.sections`).
Runs of the evidence that are none of these are the tricks tried that year and not kept: the
negative results, listed with their numbers.

A run is identified by its tricks (with their resolved parameters) and its nuisance values; arms are
paired by seed. The recipe's own runs and the previous recipe's must carry the recipe's nuisance
values; the baseline and the attribution subsets may have been run with other (e.g. default or
re-tuned) nuisance values, and are taken as they are when only one variant was run.

The rules (minimum seeds, alpha, the test, `passes`) are those of `trickstack.stats.rules`, the single
place where they are set; `recipe derive` decides by the same module.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Optional

import pandas as pd

from trickstack.core.errors import UserError
from trickstack.core.evidence import read_runs
from trickstack.core.stacks import BASELINE, arm_name
from trickstack.stats import analysis as an
from trickstack.stats import rules
from trickstack.stats.compare import compare
from trickstack.stats.table import runs_table as tidy

MAY_NOT_CHANGE = (
    "the workload's data and its train/eval splits",
    "the model contract: the workload's model family, its inputs and outputs",
    "the metric, its direction and how it is evaluated",
    "the budget: its unit and its value, counted the same way for every arm",
)
STATUSES = {"baseline": "the workload with no trick, its nuisance values as run",
            "new best": f"beats the previous year's recipe: p < {rules.LEADERBOARD_ALPHA} over at least {rules.LEADERBOARD_MIN_SEEDS} paired seeds",
            "carried forward": "no candidate passed the test: the previous year's recipe stays (same tricks)",
            "not significant": "hand-written recipe whose evidence does not pass the test (no provenance)"}
COLUMNS = ["workload", "metric", "direction", "entry", "year", "status", "n", "n_diverged", "mean", "sd", "ci_low",
           "ci_high", "previous", "n_pairs_prev", "gain_prev", "gain_prev_low", "gain_prev_high", "p_prev",
           "n_pairs_base", "gain_base", "gain_base_low", "gain_base_high", "p_base", "budget_unit", "budget",
           "added", "removed", "date", "commit", "evidence", "page"]
NEGATIVE_COLUMNS = ["workload", "year", "recipe", "tried", "stack", "n", "n_diverged", "mean", "ci_low", "ci_high",
                    "reference", "n_pairs", "gain", "gain_low", "gain_high", "p_value", "evidence"]

# Integer columns, as nullable Int64: the baseline row has no year and no pairs.
INTEGERS = ("year", "n", "n_diverged", "n_pairs_prev", "n_pairs_base", "n_pairs")
Stack = dict[str, dict[str, Any]]  # trick -> resolved parameters


# ---- recipes: read and resolved by `trickstack.recipes.recipe` ------------------------------------------------


@dataclass
class Recipe:
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

    @property
    def name(self) -> str:
        return f"{self.workload}/{self.year}"


def _read_recipes(folder: Path) -> list[Recipe]:
    """Every ``<year>.toml`` of one workload's folder, loaded and resolved strictly (errors name the file)."""
    from trickstack.recipes.recipe import YEAR, load_recipe, resolve

    out = []
    for path in sorted((p for p in folder.glob("*.toml") if YEAR.fullmatch(p.stem)), key=lambda p: int(p.stem)):
        loaded = load_recipe(path)
        if loaded.recipe.workload != folder.name:
            raise UserError(f"{path}: recipe.workload = {loaded.recipe.workload!r}, but the file is in the folder "
                            f"of workload {folder.name!r}")
        resolved = resolve(loaded)
        reasons = {**{n: e.reason for n, e in loaded.tricks.items()}, **{n: e.reason for n, e in loaded.removed.items()}}
        out.append(Recipe(path, resolved.workload, resolved.year, loaded.recipe.summary,
                          {t.name: dict(t.params) for t in resolved.tricks}, dict(resolved.nuisance), reasons,
                          loaded.provenance.model_dump(mode="json") if loaded.provenance else {}))
    return out


# ---- evidence -----------------------------------------------------------------------------------------


def read_evidence(path: Path, recipe: Recipe):
    """The run records of an evidence file, each checked; errors name the file and the line."""
    def other_workload(record) -> Optional[str]:
        if record.workload != recipe.workload:
            return (f"a run of workload {record.workload!r} in the evidence of {recipe.name}: records that do not "
                    "match the recipe")
        return None

    try:
        records = read_runs(path, f"evidence of recipe {recipe.path}", other_workload)
    except UserError as error:
        if "is missing" in str(error):
            raise UserError(f"{error}; `trickstack recipe derive` writes it, and the leaderboard shows stored records "
                            "only") from None
        raise
    if not records:
        raise UserError(f"{path}: the evidence of {recipe.name} holds no run record")
    return records


def _stack_of(record) -> Stack:
    return {t.name: dict(t.params) for t in record.tricks}


def _frozen(mapping: Mapping) -> tuple:
    return tuple(sorted((k, _frozen(v) if isinstance(v, Mapping) else v) for k, v in mapping.items()))


def _describe(stack: Stack) -> str:
    """``label_smoothing(smoothing=0.15) + mixup``: parameters shown where they differ from the defaults."""
    from trickstack.tricks.registry import get_trick

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
    """The records of ``stack``, one per seed (the first in the file). With several nuisance variants,
    the one equal to ``nuisance``; ``strict``: only that one. Several variants and none preferred: error."""
    same = [r for r in records if _stack_of(r) == stack]
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


# ---- the leaderboard ----------------------------------------------------------------------------------


@dataclass
class Entry:
    """One recipe on the leaderboard: its row, its evidence, its attribution and its negative results."""

    recipe: Recipe
    evidence: Path
    records: list
    runs: list
    previous: Optional["Entry"]
    row: dict[str, Any] = field(default_factory=dict)
    attribution: Any = None  # a `trickstack.reports.model.Report` with arms, shapley, effects, additivity
    attribution_note: Optional[str] = None  # why there is none
    negative: list[dict[str, Any]] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.recipe.name

    @property
    def page(self) -> str:
        return f"{self.recipe.workload}-{self.recipe.year}.html"


@dataclass
class Board:
    """One workload's leaderboard."""

    workload: str
    metric: str
    direction: str
    budget_unit: str
    budget: float
    hardware: list[str]
    entries: list[Entry]
    table: pd.DataFrame  # COLUMNS, baseline first
    negative: pd.DataFrame  # NEGATIVE_COLUMNS


@dataclass
class Leaderboard:
    source: Path
    year: Optional[int]
    boards: dict[str, Board]

    def table(self) -> pd.DataFrame:
        return pd.concat([b.table for b in self.boards.values()], ignore_index=True)

    def negative(self) -> pd.DataFrame:
        return pd.concat([b.negative for b in self.boards.values()], ignore_index=True)


def build(recipes_dir: Optional[Path] = None, year: Optional[int] = None, workload: Optional[str] = None) -> Leaderboard:
    """The leaderboards of every workload in ``recipes_dir`` (or ``workload``'s), as of ``year`` (recipes
    of years <= ``year``). Bad input raises `UserError` naming the file."""
    from trickstack.recipes.recipe import recipes_root

    root = Path(recipes_dir) if recipes_dir is not None else recipes_root()
    if not root.is_dir():
        raise UserError(f"{root}: no such recipes folder")
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(("_", ".")))
    if workload is not None:
        from trickstack.workloads import get_workload

        get_workload(workload)  # an unknown name: "did you mean"
        folder = root / workload
        have = [p.name for p in folders if any(p.glob("*.toml"))]
        if not list(folder.glob("*.toml")):
            raise UserError(f"{folder}: no recipes for workload {workload!r} (no <year>.toml there; workloads with "
                            f"recipes in {root}: {', '.join(have) or 'none'})")
        folders = [folder]
    boards = {}
    for folder in folders:
        recipes = [r for r in _read_recipes(folder) if year is None or r.year <= year]
        if recipes:
            boards[folder.name] = _board(folder, recipes, year)
        elif workload is not None:
            raise UserError(f"{folder}: no recipe of workload {workload!r} from {year} or before")
    if not boards:
        raise UserError(f"{root}: no recipes (recipes/<workload>/<year>.toml)" + (f" from {year} or before" if year else ""))
    return Leaderboard(root, year, boards)


def _board(folder: Path, recipes: list[Recipe], year: Optional[int]) -> Board:
    from trickstack.workloads import get_workload

    wl = get_workload(folder.name)
    by_year = {r.year: r for r in recipes}
    entries: list[Entry] = []
    for recipe in sorted(recipes, key=lambda r: r.year):
        evidence = recipe.path.parent / str(recipe.provenance.get("evidence", f"{recipe.year}.runs.jsonl"))
        records = read_evidence(evidence, recipe)
        seeds = recipe.provenance.get("seeds")
        if seeds is not None:  # the evaluation seeds: other records (tuning, search) are not evidence
            records = [r for r in records if r.seed in set(seeds)]
        runs = runs_of(records, recipe.stack, recipe.nuisance, strict=True, where=str(evidence))
        if not runs:
            other = sorted({_params(r.nuisance) for r in records if _stack_of(r) == recipe.stack})
            found = (f"its tricks were run with nuisance {' or '.join(other)} only" if other else
                     f"stacks run: {'; '.join(sorted({_describe(_stack_of(r)) for r in records}))}")
            raise UserError(f"{evidence}: no run of recipe {recipe.name} ({_describe(recipe.stack)}, nuisance "
                            f"{_params(recipe.nuisance)}): records that do not match the recipe ({found})")
        if seeds is not None and sorted({r.seed for r in runs}) != sorted(set(seeds)):
            raise UserError(f"{evidence}: recipe {recipe.name} was run on seeds {sorted(r.seed for r in runs)}, "
                            f"but {recipe.path} lists provenance.seeds = {list(seeds)}")
        previous = _previous(recipe, by_year, entries)
        entries.append(Entry(recipe, evidence, records, runs, previous))
    unit, value = _budget(entries)
    for e in entries:
        e.row = _row(e, wl, unit, value)
        e.attribution, e.attribution_note = _attribution(e, wl.direction)
        e.negative = _negative(e, wl)
    baseline = _baseline_row(entries[-1], wl, unit, value)
    table = _typed(pd.DataFrame([baseline] + [e.row for e in entries], columns=COLUMNS))
    negative = _typed(pd.DataFrame([n for e in entries for n in e.negative], columns=NEGATIVE_COLUMNS))
    hardware = sorted({r.provenance.cpu for e in entries for r in e.records})
    return Board(folder.name, wl.metric, wl.direction, unit, value, hardware, entries, table, negative)


def _typed(table: pd.DataFrame) -> pd.DataFrame:
    return table.astype({c: "Int64" for c in INTEGERS if c in table})


def _previous(recipe: Recipe, by_year: dict[int, Recipe], entries: list[Entry]) -> Optional[Entry]:
    """provenance.previous if given ("baseline" or a year), else the latest earlier year's recipe."""
    named = recipe.provenance.get("previous")
    earlier = [e for e in entries if e.recipe.year < recipe.year]
    if named is None:
        return earlier[-1] if earlier else None
    if str(named) == BASELINE:
        return None
    match = [e for e in earlier if str(e.recipe.year) == str(named) or e.recipe.path.stem == str(named)]
    if not match:
        raise UserError(f"{recipe.path}: provenance.previous = {named!r}, but there is no earlier recipe of that "
                        f"year (earlier: {', '.join(str(e.recipe.year) for e in earlier) or 'none'})")
    return match[-1]


def _budget(entries: list[Entry]) -> tuple[str, float]:
    """The workload's one budget: every record of every evidence file, and every recipe's provenance."""
    seen: dict[tuple[str, float], Path] = {}
    for e in entries:
        for r in e.records:
            seen.setdefault((r.budget.unit, r.budget.value), e.evidence)
        claim = e.recipe.provenance.get("budget")
        if claim is not None:
            key = (claim.get("unit"), float(claim.get("value", math.nan)))
            if key not in {(r.budget.unit, r.budget.value) for r in e.records}:
                raise UserError(f"{e.recipe.path}: provenance.budget = {key[1]:g} {key[0]}, but its evidence "
                                f"{e.evidence} was run at {', '.join(f'{v:g} {u}' for u, v in seen)}")
    if len(seen) > 1:
        listed = "; ".join(f"{v:g} {u} in {p}" for (u, v), p in seen.items())
        raise UserError(f"mixed budgets within workload {entries[0].recipe.workload!r}: {listed}. "
                        "A leaderboard compares recipes at one fixed budget")
    return next(iter(seen))


def _summary(runs, direction: str) -> dict[str, Any]:
    s = an.arm_summary(tidy({"arm": runs}), direction).iloc[0]
    return {"n": int(s.n), "n_diverged": int(s.n_diverged), "mean": s["mean"], "sd": s.sd,
            "ci_low": s.ci_low, "ci_high": s.ci_high}


def _baseline_runs(e: Entry, wl) -> list:
    runs = runs_of(e.records, {}, wl.resolve_nuisance(), where=str(e.evidence))
    if not runs:
        raise UserError(f"{e.evidence}: no baseline run (no tricks) in the evidence of {e.name}, "
                        "needed for its gain over the baseline")
    return runs


def _common(e: Entry, wl, unit: str, value: float) -> dict[str, Any]:
    created = max(r.created for r in e.runs).date().isoformat()
    commits = Counter(r.provenance.git_commit for r in e.runs if r.provenance.git_commit)
    return {"workload": wl.name, "metric": wl.metric, "direction": wl.direction, "budget_unit": unit, "budget": value,
            "date": str(e.recipe.provenance.get("date", created)),
            "commit": str(e.recipe.provenance.get("commit", (commits.most_common(1)[0][0][:7] if commits else ""))),
            "evidence": f"evidence/{wl.name}/{e.evidence.name}"}


def _baseline_row(latest: Entry, wl, unit: str, value: float) -> dict[str, Any]:
    """The baseline, from the latest recipe's evidence (the most recent code that ran it)."""
    runs = _baseline_runs(latest, wl)
    return {**_common(latest, wl, unit, value), "entry": BASELINE, "year": None, "status": "baseline",
            **_summary(runs, wl.direction), "previous": "", "added": "", "removed": "", "page": ""}


def _row(e: Entry, wl, unit: str, value: float) -> dict[str, Any]:
    r, direction = e.recipe, wl.direction
    prev = e.previous
    prev_stack, prev_nuisance = (prev.recipe.stack, prev.recipe.nuisance) if prev else ({}, wl.resolve_nuisance())
    base = compare(e.runs, _baseline_runs(e, wl), direction)
    same = prev_stack == r.stack and prev_nuisance == r.nuisance  # the first year may carry the baseline forward
    if same:
        versus = {"n_pairs": 0, "gain": math.nan, "low": math.nan, "high": math.nan, "p": math.nan}
    elif prev is None:
        versus = base
    else:
        prev_runs = runs_of(e.records, prev_stack, prev_nuisance, strict=True, where=str(e.evidence))
        if not prev_runs:
            raise UserError(f"{e.evidence}: no run of the previous recipe {prev.name} ({_describe(prev_stack)}) in the "
                            f"evidence of {e.name}, needed for its paired gain over the previous year")
        versus = compare(e.runs, prev_runs, direction)
    status = "carried forward" if same else "new best" if rules.passes(versus) else "not significant"
    _check_claims(e, status, versus)
    added = {n: p for n, p in r.stack.items() if prev_stack.get(n) != p}
    removed = sorted(set(prev_stack) - set(r.stack))
    return {**_common(e, wl, unit, value), "entry": r.name, "year": r.year, "status": status,
            **_summary(e.runs, direction), "previous": prev.name if prev else BASELINE,
            "n_pairs_prev": versus["n_pairs"], "gain_prev": versus["gain"], "gain_prev_low": versus["low"],
            "gain_prev_high": versus["high"], "p_prev": versus["p"], "n_pairs_base": base["n_pairs"],
            "gain_base": base["gain"], "gain_base_low": base["low"], "gain_base_high": base["high"],
            "p_base": base["p"], "added": "; ".join(_describe({n: p}) for n, p in added.items()),
            "removed": "; ".join(removed), "page": e.page}


def _check_claims(e: Entry, status: str, versus: Mapping[str, float]) -> None:
    """What the recipe's provenance claims must be what its evidence shows."""
    p, path = e.recipe.provenance, e.recipe.path
    if "accepted" not in p:
        return
    prev = e.previous.name if e.previous else BASELINE
    if p["accepted"] and status == "carried forward":
        raise UserError(f"{path}: provenance.accepted = true, but its tricks and nuisance equal {prev}'s")
    if p["accepted"] and status != "new best":
        raise UserError(f"{path}: provenance.accepted = true, but its evidence {e.evidence} gives p = {versus['p']:.3g} "
                        f"over {versus['n_pairs']} paired seeds against {prev} (rules: p < {rules.LEADERBOARD_ALPHA}, at least {rules.LEADERBOARD_MIN_SEEDS} seeds)")
    if not p["accepted"] and status != "carried forward":
        raise UserError(f"{path}: provenance.accepted = false means {prev} is carried forward, but the recipe's "
                        f"tricks or nuisance differ from it")
    gain = p.get("gain")
    if p["accepted"] and gain is not None and not math.isclose(gain, versus["gain"], rel_tol=1e-6, abs_tol=1e-9):
        raise UserError(f"{path}: provenance.gain = {gain:.6g}, but its evidence {e.evidence} gives {versus['gain']:.6g} "
                        f"over {prev}: records that do not match the recipe")


def _attribution(e: Entry, direction: str):
    """Shapley values and interactions of the recipe's tricks, from the runs of subsets of its stack."""
    from trickstack.reports.model import Report, StudyInfo
    from trickstack.reports.sections import report_from_table

    tricks = tuple(sorted(e.recipe.stack))
    if not tricks:
        return None, "the recipe has no tricks: there is nothing to attribute"
    keys = {}
    for r in e.records:
        stack = _stack_of(r)
        if all(e.recipe.stack.get(n) == p for n, p in stack.items()):
            keys.setdefault(_frozen(stack), stack)
    arms = {}
    for stack in keys.values():
        runs = runs_of(e.records, stack, e.recipe.nuisance, where=str(e.evidence))
        if runs:
            arms[arm_name(stack)] = runs
    if BASELINE not in arms:
        return None, "the evidence has no baseline run"
    table = tidy(arms, tricks)
    attrs = {"spec": {"study": {"workload": e.recipe.workload,
                                "budget": {e.runs[0].budget.unit: e.runs[0].budget.value}}}, "arms": list(arms)}
    if len(arms) == 2 ** len(tricks):
        report = report_from_table(table, StudyInfo(e.name, "factorial", list(tricks), direction, attrs))
        return report, None
    orders = _orders(set(arms), tricks)
    if not orders:
        return None, (f"the evidence has {len(arms)} of the {2 ** len(tricks)} subsets of the recipe's tricks and no "
                      "chain of them from the baseline to the recipe: Shapley values need a full factorial or orders")
    sampled = report_from_table(table, StudyInfo(e.name, "shapley", list(tricks), direction, {**attrs, "orders": orders}))
    fraction = report_from_table(table, StudyInfo(e.name, "fractional", list(tricks), direction, attrs))
    sections = {k: sampled.sections[k] for k in ("arms", "shapley", "additivity")}
    sections["effects"] = fraction.sections["effects"]
    return Report(sampled.info, sampled.meta, sections), None


def _orders(arms: set[str], tricks: tuple[str, ...], cap: int = 5040) -> list[list[str]]:
    """Every order of adding the tricks whose prefixes were all run (up to ``cap``): the orders a
    sampled-Shapley derivation used, and any others the runs happen to support."""
    found: list[list[str]] = []

    def walk(prefix: list[str]) -> None:
        if len(found) >= cap:
            return
        if len(prefix) == len(tricks):
            found.append(list(prefix))
            return
        for t in tricks:
            if t not in prefix and "+".join(sorted([*prefix, t])) in arms:
                walk([*prefix, t])

    walk([])
    return found


def _negative(e: Entry, wl) -> list[dict[str, Any]]:
    """Stacks of the evidence that are none of: the recipe, the previous recipe, a subset of the recipe
    (attribution). Each is described against whichever of the recipe and the previous one it is closer to."""
    r = e.recipe
    prev_stack = e.previous.recipe.stack if e.previous else {}
    groups: dict[tuple, list] = {}
    for record in e.records:
        stack = _stack_of(record)
        if stack == prev_stack or all(r.stack.get(n) == p for n, p in stack.items()):
            continue
        groups.setdefault((_frozen(stack), _frozen(record.nuisance)), []).append(record)
    rows = []
    prev_runs = None
    for (_, nuisance), records in sorted(groups.items(), key=lambda kv: _describe(_stack_of(kv[1][0]))):
        stack = _stack_of(records[0])
        by_seed: dict[int, Any] = {}
        for rec in records:
            by_seed.setdefault(rec.seed, rec)
        runs = [by_seed[s] for s in sorted(by_seed)]
        this_diff, prev_diff = _diff(stack, r.stack), _diff(stack, prev_stack)
        use_prev = e.previous is not None and len(prev_diff) < len(this_diff)
        if use_prev and prev_runs is None:
            prev_runs = runs_of(e.records, prev_stack, e.previous.recipe.nuisance, strict=True, where=str(e.evidence))
        ref_name, ref_runs, diff = (e.previous.name, prev_runs, prev_diff) if use_prev else (r.name, e.runs, this_diff)
        ref_nuisance = e.previous.recipe.nuisance if use_prev else r.nuisance
        diff += [f"{k}={_value(v)}" for k, v in dict(nuisance).items() if ref_nuisance.get(k) != v]
        c = compare(runs, ref_runs, wl.direction) if ref_runs else {"n_pairs": 0, "gain": math.nan, "low": math.nan,
                                                                      "high": math.nan, "p": math.nan}
        s = _summary(runs, wl.direction)
        rows.append({"workload": wl.name, "year": r.year, "recipe": r.name, "tried": ", ".join(diff),
                     "stack": _describe(stack), "n": s["n"], "n_diverged": s["n_diverged"], "mean": s["mean"],
                     "ci_low": s["ci_low"], "ci_high": s["ci_high"], "reference": ref_name,
                     "n_pairs": c["n_pairs"], "gain": c["gain"], "gain_low": c["low"], "gain_high": c["high"],
                     "p_value": c["p"], "evidence": f"evidence/{wl.name}/{e.evidence.name}"})
    return rows


def _diff(stack: Stack, reference: Stack) -> list[str]:
    """``+mixup(alpha=0.2)``, ``-ema``, ``label_smoothing smoothing=0.1->0.2``: how to get from reference to stack."""
    out = [f"+{_describe({n: p})}" for n, p in sorted(stack.items()) if n not in reference]
    out += [f"-{n}" for n in sorted(reference) if n not in stack]
    for n in sorted(set(stack) & set(reference)):
        changed = {k: v for k, v in stack[n].items() if reference[n].get(k) != v}
        if changed:
            out.append(f"{n} " + ", ".join(f"{k}={_value(reference[n].get(k))}->{_value(v)}" for k, v in changed.items()))
    return out


def rules_summary(lb: Leaderboard) -> dict[str, Any]:
    """The rules, from the constants above and each workload's registered contract."""
    return {"min_seeds": rules.LEADERBOARD_MIN_SEEDS, "alpha": rules.LEADERBOARD_ALPHA, "test": rules.LEADERBOARD_TEST, "level": an.LEVEL,
            "seeds": f"at least {rules.LEADERBOARD_MIN_SEEDS} paired evaluation seeds, disjoint from the seeds used for tuning and search",
            "comparison": "same workload, same budget (unit and value) and same class of hardware as the previous year",
            "may_not_change": list(MAY_NOT_CHANGE),
            "negative_results": "tricks tried and not kept are published with their evidence",
            "workloads": {b.workload: {"metric": b.metric, "direction": b.direction, "budget_unit": b.budget_unit,
                                       "budget": b.budget, "hardware": b.hardware} for b in lb.boards.values()}}
