"""Integrated recipes as data: the best stack of tricks known by a year, in ``recipes/<workload>/<year>.toml``.

A recipe names its workload and year, optionally a base recipe (an earlier year of the same workload)
it builds on, the tricks it adds or re-parametrises (each with a one-line reason), the tricks of the
base it drops, the workload's nuisance hyperparameters and, when trickstack derived it, the evidence.
The format is documented in ``recipes/README.md``. Loading is strict; `resolve` applies the bases and
checks everything against the registries, giving the `ResolvedRecipe` that runs and records carry.

>>> import pathlib, tempfile
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> _ = (folder / "2016.toml").write_text('''
... [recipe]
... workload = "mnist1d"
... year = 2016
... summary = "label smoothing on the baseline"
...
... [tricks.label_smoothing]
... reason = "an example, not a measured result"
... params = { smoothing = 0.05 }
... ''')
>>> resolved = resolve(load_recipe(folder / "2016.toml"))
>>> resolved.name, resolved.stack, resolved.tricks[0].params, resolved.nuisance
('mnist1d/2016', ['label_smoothing'], {'smoothing': 0.05}, {'lr': 0.01, 'weight_decay': 0.0})
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import os
import re
from importlib.resources import files
from pathlib import Path
from typing import Literal, Optional, Union

import tomlkit
from pydantic import Field, model_validator

from trickstack.core.datafiles import OneLine, Strict, check_regular, parse_toml, read_text, validate
from trickstack.core.errors import UserError
from trickstack.core.outputs import write_failures, write_file
from trickstack.core.params import Value
from trickstack.core.records import BudgetRecord, ResolvedRecipe, TrickRecord
from trickstack.trial.runner import resolve_stack
from trickstack.tricks.registry import get_trick
from trickstack.workloads import get_workload

__all__ = ["Recipe", "ResolvedRecipe", "find_recipe", "linked_file", "lineage", "list_recipes", "load_recipe",
           "open_recipe", "recipes_folder", "recipes_root", "resolve", "shipped_paths", "write_recipe"]

YEAR = re.compile(r"\d{4}")
# "mnist1d/2019" (the FLOP track), "mnist1d/seconds/2026" (the time track)
REFERENCE = re.compile(r"(?P<workload>[A-Za-z0-9_.\-]+)/(?:(?P<track>seconds)/)?(?P<year>\d{4})")
Track = Literal["flops", "seconds"]
TRACKS: tuple[Track, ...] = ("flops", "seconds")  # a recipe's track is the unit of its budget


def track_folder(root: Union[str, Path], workload: str, track: str = "flops") -> Path:
    """Where a track's recipes live: ``<root>/<workload>/`` (FLOPs) or ``<root>/<workload>/seconds/`` (time).

    >>> track_folder("recipes", "mnist1d").as_posix(), track_folder("recipes", "mnist1d", "seconds").as_posix()
    ('recipes/mnist1d', 'recipes/mnist1d/seconds')
    """
    if track not in TRACKS:
        raise UserError(f"recipes are kept for a budget in {' or '.join(TRACKS)}, not {track}")
    folder = Path(root) / workload
    return folder if track == "flops" else folder / track


def recipe_name(workload: str, year: int, track: str = "flops") -> str:
    """A recipe's one name, its path under the recipes folder: ``mnist1d/2019``, or ``mnist1d/seconds/2026``."""
    return f"{track_folder('', workload, track).as_posix()}/{year}"


class RecipeSection(Strict):
    workload: str = Field(min_length=1)
    year: int = Field(ge=1900, description="tricks published after this year are not allowed")
    base: Optional[str] = Field(None, min_length=1, description='an earlier year ("2017") or a path relative to this file')
    summary: OneLine
    track: Optional[Literal["seconds"]] = Field(None, description='"seconds": the time track (a budget of training '
                                                                  'seconds on one class of hardware); omitted: FLOPs')


class TrickEntry(Strict):
    reason: OneLine
    params: dict[str, Value] = Field(default_factory=dict, description="omitted: the base's value, else the default")


