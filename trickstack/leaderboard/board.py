"""Yearly leaderboards, computed from recipe TOMLs and their evidence files only (nothing typed).

A workload's leaderboard has one row for the baseline and one per year's integrated recipe
(``recipes/<workload>/<year>.toml``, the format of `trickstack.recipes.recipe`). Every number of a row comes
from the run records in the recipe's evidence file (``<year>.runs.jsonl``, one `RunRecord` a line) by
`trickstack.stats.analysis`: the recipe's metric (`arm_summary`), its paired gain over the previous year's
recipe and over the baseline with a one-sided p (`paired_differences`), its median training time per run
and its ratio to the baseline's, and, on the recipe's page, that gain over the baseline in parts: the
re-tuned nuisance values and the Shapley values of its tricks from the attribution runs
(`trickstack.leaderboard.attribution`). Runs of the evidence that are none of these are the tricks tried
that year and not kept: the negative results (`trickstack.leaderboard.negative`), listed with their numbers.
The evidence is read and checked by `trickstack.leaderboard.evidence` (each record; its SHA-256 against the
recipe's, last, so that a more specific error is reported first) and the recipe's claims by `_check_claims`
and `trickstack.leaderboard.claims`.

A run is identified by its tricks (with their resolved parameters) and its nuisance values; arms are
paired by seed. The recipe's own runs and the previous recipe's must carry the recipe's nuisance
values; the baseline and the attribution subsets may have been run with other (e.g. default or
re-tuned) nuisance values, and are taken as they are when only one variant was run.

The rules (minimum seeds, alpha, the test, `passes`) are those of `trickstack.stats.rules`, the single
place where they are set; `recipe derive` decides by the same module.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Optional

import pandas as pd

from trickstack.core.errors import UserError
from trickstack.core.stacks import BASELINE
from trickstack.leaderboard import attribution as attr
from trickstack.leaderboard import replications as reps
from trickstack.leaderboard.claims import (
    check_candidate_claim,
    check_sequential,
    check_texts,
    differing,
    differing_corrected,
)
from trickstack.leaderboard.evidence import (
    ListedRecipe,
    _describe,
    _params,
    check_seal,
    read_evidence,
    read_recipes,
    runs_of,
    stack_of,
)
from trickstack.leaderboard.negative import negative_results
from trickstack.recipes.recipe import TRACKS, linked_file, recipes_root, track_folder
from trickstack.stats import analysis as an
from trickstack.stats import planning, rules
from trickstack.stats.compare import compare
from trickstack.stats.selection import Corrected, Fresh, corrected, fresh_of
from trickstack.stats.table import runs_table
from trickstack.trial.flops import SECONDS_INCLUDE
from trickstack.workloads import get_workload

MAY_NOT_CHANGE = (
    "the workload's data and its train/eval splits",
    "the model contract: the workload's model family, its inputs and outputs",
    "the metric, its direction and how it is evaluated",
    "the budget: its unit and its value, counted the same way for every arm",
)
STATUSES = {"baseline": "the workload with no trick, its nuisance values as run",
            "new best": (f"beats the previous year's recipe: p < {rules.LEADERBOARD_ALPHA} over at least "
                         f"{rules.LEADERBOARD_MIN_SEEDS} paired seeds"),
            "carried forward": "no candidate passed the test: the previous year's recipe stays (same tricks)",
            "not significant": "hand-written recipe whose evidence does not pass the test (no provenance)"}
COLUMNS = ["workload", "metric", "direction", "entry", "year", "status", "n", "n_diverged", "mean", "sd", "ci_low",
           "ci_high", "previous", "n_pairs_prev", "gain_prev", "gain_prev_low", "gain_prev_high", "p_prev",
           "gain_prev_corrected", "gain_prev_corrected_low", "gain_prev_corrected_high",
           "looks_taken", "power_prev", "power_prev_cautious", "seeds_80_prev", "seeds_80_prev_cautious",
           "n_pairs_base", "gain_base", "gain_base_low", "gain_base_high", "p_base", "budget_unit", "budget",
           "added", "removed", "train_seconds", "train_ratio", *reps.COLUMNS, "date", "commit", "evidence",
           "evidence_sha256", "page"]
NEGATIVE_COLUMNS = ["workload", "year", "recipe", "tried", "stack", "n", "n_diverged", "mean", "ci_low", "ci_high",
                    "reference", "n_pairs", "gain", "gain_low", "gain_high", "p_value", "evidence"]

# Integer columns, as nullable Int64: the baseline row has no year and no pairs.
INTEGERS = ("year", "n", "n_diverged", "n_pairs_prev", "n_pairs_base", "n_pairs", "looks_taken", "replications",
            "replicated_n_pairs")


# ---- the leaderboard ----------------------------------------------------------------------------------


@dataclass
class Entry:
    """One recipe on the leaderboard: its row, its evidence, its attribution and its negative results."""

    recipe: ListedRecipe
    evidence: Path
    records: list
    runs: list
    previous: Optional["Entry"]
    row: dict[str, Any] = field(default_factory=dict)
    attribution: Any = None  # a `trickstack.reports.model.Report` with arms, shapley, effects, additivity
    attribution_note: Optional[str] = None  # why there is none
    contributions: Optional[pd.DataFrame] = None  # the gain over the baseline in parts (`attribution.contributions`)
    negative: list[dict[str, Any]] = field(default_factory=list)
    seal: Optional[str] = None  # the evidence's SHA-256, checked against the recipe's (None: hand-written)
    search: list = field(default_factory=list)  # records of the evidence file outside the evaluation seeds (search)
    estimation: list = field(default_factory=list)  # records on provenance.estimation_seeds (after the acceptance)
    replications: list = field(default_factory=list)  # `trickstack.leaderboard.replications.Replication`, checked

    @property
    def name(self) -> str:
        return self.recipe.name

    @property
    def page(self) -> str:
        return f"{self.name.replace('/', '-')}.html"


@dataclass
class Board:
    """One workload's leaderboard on one track: FLOPs (``name`` = the workload) or time (``mnist1d/seconds``)."""

    name: str
    track: str
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

    @property
    def source_label(self) -> str:
        """The recipes folder as published pages name it: relative to the repository (``recipes/``), never an
        absolute path of the machine that built the site."""
        root = recipes_root().resolve()
        source = self.source.resolve()
        for base in (root.parent, Path.cwd().resolve()):
            if source == base or base in source.parents:
                return f"{source.relative_to(base).as_posix()}/"
        return f"{source.name}/"

    def table(self) -> pd.DataFrame:
        return pd.concat([b.table for b in self.boards.values()], ignore_index=True)

    def negative(self) -> pd.DataFrame:
        return pd.concat([b.negative for b in self.boards.values()], ignore_index=True)


