"""Fresh-seed replications of a derived recipe (``trickstack replicate W/Y --seeds 100:110``).

A year is accepted on the seeds that passed its confirmation, so the gain it quotes is inflated by that
filter (the winner's curse). A replication runs the recipe, its previous recipe and the baseline again,
paired, on seeds that no run of the recipe's derivation used (its evidence file's seeds: evaluation,
search and tuning), at the recipe's budget. A time-track recipe is replicated only on the class of
hardware it was timed on. The runs are jobs of one Optuna study, so an interrupted replication resumes
and never trains a finished run again.

It writes two files into ``<recipes>/W/Y.replications/``: ``<date>-<hardware>.runs.jsonl``, the run
records (each run of exactly a recipe carrying that resolved recipe, as derived evidence does), and
``<date>-<hardware>.toml``, its manifest (`trickstack.recipes.replication.Replication`): the recipe,
budget, seeds, hardware, date, commit and the SHA-256 of the runs, which seals them. Anyone can contribute
one; the leaderboard reads and checks every replication of a recipe (`trickstack.leaderboard.replications`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional, Sequence, Union

from trickstack.ablations.engine import open_study
from trickstack.core.errors import UserError
from trickstack.core.evidence import read_runs, write_runs
from trickstack.core.records import ResolvedRecipe
from trickstack.derive import inputs
from trickstack.derive.config import Config
from trickstack.derive.search import Runs, run
from trickstack.derive.writing import _commit, stamp
from trickstack.recipes.recipe import Recipe, linked_file, load_recipe, open_recipe, resolve
from trickstack.recipes.replication import Replication, load_replication, replication_paths, write_replication
from trickstack.simulator.truth import SyntheticSection
from trickstack.stats import rules
from trickstack.stats.compare import compare
from trickstack.trial.trackers import Tracker, prepared
from trickstack.workloads import get_workload


@dataclass
class Replicated:
    """What `replicate` ran and wrote, with the fresh-seed gain over the previous recipe (or the baseline)."""

    runs_path: Path
    manifest_path: Path
    name: str
    reference: str  # "baseline" or the previous recipe's name: what the recipe's claim is measured against
    seeds: list[int]
    hardware: str
    claimed: float  # the recipe's provenance.gain
    test: dict  # `trickstack.stats.compare.compare` of the recipe over the reference on the fresh seeds


def parse_seeds(text: str) -> list[int]:
    """``"100:110"`` (100..109, as Python's range) or ``"100,101,105"``; a `UserError` for anything else.

    >>> parse_seeds("100:105"), parse_seeds("7, 9, 11, 12, 15")
    ([100, 101, 102, 103, 104], [7, 9, 11, 12, 15])
    """
    try:
        if ":" in text:
            start, stop = (int(part) for part in text.split(":"))
            seeds = list(range(start, stop))
        else:
            seeds = [int(part) for part in text.split(",")]
    except ValueError:
        raise UserError(f"seeds {text!r}: give START:STOP (e.g. 100:110) or a comma-separated list of integers") from None
    if len(set(seeds)) != len(seeds) or any(s < 0 for s in seeds):
        raise UserError(f"seeds {text!r}: each seed once, none negative")
    if len(seeds) < rules.LEADERBOARD_MIN_SEEDS:
        raise UserError(f"seeds {text!r}: {len(seeds)} seed(s); a replication needs at least "
                        f"{rules.LEADERBOARD_MIN_SEEDS} paired seeds (the leaderboard's rule)")
    return seeds


def derivation_seeds(recipe: Recipe) -> set[int]:
    """Every seed a run of ``recipe``'s derivation used: its evidence file's, and its provenance's."""
    prov = recipe.provenance
    evidence = linked_file(recipe.source, recipe.recipe.workload, recipe.track, prov.evidence, "provenance.evidence")
    return {r.seed for r in read_runs(evidence, f"evidence of {recipe.source}")} | set(prov.seeds) | set(
        prov.estimation_seeds or [])


def previous_of(recipe: Recipe) -> Optional[ResolvedRecipe]:
    """The recipe that ``recipe``'s claim was measured against (provenance.previous); None for the baseline."""
    previous = recipe.provenance.previous
    if previous == "baseline":
        return None
    return resolve(load_recipe(Path(recipe.source).parent / f"{previous}.toml"))


def replicate(ref: Union[str, Path], seeds: Sequence[int], *, storage: Optional[str] = None, workers: int = 1,
              device: str = "cpu", deterministic: bool = True, truth: Optional[Union[SyntheticSection, dict]] = None,
              progress: Optional[Callable[[str, int, int], None]] = None, study: Optional[str] = None,
              trackers: Sequence[Tracker] = ()) -> Replicated:
    """Replicate the recipe ``ref`` (a file, or ``W/Y`` of a shipped one) on ``seeds``; see the module docstring.
    ``truth`` (testing only): what the runs of a simulated workload are drawn from. ``trackers``: the local
    workers also write each trial there (`trickstack.trial.trackers`)."""
    recipe = open_recipe(ref)
    prov = recipe.provenance
    if prov is None:
        raise UserError(f"{recipe.source}: a hand-written recipe (no [provenance]) has no derivation to replicate")
    if not prov.accepted:
        raise UserError(f"{recipe.source}: carried forward (provenance.accepted = false): its claim is its previous "
                        f"recipe's ({prov.previous}); replicate that one")
    resolved, prev = resolve(recipe), previous_of(recipe)
    wl = get_workload(resolved.workload)
    used = sorted(set(seeds) & derivation_seeds(recipe))
    if used:
        raise UserError(f"seeds {', '.join(map(str, used[:5]))}{' ...' if len(used) > 5 else ''} were used by the "
                        f"derivation of {resolved.name}: a replication runs on fresh seeds only")
    budget = prov.budget.as_budget()
    timed_on = inputs.timed(wl, Path(recipe.source), workers, device) if recipe.track == "seconds" else None
    checked = inputs.check_truth(wl, truth)
    name = study or f"replicate-{resolved.name.replace('/', '-')}"
    spec = inputs.study_spec(name, wl, resolved.year, budget, len(seeds), 2, 1,
                             sorted(set(resolved.stack) | set(prev.stack if prev else [])), checked,
                             source=f"replicate {resolved.name}")
    reference = inputs.config_of(prev, wl) if prev else Config(frozenset())
    arms = [inputs.config_of(resolved, wl), *([reference] if prev else []), Config(frozenset())]
    ctx = open_study(spec, storage, workers)
    ctx.progress, ctx.device, ctx.deterministic = progress, device, deterministic
    ctx.trackers = prepared(trackers, spec.study.name)
    run(ctx, [job for arm in arms for job in arm.jobs(list(seeds))], "replication")
    runs = Runs(ctx)
    records = [stamp(r, resolved, prev) for arm in arms for r in runs.of(arm, list(seeds))]
    if timed_on is not None:
        inputs.check_timed(records, timed_on)
    hardware = timed_on or " + ".join(sorted({r.provenance.hardware_class for r in records}))
    test = compare(runs.of(arms[0], list(seeds)), runs.of(reference, list(seeds)), wl.direction)
    date = dt.datetime.now(dt.timezone.utc).date()
    number = 1  # a replication of other seeds on the same day and hardware is never replaced: this one is numbered
    runs_path, manifest_path = replication_paths(Path(recipe.source), date, hardware)
    while manifest_path.exists() and load_replication(manifest_path).seeds != list(seeds):
        number += 1
        runs_path, manifest_path = replication_paths(Path(recipe.source), date, hardware, number)
    manifest = Replication(recipe=resolved.name, date=date, commit=_commit(), hardware=hardware,
                           budget={"unit": budget.unit, "value": budget.value}, seeds=list(seeds),
                           evidence=runs_path.name)
    runs_path.parent.mkdir(parents=True, exist_ok=True)
    write_runs(runs_path, records)
    write_replication(manifest, runs_path, manifest_path)
    return Replicated(runs_path, manifest_path, resolved.name, prev.name if prev else "baseline", list(seeds), hardware,
                      prov.gain, test)