class RemovedEntry(Strict):
    reason: OneLine


class ConfirmationSection(Strict):
    """How the candidate was confirmed when seeds were added sequentially (`trickstack.stats.sequential`);
    absent when it ran on a fixed number of seeds. `trickstack.stats.rules.passes` judges it."""

    design: Literal["sequential"]
    looks: list[int] = Field(min_length=1, description="cumulative paired evaluation seeds at each look")
    spending: str = Field(min_length=1, description="the alpha-spending function over the looks")
    alpha: float = Field(gt=0, lt=0.5, description="false acceptance allowed over all looks together")
    futility: float = Field(allow_inf_nan=False, description="an interim look stops when the t statistic is below this")
    looks_taken: int = Field(ge=1, description="the look where it stopped (1-based)")
    decision: Literal["accept", "stop", "reject"]
    nominal: float = Field(ge=0, le=1, description="the p that the look where it stopped had to beat")


class ProvenanceSection(Strict):
    """How `trickstack recipe derive` found the recipe; absent from a hand-written one."""

    study: str = Field(min_length=1)
    date: dt.date
    commit: str = Field(min_length=1)
    budget: BudgetRecord
    seeds: list[int] = Field(min_length=1, description="evaluation seeds, disjoint from tuning and search seeds")
    estimation_seeds: Optional[list[int]] = Field(
        None, min_length=1, description="accepted: fresh seeds the recipe and the one it was tested against ran on after "
                                        "the acceptance, outside the decision; the corrected gain adds them")
    previous: str = Field(min_length=1, description='the recipe it was tested against ("baseline" for the first year)')
    gain: float = Field(allow_inf_nan=False, description="mean paired difference vs previous, metric units, + = better")
    ci: tuple[float, float] = Field(description="95% confidence interval of the gain")
    gain_corrected: Optional[float] = Field(None, allow_inf_nan=False,
                                            description="the gain corrected for its acceptance and the sequential stop "
                                                        "(`trickstack.stats.selection`); absent from older recipes")
    ci_corrected: Optional[tuple[float, float]] = Field(None, description="95% interval of the corrected gain among "
                                                                          "accepted years")
    p_value: float = Field(ge=0, le=1, description="one-sided paired t-test, H1: better than previous")
    accepted: bool = Field(description="false: not significant, the previous recipe's tricks are carried forward")
    evidence: str = Field(min_length=1, description="the run records behind the numbers, relative to the recipe file")
    evidence_sha256: Optional[str] = Field(None, pattern=r"^[0-9a-f]{64}$",
                                           description="SHA-256 of the evidence file: any later edit of it is detected")
    hardware: Optional[OneLine] = Field(None, description="time track: the hardware class every run was timed on "
                                                          "(`trickstack.core.records.Provenance.hardware_class`)")
    confirmation: Optional[ConfirmationSection] = None

    @model_validator(mode="after")
    def _consistent(self) -> "ProvenanceSection":
        if len(set(self.seeds)) != len(self.seeds) or min(self.seeds) < 0:
            raise ValueError(f"seeds must be distinct and non-negative, got {self.seeds}")
        if not (math.isfinite(self.budget.value) and self.budget.value > 0):
            raise ValueError(f"budget.value must be a positive number of {self.budget.unit}, got {self.budget.value}")
        for key, ci in (("ci", self.ci), ("ci_corrected", self.ci_corrected)):
            if ci is not None and not ci[0] <= ci[1]:
                raise ValueError(f"{key} must be [low, high] with low <= high, got {list(ci)}")
        fresh = self.estimation_seeds
        if fresh is not None and (len(set(fresh)) != len(fresh) or min(fresh) < 0 or set(fresh) & set(self.seeds)):
            raise ValueError(f"estimation_seeds must be distinct, non-negative and not evaluation seeds, got {fresh}")
        if fresh is not None and not self.accepted:
            raise ValueError("estimation_seeds: only an accepted recipe runs estimation seeds")
        if (self.gain_corrected is None) != (self.ci_corrected is None):
            raise ValueError("gain_corrected and ci_corrected go together")
        c = self.confirmation
        if c is not None and not (c.looks_taken <= len(c.looks) and len(self.seeds) == c.looks[c.looks_taken - 1]):
            raise ValueError(f"confirmation.looks_taken = {c.looks_taken} of looks {c.looks}, but {len(self.seeds)} seeds")
        return self