def build(recipes_dir: Optional[Path] = None, year: Optional[int] = None, workload: Optional[str] = None) -> Leaderboard:
    """The leaderboards of every workload in ``recipes_dir`` (or ``workload``'s), as of ``year`` (recipes
    of years <= ``year``). Bad input raises `UserError` naming the file."""
    root = Path(recipes_dir) if recipes_dir is not None else recipes_root()
    if not root.is_dir():
        raise UserError(f"{root}: no such recipes folder")
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(("_", ".")))
    tracks = lambda folder: [track_folder(root, folder.name, t) for t in TRACKS]  # noqa: E731
    if workload is not None:
        get_workload(workload)  # an unknown name: "did you mean"
        folder = root / workload
        have = [p.name for p in folders if any(any(f.glob("*.toml")) for f in tracks(p))]
        if not any(any(f.glob("*.toml")) for f in tracks(folder)):
            raise UserError(f"{folder}: no recipes for workload {workload!r} (no <year>.toml there; workloads with "
                            f"recipes in {root}: {', '.join(have) or 'none'})")
        folders = [folder]
    boards = {}
    for folder in folders:
        found = {f: [r for r in read_recipes(f) if year is None or r.year <= year] for f in tracks(folder)}
        for f, recipes in found.items():
            if recipes:
                board = _board(recipes, year)
                boards[board.name] = board
        if workload is not None and not any(found.values()):
            raise UserError(f"{folder}: no recipe of workload {workload!r} from {year} or before")
    if not boards:
        raise UserError(f"{root}: no recipes (recipes/<workload>/<year>.toml)" + (f" from {year} or before" if year else ""))
    return Leaderboard(root, year, boards)


