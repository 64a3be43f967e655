"""Deriving a year's integrated recipe (``trickstack recipe derive --workload W --year Y``).

1. **Search** (`trickstack.derive.search`). One ``search`` study of the ablation engine
   (`trickstack.ablations.engine.search`: Optuna TPE over which tricks are on, their parameters and the
   learning rate, on search seeds) over the *candidates* (`trickstack.derive.inputs.candidates`): the
   tricks of year <= Y that act on W (`trick_status` "ok"; not those W's baseline already includes) and
   the previous recipe's tricks. The previous recipe (or, the first year, the baseline) is enqueued as
   the first proposal, so the search starts from it and may drop its tricks.
2. **Confirmation** (`trickstack.derive.search.confirmation`). The best configuration that differs from
   the previous recipe (the *candidate*) is run on the year's evaluation seeds ``F..F+N-1`` (F: after every
   evaluation seed of the earlier years' recipes, `inputs.fresh_seed`; 0 the first year), with the previous
   recipe and the baseline. It is accepted only by the leaderboard's own rule
   (`trickstack.stats.rules.passes`: a one-sided paired t-test at p < ``LEADERBOARD_ALPHA`` over at
   least ``LEADERBOARD_MIN_SEEDS`` seeds); otherwise the previous recipe is carried forward. By default
   the seeds are added sequentially (``confirm="sequential"``, `trickstack.stats.sequential`): 5 seeds,
   then 8, then 12 while the candidate is promising but not yet significant, each look judged at the
   nominal level of an alpha-spending plan so that false acceptance stays at ``LEADERBOARD_ALPHA``; the
   recipe records the plan, the looks taken and the decision (``provenance.confirmation``), and the
   seeds used are its evaluation seeds. ``confirm="fixed"``: ``seeds`` seeds, one test.
   **Estimation** (`trickstack.derive.search.estimation`): an accepted candidate and its reference then run
   on ``estimate_seeds`` fresh seeds (10 by default) after every seed the confirmation could have used.
   The decision never sees them; the corrected gain of the recipe (`trickstack.stats.selection`) adds
   their likelihood to the confirmation's, which alone says little about the size of a small gain.
3. **Attribution and negative results** (`trickstack.derive.attribution`) on the same seeds: every
   subset of the recipe's tricks (up to ``FACTORIAL_UP_TO`` tricks; beyond, the prefixes of ``orders``
   random orders) for its Shapley values, and the tricks not kept -- those new since the previous recipe
   and those it removed -- each added back on top of the recipe.
4. **Writing** (`trickstack.derive.writing`) ``<recipes>/W/Y.toml`` with its provenance and
   ``Y.runs.jsonl`` with every run record.

Everything runs as jobs of one Optuna study (default storage ``sqlite:///trickstack.db``), so an
interrupted derivation continues where it stopped and never trains a finished run again.

The baseline is the workload as registered: its default nuisance values. The learning rate is
searched with the tricks over ``[default / LR_RANGE, default * LR_RANGE]`` (the same space every year);
the other nuisance values keep the workload's defaults.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional, Union

from trickstack.ablations.engine import ablate
from trickstack.ablations.remote import Remote
from trickstack.ablations.state import StudyState
from trickstack.core.budget import Budget
from trickstack.core.errors import UserError
from trickstack.core.records import ResolvedRecipe
from trickstack.core.system import check_precision, settings
from trickstack.derive import inputs
from trickstack.derive.attribution import ORDERS, Found, beating, followups
from trickstack.derive.config import Config, describe
from trickstack.derive.search import ESTIMATE_SEEDS, Runs, confirm, confirmation, estimation, plan_record, prepare, run
from trickstack.derive.search import candidate as best_candidate
from trickstack.derive.writing import check_recipe, recipe_of, stamp, write_sealed
from trickstack.recipes.recipe import (
    TRACKS,
    recipe_name,
    recipes_root,
    resolve,
    track_folder,
)
from trickstack.simulator.truth import SyntheticSection
from trickstack.stats import rules
from trickstack.stats.compare import compare
from trickstack.stats.sequential import DEFAULT_LOOKS, DEFAULT_SPENDING, SequentialPlan
from trickstack.trial.trackers import Tracker
from trickstack.workloads import get_workload

DEFAULT_TRIALS = 16  # configurations the search trains (one search seed each by default)
CONFIRM = ("sequential", "fixed")


@dataclass(frozen=True)
class DeriveOptions:
    """How a recipe is derived. ``budget``: default the previous recipe's, else the workload's reference
    budget. ``tricks`` limits the candidates (the previous recipe's tricks always are). ``orders``: the
    sampled Shapley orders for a recipe of more than ``FACTORIAL_UP_TO`` tricks."""

    budget: Optional[Budget] = None
    track: str = "flops"  # the budget's unit: "seconds" derives the time track (`trickstack.derive.inputs.timed`)
    seeds: int = rules.LEADERBOARD_MIN_SEEDS  # paired evaluation seeds (confirm="fixed"), the year's own

    confirm: str = "sequential"  # "sequential": seeds added look by look (looks, spending); "fixed": seeds
    looks: tuple[int, ...] = DEFAULT_LOOKS  # cumulative paired evaluation seeds at each sequential look
    spending: str = DEFAULT_SPENDING  # the alpha-spending function over the looks (trickstack.stats.sequential.SPENDING)
    trials: int = DEFAULT_TRIALS  # configurations the search trains
    search_seeds: int = 1  # seeds each searched configuration trains on (disjoint from evaluation's)
    estimate_seeds: int = ESTIMATE_SEEDS  # fresh seeds after an acceptance, for the corrected gain (0: none)
    tricks: Optional[tuple[str, ...]] = None
    orders: int = ORDERS
    study: Optional[str] = None  # default derive-<workload>-<year>
    force: bool = False  # replace an existing recipe of that year
    device: str = "cpu"  # where the runs train (trickstack.trial.devices)
    deterministic: bool = True  # torch's deterministic algorithms
    trackers: tuple[Tracker, ...] = ()  # where the local workers also write each trial (trickstack.trial.trackers)
    precision: str = "fp32"  # the study's system settings (trickstack.core.system): fp32 or bf16 autocast
    compile: bool = False  # torch.compile of the model's forward

    def __post_init__(self) -> None:
        check_precision(self.precision)
        if self.trials < 2:
            raise UserError(f"{self.trials} search trials: the search needs at least 2 configurations (it starts "
                            "from the previous recipe and must try another)")
        if self.track not in TRACKS:
            raise UserError(f"recipes are derived for a budget in {' or '.join(TRACKS)}, not {self.track}")
        if self.budget is not None and self.budget.unit != self.track:
            raise UserError(f"a budget of {self.budget} for the {self.track} track: give it in {self.track}")
        if self.seeds < rules.LEADERBOARD_MIN_SEEDS:
            raise UserError(f"{self.seeds} evaluation seeds: a recipe is tested on at least "
                            f"{rules.LEADERBOARD_MIN_SEEDS} paired evaluation seeds (the leaderboard's rule)")
        if self.estimate_seeds < 0:
            raise UserError(f"{self.estimate_seeds} estimation seeds: give 0 (none) or more")
        if self.confirm not in CONFIRM:
            raise UserError(f"confirmation {self.confirm!r}: expected one of {', '.join(CONFIRM)}")
        if self.confirm == "sequential" and tuple(self.looks)[:1] < (rules.LEADERBOARD_MIN_SEEDS,):
            raise UserError(f"sequential looks {list(self.looks)}: the first look needs at least "
                            f"{rules.LEADERBOARD_MIN_SEEDS} paired evaluation seeds (the leaderboard's rule)")
        self.plan()  # checks the looks and the spending function

    def plan(self) -> Optional[SequentialPlan]:
        """The sequential confirmation's plan at the leaderboard's alpha; None for a fixed number of seeds."""
        if self.confirm == "fixed":
            return None
        return SequentialPlan(looks=tuple(self.looks), alpha=rules.LEADERBOARD_ALPHA, spending=self.spending)

    @property
    def first_seeds(self) -> int:
        """The evaluation seeds every candidate runs on (the search's best is re-evaluated on them)."""
        return self.seeds if self.confirm == "fixed" else int(self.looks[0])


@dataclass
class Derived:
    """What `derive` found and wrote."""

    path: Path
    evidence: Path
    recipe: ResolvedRecipe
    previous: str  # "baseline" or the previous recipe's year
    accepted: bool
    candidate: str  # the configuration tested against the previous recipe, described
    gain: float
    ci: tuple[float, float]
    p_value: float
    n_pairs: int
    metric: str
    runs: int  # run records in the evidence file
    added: list[str]
    removed: list[str]
    seeds: list[int]  # the evaluation seeds used (a sequential confirmation adds them look by look)
    confirmation: Optional[dict] = None  # provenance.confirmation: the plan, the looks taken, the decision
    estimation_seeds: list[int] = field(default_factory=list)  # fresh seeds run after the acceptance
    corrected: Optional[tuple[float, float, float]] = None  # accepted: the gain corrected for selection, low, high
    beaten_by: dict = field(default_factory=dict)  # stacks of the follow-up runs that beat the recipe: to confirm


def derive(workload: str, year: int, options: DeriveOptions = DeriveOptions(), *,
           recipes: Optional[Union[str, Path]] = None, storage: Optional[str] = None, workers: int = 1,
           truth: Optional[Union[SyntheticSection, dict]] = None,
           progress: Optional[Callable[[str, int, int], None]] = None, remote: Optional[Remote] = None) -> Derived:
    """Derive ``workload``'s recipe for ``year`` (see the module docstring) into ``recipes`` (default the
    shipped recipes' folder) and write it; resumable. ``truth`` (testing only): what the runs of a simulated
    workload are drawn from. ``workers=0``: train nothing here, wait for workers elsewhere (``remote``: how).
    Bad input raises `UserError` naming the problem."""
    wl = get_workload(workload)
    this_year = dt.datetime.now(dt.timezone.utc).year
    if year > this_year:
        raise UserError(f"year {year} is after the current year ({this_year}): a recipe knows only published tricks")
    checked = inputs.check_truth(wl, truth)
    folder = track_folder(Path(recipes) if recipes is not None else recipes_root(), wl.name, options.track)
    path, evidence = folder / f"{year}.toml", folder / f"{year}.runs.jsonl"
    if path.exists() and not options.force:
        raise UserError(f"{path} exists: deriving it again (force) replaces it and its evidence {evidence.name}")
    prev_path, prev = inputs.previous(folder, year)
    budget = inputs.budget_of(options.budget, wl, prev_path, options.track)
    hardware = (inputs.timed(wl, prev_path, workers, options.device, options.precision, options.compile)
                if options.track == "seconds" else None)
    tricks = inputs.candidates(wl, year, options.tricks, prev, settings(options.precision, options.compile))
    name = options.study or default_study(wl.name, year, options.track)
    first = inputs.fresh_seed(folder, year)  # seeds no earlier year's evidence used
    spec = inputs.study_spec(name, wl, year, budget, options.first_seeds, options.trials, options.search_seeds, tricks,
                             checked, first_seed=first, precision=options.precision, compile=options.compile)
    if workload != wl.name:  # package.module:factory: workers in other processes make the workload from it
        spec = spec.model_copy(update={"study": spec.study.model_copy(update={"workload": workload})})
    plan = options.plan()

    start = inputs.config_of(prev, wl) if prev else Config(frozenset(), {inputs.SEARCHED_NUISANCE: inputs.default_lr(wl)})
    prepare(spec, storage, workers, start, prev, plan_record(plan) if plan else None)
    ctx = ablate(spec, storage, workers, progress, device=options.device, deterministic=options.deterministic,
                 remote=remote, close=False,  # open until the last phase: polling workers wait for the confirmation
                 trackers=options.trackers)
    candidate, tried = best_candidate(ctx, spec, start)
    baseline = Config(frozenset())  # the engine's baseline jobs: no trick, the workload's nuisance values
    runs = Runs(ctx)

    def evaluate(seeds: list[int]) -> dict[str, float]:  # one look: the candidate, the reference, the baseline
        run(ctx, [*candidate.jobs(seeds), *(start.jobs(seeds) if prev else []), *baseline.jobs(seeds)], "confirmation")
        runs.refresh()
        return confirm(runs.of(candidate, seeds), runs.of(start if prev else baseline, seeds), wl, candidate, start)

    confirmed = confirmation(evaluate, plan, options.seeds, first)
    test, accepted, eval_seeds = confirmed.test, confirmed.accepted, confirmed.seeds
    reference = start if prev else baseline

    def fresh_pairs(seeds: list[int]) -> dict[str, float]:  # the estimation: the candidate and its reference only
        run(ctx, [*candidate.jobs(seeds), *reference.jobs(seeds)], "estimation")
        runs.refresh()  # pairs that diverged are left out, as the leaderboard's recomputation leaves them out
        return compare(runs.of(candidate, seeds), runs.of(reference, seeds), wl.direction)

    fresh_seeds, fresh = estimation(fresh_pairs, confirmed, plan, options.seeds, first, options.estimate_seeds)
    chosen = candidate if accepted else start if prev else baseline
    subsets, negatives, skipped = followups(wl, chosen, prev, tricks, tried, options.orders, spec.study.system)
    run(ctx, [job for c in [*subsets, *negatives.values()] for job in c.jobs(eval_seeds)],
        "attribution and negative results")
    StudyState(ctx.study).finish(StudyState(ctx.study).failed_jobs)  # every job has run: polling workers stop

    records = runs.refresh().evidence()
    if hardware is not None:
        inputs.check_timed(records, hardware)
    found = Found(wl, year, prev, chosen, candidate, accepted, test, runs, eval_seeds, options.orders, negatives,
                  skipped, len(tried), confirmed.record, fresh_seeds, fresh)
    recipe = recipe_of(found, path, budget, name, hardware)
    resolved = resolve(recipe)
    check_recipe(resolved, runs.of(chosen, eval_seeds))
    stamped = [stamp(r, resolved, prev) for r in records]
    write_sealed(recipe, path, evidence, stamped)
    prev_stack = set(prev.stack) if prev else set()
    return Derived(path, evidence, resolved, recipe.provenance.previous, accepted, describe(candidate),
                   test["gain"], (test["low"], test["high"]), recipe.provenance.p_value, test["n_pairs"], wl.metric,
                   len(stamped), sorted(set(resolved.stack) - prev_stack), sorted(prev_stack - set(resolved.stack)),
                   eval_seeds, confirmed.record, fresh_seeds, _corrected(recipe), beating(found))


def _corrected(recipe) -> Optional[tuple[float, float, float]]:
    p = recipe.provenance
    return (p.gain_corrected, *p.ci_corrected) if p is not None and p.gain_corrected is not None else None


def default_study(workload: str, year: int, track: str) -> str:
    """The study a derivation runs in unless told otherwise: one per track (derive-mnist1d-2019,
    derive-mnist1d-seconds-2026)."""
    return "derive-" + recipe_name(workload, year, track).replace("/", "-")


def load_truth(path: Union[str, Path]) -> SyntheticSection:
    """Testing only: the ``[synthetic]`` table of a TOML file, the truth a simulated workload's runs are drawn from."""
    return inputs.load_truth(path)