class Recipe(Strict):
    recipe: RecipeSection
    tricks: dict[str, TrickEntry] = Field(default_factory=dict, description="added or re-parametrised on the base")
    removed: dict[str, RemovedEntry] = Field(default_factory=dict, description="tricks of the base dropped")
    nuisance: dict[str, Value] = Field(default_factory=dict, description="omitted: the base's value, else the default")
    provenance: Optional[ProvenanceSection] = None
    source: str = Field("<recipe>", description="the file it was read from (not written back)")

    @model_validator(mode="after")
    def _track(self) -> "Recipe":
        prov = self.provenance
        if prov is not None and (prov.budget.unit == "seconds") != (self.track == "seconds"):
            raise ValueError(f"provenance.budget is in {prov.budget.unit}, but the recipe is of the {self.track} track "
                             '(recipe.track = "seconds" is the time track, and only it has a budget in seconds)')
        if prov is not None and self.track == "seconds" and not prov.hardware:
            raise ValueError("provenance.hardware is missing: a time-track recipe names the hardware its runs were "
                             "timed on")
        return self

    @property
    def track(self) -> Track:
        return self.recipe.track or "flops"

    @property
    def name(self) -> str:
        return recipe_name(self.recipe.workload, self.recipe.year, self.track)


# --------------------------------------------------------------------------------------------------
# Reading, finding and writing files.


def load_recipe(path: Union[str, Path]) -> Recipe:
    """Read and validate the recipe file ``path`` (its structure; `resolve` checks the names)."""
    source = str(path)
    data = parse_toml(read_text(path, "recipe"), source)
    if "source" in data:
        raise UserError(f"{source}: source: unknown key (a recipe's source is the file it is read from)")
    recipe = validate(Recipe, {**data, "source": source}, source)
    stem = Path(path).stem
    if YEAR.fullmatch(stem) and int(stem) != recipe.recipe.year:
        raise UserError(f"{source}: recipe.year = {recipe.recipe.year}, but the file is named for {stem}")
    return recipe


def recipes_root() -> Path:
    """The shipped recipes: ``recipes/`` of a checkout, ``trickstack/recipes/`` of an installed wheel."""
    return Path(str(files("trickstack.recipes")))


def check_folder(recipe: Recipe, path: Path) -> Recipe:
    """``recipe`` if ``path`` is where its workload and track keep it (`track_folder`), else a `UserError`."""
    folder = path.parent
    track = folder.name if folder.name in TRACKS[1:] else "flops"
    workload = folder.parent.name if track != "flops" else folder.name
    if recipe.recipe.workload != workload:
        raise UserError(f"{path}: recipe.workload = {recipe.recipe.workload!r}, but the file is in the "
                        f"folder of workload {workload!r}")
    if recipe.track != track:
        raise UserError(f"{path}: a recipe of the {recipe.track} track in the folder of the {track} track "
                        f"(recipe.track = {recipe.recipe.track!r}; it belongs in "
                        f"{track_folder('', workload, recipe.track).as_posix()}/)")
    return recipe


def _shipped(path: Path) -> Recipe:
    return check_folder(load_recipe(path), path)


def shipped_paths(workload: Optional[str] = None, track: Optional[str] = None) -> list[Path]:
    """The files of the shipped recipes (of ``workload``, of ``track``; default all), sorted by workload, track
    and year."""
    paths = [p for t in ([track] if track else TRACKS)
             for p in recipes_root().glob(f"{track_folder('', workload or '*', t).as_posix()}/*.toml") if YEAR.fullmatch(p.stem)]
    return sorted(paths, key=lambda p: (p.relative_to(recipes_root()).parts[0], p.parent.name in TRACKS, int(p.stem)))