def _board(recipes: list[ListedRecipe], year: Optional[int]) -> Board:
    wl, track = get_workload(recipes[0].workload), recipes[0].track
    by_year = {r.year: r for r in recipes}
    entries: list[Entry] = []
    for recipe in sorted(recipes, key=lambda r: r.year):
        evidence = linked_file(recipe.path, recipe.workload, recipe.track,
                               str(recipe.provenance.get("evidence", f"{recipe.year}.runs.jsonl")), "provenance.evidence")
        records = read_evidence(evidence, recipe, wl.metric, wl.direction)
        seeds, fresh = recipe.provenance.get("seeds"), set(recipe.provenance.get("estimation_seeds") or [])
        estimation = [r for r in records if r.seed in fresh]  # run after the acceptance: the corrected gain's
        search = [r for r in records if seeds is not None and r.seed not in set(seeds) and r.seed not in fresh]
        if seeds is not None:  # the evaluation seeds: other records (tuning, search) are not evidence
            records = [r for r in records if r.seed in set(seeds)]
        runs = runs_of(records, recipe.stack, recipe.nuisance, strict=True, where=str(evidence))
        if not runs:
            other = sorted({_params(r.nuisance) for r in records if stack_of(r) == recipe.stack})
            found = (f"its tricks were run with nuisance {' or '.join(other)} only" if other else
                     f"stacks run: {'; '.join(sorted({_describe(stack_of(r)) for r in records}))}")
            raise UserError(f"{evidence}: no run of recipe {recipe.name} ({_describe(recipe.stack)}, nuisance "
                            f"{_params(recipe.nuisance)}): records that do not match the recipe ({found})")
        if seeds is not None and sorted({r.seed for r in runs}) != sorted(set(seeds)):
            raise UserError(f"{evidence}: recipe {recipe.name} was run on seeds {sorted(r.seed for r in runs)}, "
                            f"but {recipe.path} lists provenance.seeds = {list(seeds)}")
        previous = _previous(recipe, by_year, entries)
        entries.append(Entry(recipe, evidence, records, runs, previous, search=search, estimation=estimation))
    unit, value = _budget(entries)
    for e in entries:
        e.row = _row(e, wl, unit, value)
        e.attribution, e.attribution_note = attr.attribution(e, wl.direction)
        e.contributions = attr.contributions(e, wl, _baseline_runs(e, wl))
        e.negative = negative_results(e, wl, _summary)
        check_candidate_claim(e)
        check_texts(e)
    if track == "flops":
        hardware = sorted({r.provenance.cpu for e in entries for r in e.records})
    else:
        hardware = [_timed_on(entries)]
    for e in entries:  # last, so that a more specific error about a record is reported first
        e.seal = e.row["evidence_sha256"] = check_seal(e.recipe, e.evidence)
        _replicated(e, wl, (unit, value))
    baseline = _baseline_row(entries[-1], wl, unit, value)
    table = _typed(pd.DataFrame([baseline] + [e.row for e in entries], columns=COLUMNS))
    negative = _typed(pd.DataFrame([n for e in entries for n in e.negative], columns=NEGATIVE_COLUMNS))
    name = track_folder("", wl.name, track).as_posix()
    return Board(name, track, wl.name, wl.metric, wl.direction, unit, value, hardware, entries, table, negative)


def _replicated(e: Entry, wl, budget: tuple[str, float]) -> None:
    """``e``'s fresh-seed replications read and checked, pooled into its row (`trickstack.leaderboard.replications`)."""
    prev = e.previous
    stack, nuisance = (prev.recipe.stack, prev.recipe.nuisance) if prev else ({}, wl.resolve_nuisance())
    e.replications = reps.read_replications(e, wl, stack, nuisance, budget, reps.used_seeds(e))
    if e.replications and e.row["status"] == "carried forward":
        raise UserError(f"{e.replications[0].manifest}: a replication of {e.name}, which carries {e.row['previous']} "
                        "forward: its claim is that recipe's; replicate that one")
    e.row.update(reps.pooled(e.replications, e.row["gain_prev"], wl.direction))