def list_recipes(workload: Optional[str] = None, track: Optional[str] = None) -> list[Recipe]:
    """The shipped recipes (of ``workload``, of ``track``), sorted by workload, track and year. Not resolved."""
    return [_shipped(p) for p in shipped_paths(workload, track)]


def find_recipe(workload: str, year: int, track: str = "flops") -> Recipe:
    """The shipped recipe ``recipes/<workload>/<year>.toml`` (or of another track); a `UserError` listing
    the recipes there are."""

    get_workload(workload)
    path = track_folder(recipes_root(), workload, track) / f"{year}.toml"
    if not path.exists():
        years = [str(r.recipe.year) for r in list_recipes(workload, track)]
        shown = workload if track == "flops" else f"{workload}/{track}"
        there = f"shipped for {shown}: {', '.join(years)}" if years else f"none is shipped for {shown} yet"
        raise UserError(f"no recipe {recipe_name(workload, year, track)}: {path} does not exist ({there})")
    return _shipped(path)


def open_recipe(ref: Union[str, Path]) -> Recipe:
    """A recipe file (``recipes/mnist1d/2019.toml``) or a shipped recipe by name (``mnist1d/2019``)."""
    text = str(ref)
    match = REFERENCE.fullmatch(text)
    if match and not Path(text).exists():
        return find_recipe(match["workload"], int(match["year"]), match["track"] or "flops")
    if text.endswith(".toml") or Path(text).exists():
        return load_recipe(text)
    raise UserError(f"{text!r} is neither a recipe file (.toml) nor WORKLOAD/YEAR of a shipped recipe (e.g. mnist1d/2019)")


def write_recipe(recipe: Recipe, path: Union[str, Path]) -> Path:
    """Write ``recipe`` to ``path`` in the format of ``recipes/README.md`` (``load_recipe`` reads it back equal)."""
    doc = tomlkit.document()
    doc["recipe"] = _table(recipe.recipe.model_dump(exclude_none=True))
    if recipe.tricks:
        tricks = tomlkit.table(is_super_table=True)
        for name, entry in recipe.tricks.items():
            tricks[name] = _table(entry.model_dump() if entry.params else {"reason": entry.reason})
        doc["tricks"] = tricks
    if recipe.removed:
        removed = tomlkit.table(is_super_table=True)
        for name, entry in recipe.removed.items():
            removed[name] = _table(entry.model_dump())
        doc["removed"] = removed
    if recipe.nuisance:
        doc["nuisance"] = _table(recipe.nuisance)
    if recipe.provenance is not None:
        prov = recipe.provenance.model_dump(exclude_none=True)
        lists = {key: list(prov[key]) for key in ("ci", "ci_corrected") if key in prov}
        doc["provenance"] = _table({**prov, "date": prov["date"].isoformat(), **lists})
    path = Path(path)
    with write_failures(path.parent, "the recipe into it"):
        path.parent.mkdir(parents=True, exist_ok=True)
    return write_file(path, tomlkit.dumps(doc))  # atomic: a failed write leaves no half recipe


def evidence_digest(path: Union[str, Path]) -> str:
    """The SHA-256 of an evidence file's bytes, as ``provenance.evidence_sha256`` records it."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def seal_recipe(path: Union[str, Path]) -> Optional[str]:
    """Write the digest of its evidence file into a derived recipe's ``provenance.evidence_sha256``, changing
    nothing else in the file; return the digest (None: a hand-written recipe, nothing to seal). A recipe
    sealed with another digest is refused: its evidence changed since."""
    path = Path(path)
    recipe = load_recipe(path)
    if recipe.provenance is None:
        return None
    digest = evidence_digest(linked_file(path, recipe.recipe.workload, recipe.track, recipe.provenance.evidence,
                                         "provenance.evidence"))
    if recipe.provenance.evidence_sha256 not in (None, digest):
        raise UserError(f"{path}: provenance.evidence_sha256 = {recipe.provenance.evidence_sha256}, but its evidence "
                        f"{recipe.provenance.evidence} now has SHA-256 {digest}: it was edited after the recipe was sealed")
    doc = tomlkit.parse(path.read_text(encoding="utf-8"))
    doc["provenance"]["evidence_sha256"] = digest
    write_file(path, tomlkit.dumps(doc))
    again = load_recipe(path)
    assert again.model_copy(update={"provenance": recipe.provenance}) == recipe.model_copy(update={"source": again.source})
    return digest


def _table(values: dict) -> tomlkit.items.Table:
    """A ``[section]`` whose dict values are inline tables (``params = { smoothing = 0.1 }``)."""
    table = tomlkit.table()
    for key, value in values.items():
        if isinstance(value, dict):
            inline = tomlkit.inline_table()
            inline.update(value)
            value = inline
        table[key] = value
    return table


# --------------------------------------------------------------------------------------------------
# Resolution: bases applied, names and values checked against the registries.


def resolve(recipe: Recipe) -> ResolvedRecipe:
    """Apply the bases (recursively), drop removed tricks, fill in defaults and check everything.

    Raises a `UserError` naming the file and the key: an unknown workload, trick or parameter, a value
    out of range, a trick published after the recipe's year, a year after the current one, a base of
    another workload or of a year not earlier, a cycle of bases, tricks that cannot be stacked.
    """
    return _resolve(recipe, ())[0]


def lineage(recipe: Recipe) -> list[Recipe]:
    """The recipe and its bases, oldest first (after checking them all, as `resolve` does)."""
    return _resolve(recipe, ())[1]


def _resolve(recipe: Recipe, chain: tuple[Path, ...]) -> tuple[ResolvedRecipe, list[Recipe]]:
    r = recipe.recipe

    def fail(where: str, problem: object) -> UserError:
        return UserError(f"{recipe.source}: {where}: {problem}")

    try:
        wl = get_workload(r.workload)
    except UserError as error:
        raise fail("recipe.workload", error) from None
    this_year = dt.datetime.now(dt.timezone.utc).year
    if r.year > this_year:
        raise fail("recipe.year", f"{r.year} is after the current year ({this_year})")

    base, older = None, []
    if r.base is not None:
        path = _base_path(recipe)
        nodes = [*chain, Path(recipe.source).resolve()]
        if path.resolve() in nodes:
            loop = [*nodes[nodes.index(path.resolve()):], path.resolve()]
            raise fail("recipe.base", "cycle of bases: " + " -> ".join(str(p) for p in loop))
        try:
            parent = load_recipe(path)
        except UserError as error:
            raise fail("recipe.base", error) from None
        if parent.recipe.workload != r.workload:
            raise fail("recipe.base", f"{path} is a recipe of workload {parent.recipe.workload!r}, not {r.workload!r}")
        if parent.track != recipe.track:
            raise fail("recipe.base", f"{path} is a recipe of the {parent.track} track, this one of the {recipe.track} "
                                      "track: a base is of the same budget unit")
        if parent.recipe.year >= r.year:
            raise fail("recipe.base", f"{path} is the {parent.recipe.year} recipe; a base must be of a year before {r.year}")
        try:
            base, older = _resolve(parent, tuple(nodes))
        except UserError as error:
            raise fail("recipe.base", error) from None

    params = {t.name: dict(t.params) for t in (base.tricks if base else [])}
    if recipe.removed and base is None:
        raise fail(f"removed.{next(iter(recipe.removed))}", "the recipe has no base to remove tricks from")
    for name in recipe.removed:
        try:
            get_trick(name)
        except UserError as error:
            raise fail(f"removed.{name}", error) from None
        if name in recipe.tricks:
            raise fail(f"removed.{name}", f"{name!r} is also under [tricks.{name}]; a recipe keeps a trick or removes it")
        if name not in params:
            raise fail(f"removed.{name}", f"trick {name!r} is not in the base recipe {base.name} "
                                          f"(its tricks: {', '.join(base.stack) or 'none'})")
        del params[name]
    for name, entry in recipe.tricks.items():
        try:
            info = get_trick(name)
        except UserError as error:
            raise fail(f"tricks.{name}", error) from None
        if info.year > r.year:
            raise fail(f"tricks.{name}", f"trick {name!r} is from {info.year}, after the recipe's year {r.year}")
        try:  # parameters the recipe leaves out keep the base's value
            params[name] = info.resolve({**params.get(name, {}), **entry.params})
        except UserError as error:
            raise fail(f"tricks.{name}.params", error) from None
    try:
        nuisance = wl.resolve_nuisance({**(base.nuisance if base else {}), **recipe.nuisance})
    except UserError as error:
        raise fail("nuisance", error) from None
    overrides = {f"{name}.{k}": v for name, values in params.items() for k, v in values.items()}
    try:
        stack = resolve_stack(wl, sorted(params), overrides)
    except UserError as error:
        raise fail("tricks", error) from None

    resolved = ResolvedRecipe(name=recipe_name(wl.name, r.year, recipe.track), workload=wl.name, year=r.year,
                              tricks=[TrickRecord(name=t.info.name, params=t.params) for t in stack], nuisance=nuisance)
    prov = recipe.provenance
    if prov is not None and not prov.accepted and resolved.tricks != (base.tricks if base else []):
        raise fail("provenance.accepted", "false means the previous recipe is carried forward, but the tricks differ "
                                          f"from those of {base.name if base else 'the baseline (none)'}")
    return resolved, [*older, recipe]


def recipes_folder(path: Union[str, Path], workload: str, track: str = "flops") -> Path:
    """The recipes folder that the recipe file ``path`` belongs to: the folder above its workload's folder when
    the file sits in its track folder (``R/mnist1d/2019.toml``, ``R/mnist1d/seconds/2026.toml``: ``R``), else
    the file's own folder. Links are followed."""
    folder = Path(path).resolve().parent
    for root in (folder.parent, folder.parent.parent):
        if track_folder(root, workload, track) == folder:
            return root
    return folder