def _timed_on(entries: list[Entry]) -> str:
    """The time track's one class of hardware (`Provenance.hardware_class`): every recipe's provenance.hardware
    and every run of its evidence, the search's too (`rules.TIME_TRACK`)."""
    claimed = {e.recipe.path: e.recipe.provenance.get("hardware") for e in entries}
    if len(set(claimed.values())) > 1:
        raise UserError(f"time-track recipes of {entries[0].recipe.workload} timed on different hardware: "
                        f"{'; '.join(f'{path}: {hw}' for path, hw in claimed.items())}. {rules.TIME_TRACK}")
    hardware = next(iter(claimed.values()))
    if hardware == rules.SIMULATED_HARDWARE:  # simulated runs: nothing was timed (their records name this machine)
        return hardware
    for e in entries:
        other = sorted({r.provenance.hardware_class for r in [*e.records, *e.search, *e.estimation]} - {hardware})
        if other:
            raise UserError(f"{e.evidence}: runs timed on {', '.join(other)}, but {e.recipe.path} claims "
                            f"provenance.hardware = {hardware!r}: {rules.TIME_TRACK}")
        busy = rules.busy_runs([*e.records, *e.search, *e.estimation])
        if busy:
            raise UserError(f"{e.evidence}: {len(busy)} timed run(s) got less than {rules.BUSY_SHARE:.0%} of their CPU "
                            f"threads' time (seed {busy[0].seed} first): timed on a busy machine. {rules.TIME_TRACK}")
    return hardware


def _typed(table: pd.DataFrame) -> pd.DataFrame:
    return table.astype({c: "Int64" for c in INTEGERS if c in table})


def _previous(recipe: ListedRecipe, by_year: dict[int, ListedRecipe], entries: list[Entry]) -> Optional[Entry]:
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
    s = an.arm_summary(runs_table({"arm": runs}), direction).iloc[0]
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
            "evidence": f"{track_folder('evidence', wl.name, e.recipe.track).as_posix()}/{e.evidence.name}",
            "evidence_sha256": e.seal}


def _cost(runs, baseline_runs) -> dict[str, float]:
    """Median training seconds per run (the records' ``train_seconds``) and its ratio to the baseline's
    (NaN where the baseline's records give no time, as simulated runs do)."""
    seconds, base = (statistics.median(r.train_seconds for r in rs) for rs in (runs, baseline_runs))
    return {"train_seconds": seconds, "train_ratio": seconds / base if base > 0 else math.nan}


def _baseline_row(latest: Entry, wl, unit: str, value: float) -> dict[str, Any]:
    """The baseline, from the latest recipe's evidence (the most recent code that ran it)."""
    runs = _baseline_runs(latest, wl)
    return {**_common(latest, wl, unit, value), "entry": BASELINE, "year": None, "status": "baseline",
            **_summary(runs, wl.direction), "previous": "", "added": "", "removed": "", **_cost(runs, runs), "page": ""}


def _row(e: Entry, wl, unit: str, value: float) -> dict[str, Any]:
    r, direction = e.recipe, wl.direction
    prev = e.previous
    prev_stack, prev_nuisance = (prev.recipe.stack, prev.recipe.nuisance) if prev else ({}, wl.resolve_nuisance())
    base_runs = _baseline_runs(e, wl)
    base = compare(e.runs, base_runs, direction)
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
    if not same:
        check_sequential(e, e.runs, base_runs if prev is None else prev_runs, direction)
    confirmation = r.provenance.get("confirmation")  # a sequential confirmation is judged at the look it stopped
    status = "carried forward" if same else "new best" if rules.passes(versus, confirmation=confirmation) else "not significant"
    # the gain given that it was accepted (the winner's curse removed); NaN where no selection made the row
    fixed = corrected(versus["gain"], versus.get("sd", math.nan), versus["n_pairs"], confirmation,
                      _fresh(e, wl, prev_stack, prev_nuisance)) \
        if status == "new best" and r.provenance.get("accepted", True) else corrected(math.nan, math.nan, 0)
    _check_claims(e, status, versus, fixed)
    added = {n: p for n, p in r.stack.items() if prev_stack.get(n) != p}
    removed = sorted(set(prev_stack) - set(r.stack))
    # the confirmation's power for its own observed effect, estimated from this evidence (NaN: carried forward)
    power = planning.achieved(versus["gain"], versus.get("sd", math.nan), versus["n_pairs"], confirmation)
    return {**_common(e, wl, unit, value), "entry": r.name, "year": r.year, "status": status,
            **_summary(e.runs, direction), "previous": prev.name if prev else BASELINE,
            "n_pairs_prev": versus["n_pairs"], "gain_prev": versus["gain"], "gain_prev_low": versus["low"],
            "gain_prev_high": versus["high"], "p_prev": versus["p"], "gain_prev_corrected": fixed.gain,
            "gain_prev_corrected_low": fixed.low, "gain_prev_corrected_high": fixed.high,
            "looks_taken": confirmation["looks_taken"] if confirmation and not same else None,
            "power_prev": power.power, "power_prev_cautious": power.power_cautious, "seeds_80_prev": power.seeds_80,
            "seeds_80_prev_cautious": power.seeds_80_cautious, "n_pairs_base": base["n_pairs"],
            "gain_base": base["gain"], "gain_base_low": base["low"], "gain_base_high": base["high"],
            "p_base": base["p"], "added": "; ".join(_describe({n: p}) for n, p in added.items()),
            "removed": "; ".join(removed), **_cost(e.runs, base_runs), "page": e.page}


def _fresh(e: Entry, wl, stack: Mapping[str, Any], nuisance: Mapping[str, Any]) -> Optional[Fresh]:
    """The paired test of the recipe against the one it was tested against on its estimation seeds (None where
    it lists none); each of them must hold a run of both."""
    seeds = e.recipe.provenance.get("estimation_seeds")
    if not seeds:
        return None
    pairs = [runs_of(e.estimation, s, n, strict=True, where=str(e.evidence)) for s, n in
             ((e.recipe.stack, e.recipe.nuisance), (stack, nuisance))]
    for who, runs in zip((e.name, e.previous.name if e.previous else BASELINE), pairs):
        if sorted({r.seed for r in runs}) != sorted(set(seeds)):
            raise UserError(f"{e.evidence}: {who} was run on estimation seeds {sorted({r.seed for r in runs})}, but "
                            f"{e.recipe.path} lists provenance.estimation_seeds = {list(seeds)}")
    return fresh_of(compare(*pairs, wl.direction))


def _check_claims(e: Entry, status: str, versus: Mapping[str, float], fixed: Corrected) -> None:
    """What the recipe's provenance claims must be what its evidence shows."""
    p, path = e.recipe.provenance, e.recipe.path
    if "accepted" not in p:
        return
    prev = e.previous.name if e.previous else BASELINE
    if p["accepted"] and status == "carried forward":
        raise UserError(f"{path}: provenance.accepted = true, but its tricks and nuisance equal {prev}'s")
    if p["accepted"] and status != "new best":
        level = rules.sequential_level(p["confirmation"]) if p.get("confirmation") else rules.LEADERBOARD_ALPHA
        raise UserError(f"{path}: provenance.accepted = true, but its evidence {e.evidence} gives p = {versus['p']:.3g} "
                        f"over {versus['n_pairs']} paired seeds against {prev} (rules: p < {level:.4g}, "
                        f"at least {rules.LEADERBOARD_MIN_SEEDS} seeds)")
    if not p["accepted"] and status != "carried forward":
        raise UserError(f"{path}: provenance.accepted = false means {prev} is carried forward, but the recipe's "
                        f"tricks or nuisance differ from it")
    if p["accepted"]:
        for key, claimed, shown in differing(p, versus) + differing_corrected(p, fixed):
            raise UserError(f"{path}: provenance.{key} = {claimed}, but its evidence {e.evidence} gives {shown} "
                            f"over {prev}: records that do not match the recipe")


def rules_summary(lb: Leaderboard) -> dict[str, Any]:
    """The rules, from the constants above and each workload's registered contract."""
    return {"min_seeds": rules.LEADERBOARD_MIN_SEEDS, "alpha": rules.LEADERBOARD_ALPHA, "test": rules.LEADERBOARD_TEST,
            "level": an.LEVEL,
            "seeds": (f"at least {rules.LEADERBOARD_MIN_SEEDS} paired evaluation seeds, disjoint from the seeds used for "
                      "tuning and search, and from every earlier year's evaluation and estimation seeds: runs are "
                      "deterministic, so "
                      "re-running the previous recipe on its own seeds would reproduce the very runs that got it "
                      "accepted (recipes derived before this rule reused seeds 0 to 4: their pages say so)"),
            "comparison": "same workload, same budget (unit and value) and same class of hardware as the previous year",
            "may_not_change": list(MAY_NOT_CHANGE),
            "negative_results": "tricks tried and not kept are published with their evidence",
            "sequential": rules.SEQUENTIAL, "time_track": rules.TIME_TRACK, "time_measured": SECONDS_INCLUDE,
            "workloads": {b.name: {"metric": b.metric, "direction": b.direction, "budget_unit": b.budget_unit,
                                       "budget": b.budget, "hardware": b.hardware} for b in lb.boards.values()}}