def linked_file(path: Union[str, Path], workload: str, track: str, ref: str, key: str,
                target: Optional[Path] = None) -> Path:
    """The file that a recipe at ``path`` names in ``key`` (``recipe.base``, ``provenance.evidence``) as ``ref``,
    relative to the recipe: it must lie inside the recipe's `recipes_folder` or the shipped recipes and, when it
    exists, be a regular file; else a `UserError` naming the recipe file and the key. A recipe cannot make a
    command read ``/dev/urandom`` (for ever) or any file of the machine outside its recipes. ``target``: where
    ``ref`` leads when it is not a path (a base's year)."""
    target = target or (Path(ref) if Path(ref).is_absolute() else Path(path).parent / ref)
    real = target.resolve()
    roots = (recipes_folder(path, workload, track), recipes_root().resolve())
    if not any(real.is_relative_to(root) for root in roots):
        raise UserError(f"{path}: {key} = {ref!r} is {real}, outside the recipes folder {roots[0]}: a recipe names "
                        "only files in its own recipes folder")
    try:
        check_regular(real, key)
    except UserError as error:
        raise UserError(f"{path}: {key} = {ref!r}: {error}") from None
    return target


def _base_path(recipe: Recipe) -> Path:
    """``base = "2017"``: ``2017.toml`` beside this file, else the shipped one; otherwise a path from this file."""
    ref, folder, target = recipe.recipe.base, Path(recipe.source).parent, None
    if YEAR.fullmatch(ref):
        beside = folder / f"{ref}.toml"
        shipped = track_folder(recipes_root(), recipe.recipe.workload, recipe.track) / f"{ref}.toml"
        target = beside if os.path.lexists(beside) or not shipped.exists() else shipped
    return linked_file(recipe.source, recipe.recipe.workload, recipe.track, ref, "recipe.base", target)
