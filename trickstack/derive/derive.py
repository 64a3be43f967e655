"""Deriving a year's integrated recipe (``trickstack recipe derive --workload W --year Y``).

1. **Search.** One ``search`` study of the ablation engine (`trickstack.ablations.engine.search`: Optuna
   TPE over which tricks are on, their parameters and the learning rate, on search seeds) over the
   *candidates*: the tricks of year <= Y that act on W (`trick_status` "ok"; not those W's baseline
   already includes) and the previous recipe's tricks. The previous recipe (or, the first year, the
   baseline) is enqueued as the first proposal, so the search starts from it and may drop its tricks.
2. **Confirmation.** The best configuration that differs from the previous recipe (the *candidate*) is
   run on the evaluation seeds ``0..N-1``, with the previous recipe and the baseline. It is accepted
   only by the leaderboard's own rule (`trickstack.leaderboard.passes`: a one-sided paired t-test at
   p < ``ALPHA`` over at least ``MIN_SEEDS`` seeds); otherwise the previous recipe is carried forward.
3. **Attribution and negative results** on the same seeds: every subset of the recipe's tricks (up to
   `FACTORIAL_UP_TO` tricks; beyond, the prefixes of `ORDERS` random orders) for its Shapley values,
   and the tricks not kept -- those new since the previous recipe and those it removed -- each added
   back on top of the recipe.
4. **Writing** ``<recipes>/W/Y.toml`` with its provenance and ``Y.runs.jsonl`` with every run record.

Everything runs as jobs of one Optuna study (default storage ``sqlite:///trickstack.db``), so an
interrupted derivation continues where it stopped and never trains a finished run again.

The baseline is the workload as registered: its default nuisance values. The learning rate is
searched with the tricks over ``[default / LR_RANGE, default * LR_RANGE]`` (the same space every year);
the other nuisance values keep the workload's defaults.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional, Sequence, Union

from trickstack.core.errors import UserError
from trickstack.core.records import ResolvedRecipe, RunRecord

__all__ = ["Config", "Derived", "derive", "load_truth", "parse_budget", "DEFAULT_TRIALS", "FACTORIAL_UP_TO", "ORDERS"]

DEFAULT_TRIALS = 16  # configurations the search trains (one search seed each by default)
SEARCHED_NUISANCE = "lr"  # searched with the tricks; the other nuisance values keep the workload's defaults
LR_RANGE = 10.0  # lr searched over [default / 10, default * 10], log scale
FACTORIAL_UP_TO = 4  # attribution: all 2^k subsets of the recipe's tricks up to k = 4 (16 arms) ...
ORDERS = 4  # ... beyond, the prefixes of 4 random orders (sampled Shapley: about 2 + 4(k-1) arms)
FRACTION = re.compile(r"(?P<x>[0-9.eE+-]+)x")  # "--budget 0.25x": a fraction of the reference budget


@dataclass(frozen=True, eq=False)
class Config:
    """One configuration to run: the tricks on and the values that jobs carry (``"trick.param"`` and
    nuisance values), as the engine's search jobs carry them, so equal configurations share jobs.

    >>> c = Config(frozenset({"label_smoothing"}), {"label_smoothing.smoothing": 0.1, "lr": 0.02})
    >>> c.subset([]).params, sorted(c.plus("ema", {}).arm), _describe(c)
    ({'lr': 0.02}, ['ema', 'label_smoothing'], 'label_smoothing(smoothing=0.1), lr=0.02')
    """

    arm: frozenset
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> tuple:
        return self.arm, json.dumps(self.params, sort_keys=True)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Config) and self.key == other.key

    def __hash__(self) -> int:
        return hash(self.key)

    def jobs(self, seeds: Sequence[int]) -> list:
        from trickstack.ablations.jobs import EVAL, Job

        return [Job(EVAL, self.arm, s, trick_params=self.params) for s in seeds]

    def subset(self, tricks: Sequence[str]) -> "Config":
        """The configuration with only ``tricks`` on (their values and the nuisance values kept)."""
        keep = {k: v for k, v in self.params.items() if "." not in k or k.split(".", 1)[0] in tricks}
        return Config(frozenset(tricks), keep)

    def plus(self, trick: str, params: dict[str, Any]) -> "Config":
        return Config(self.arm | {trick}, {**self.params, **{f"{trick}.{k}": v for k, v in params.items()}})


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


def parse_budget(text: Optional[str], reference: Callable[[], Any]):
    """``None`` -> the reference budget; ``"0.25x"`` -> a fraction of it; ``"1.2e10"`` -> FLOPs.

    >>> from trickstack.core.budget import Budget
    >>> parse_budget("0.25x", lambda: Budget("flops", 4e10)), parse_budget("3e9", lambda: None)
    (Budget(unit='flops', value=10000000000.0), Budget(unit='flops', value=3000000000.0))
    """
    from trickstack.core.budget import Budget

    if text is None:
        return reference()
    match = FRACTION.fullmatch(text.strip())
    if match:
        try:
            fraction = float(match["x"])
        except ValueError:
            fraction = math.nan
        if not (math.isfinite(fraction) and fraction > 0):
            raise UserError(f"--budget {text}: a fraction of the reference budget must be positive, e.g. 0.25x")
        return Budget("flops", fraction * reference().value)
    return Budget.parse(text, "flops")


def derive(workload: str, year: int, *, budget: Optional[str] = None, seeds: Optional[int] = None,
           trials: int = DEFAULT_TRIALS, search_seeds: int = 1, tricks: Optional[Sequence[str]] = None,
           storage: Optional[str] = None, workers: int = 1, recipes: Optional[Union[str, Path]] = None,
           study: Optional[str] = None, force: bool = False, synthetic: Any = None,
           progress: Optional[Callable[[str, int, int], None]] = None, orders: int = ORDERS) -> Derived:
    """Derive ``workload``'s recipe for ``year`` (see the module docstring) and write it; resumable.

    ``budget``: FLOPs, or ``"0.25x"`` of the reference budget; default the previous recipe's, else the
    reference budget. ``tricks`` limits the candidates (the previous recipe's tricks always are).
    ``synthetic`` (testing only): the truth (`SyntheticSection` or its dict) that simulates the runs of
    the ``synthetic`` workload. Bad input raises `UserError` naming the problem.
    """
    from trickstack.ablations.engine import ablate
    from trickstack.leaderboard.board import MIN_SEEDS, passes
    from trickstack.recipes.recipe import evidence_digest, resolve, write_recipe
    from trickstack.workloads import get_workload

    wl = get_workload(workload)
    this_year = dt.datetime.now(dt.timezone.utc).year
    if year > this_year:
        raise UserError(f"--year {year} is after the current year ({this_year}): a recipe knows only published tricks")
    seeds = MIN_SEEDS if seeds is None else seeds
    if trials < 2:
        raise UserError(f"--trials {trials}: the search needs at least 2 configurations (it starts from the previous "
                        "recipe and must try another)")
    if seeds < MIN_SEEDS:
        raise UserError(f"--seeds {seeds}: a recipe is tested on at least {MIN_SEEDS} paired evaluation seeds "
                        "(the leaderboard's rule)")
    truth = _truth(wl, synthetic)
    folder = Path(recipes) if recipes is not None else _default_root()
    folder = folder / wl.name
    path, evidence = folder / f"{year}.toml", folder / f"{year}.runs.jsonl"
    if path.exists() and not force:
        raise UserError(f"{path} exists: --force replaces it and its evidence {evidence.name}")
    prev_path, prev = _previous(folder, year)
    chosen = _budget(budget, wl, prev_path)
    candidates = _candidates(wl, year, tricks, prev)
    name = study or f"derive-{wl.name}-{year}"
    spec = _spec(name, wl, year, chosen, seeds, trials, search_seeds, candidates, truth)
    eval_seeds = list(range(seeds))

    start = _config_of(prev, wl) if prev else Config(frozenset(), {SEARCHED_NUISANCE: _default_lr(wl)})
    _prepare(spec, storage, workers, start, prev)
    ctx = ablate(spec, storage, workers, progress)
    candidate, tried = _candidate(ctx, spec, start)
    baseline = Config(frozenset())  # the engine's baseline jobs: no trick, the workload's nuisance values
    _run(ctx, [*candidate.jobs(eval_seeds), *(start.jobs(eval_seeds) if prev else [])], "confirmation")
    runs = _Runs(ctx)
    reference = runs.of(start if prev else baseline, eval_seeds)
    test = _compare(runs.of(candidate, eval_seeds), reference, wl, candidate, start)
    accepted = passes(test)
    chosen_config = candidate if accepted else start if prev else baseline
    subsets, negatives, skipped = _followups(wl, chosen_config, prev, candidates, tried, orders)
    jobs = [job for c in [*subsets, *negatives.values()] for job in c.jobs(eval_seeds)]
    _run(ctx, jobs, "attribution and negative results")

    records = runs.refresh().evidence()
    found = _Found(wl, year, prev, chosen_config, candidate, accepted, test, runs, eval_seeds, orders, negatives,
                   skipped, len(tried))
    recipe = _recipe(found, path, chosen, name)
    resolved = resolve(recipe)
    _check_recipe(resolved, runs.of(chosen_config, eval_seeds))
    stamped = [_stamp(r, resolved, prev) for r in records]
    folder.mkdir(parents=True, exist_ok=True)
    _write_lines(evidence, stamped)
    sealed = recipe.provenance.model_copy(update={"evidence_sha256": evidence_digest(evidence)})
    write_recipe(recipe.model_copy(update={"provenance": sealed}), path)
    prev_stack = set(prev.stack) if prev else set()
    return Derived(path, evidence, resolved, recipe.provenance.previous, accepted, _describe(candidate),
                   test["gain"], (test["low"], test["high"]), recipe.provenance.p_value, test["n_pairs"], wl.metric,
                   len(stamped), sorted(set(resolved.stack) - prev_stack), sorted(prev_stack - set(resolved.stack)))


# ---- inputs -------------------------------------------------------------------------------------------


def load_truth(path: Union[str, Path]):
    """Testing only: the ``[synthetic]`` table of a TOML file, the truth runs of ``synthetic`` are simulated from."""
    from trickstack.ablations.spec import SyntheticSection
    from trickstack.core.datafiles import Strict, parse_toml, read_text, validate

    class TruthFile(Strict):
        synthetic: SyntheticSection

    return validate(TruthFile, parse_toml(read_text(path, "synthetic truth"), str(path)), str(path)).synthetic


def _default_root() -> Path:
    from trickstack.recipes.recipe import recipes_root

    return recipes_root()


def _truth(wl, synthetic: Any):
    from trickstack.ablations.spec import SyntheticSection

    simulated = bool(wl.extra.get("simulated"))
    if simulated and synthetic is None:
        raise UserError(f"workload {wl.name!r} trains nothing: deriving its recipe needs the truth to simulate "
                        "(--synthetic FILE, testing only)")
    if synthetic is not None and not simulated:
        raise UserError(f"--synthetic is only for the simulated workload 'synthetic'; {wl.name!r} trains for real")
    if synthetic is None or isinstance(synthetic, SyntheticSection):
        return synthetic
    return SyntheticSection.model_validate(synthetic)


def _previous(folder: Path, year: int) -> tuple[Optional[Path], Optional[ResolvedRecipe]]:
    """The latest ``<year>.toml`` of ``folder`` from before ``year``, resolved; none the first year."""
    from trickstack.recipes.recipe import YEAR, load_recipe, resolve

    years = sorted(int(p.stem) for p in folder.glob("*.toml") if YEAR.fullmatch(p.stem) and int(p.stem) < year)
    if not years:
        return None, None
    path = folder / f"{years[-1]}.toml"
    return path, resolve(load_recipe(path))


def _budget(text: Optional[str], wl, prev_path: Optional[Path]):
    """The budget: as given, else the previous recipe's, else the reference; it must equal the previous one's."""
    from trickstack.core.budget import Budget
    from trickstack.recipes.recipe import load_recipe

    claimed = None
    if prev_path is not None:
        prov = load_recipe(prev_path).provenance
        claimed = Budget(prov.budget.unit, prov.budget.value) if prov else None
    if text is None and claimed is not None:
        return claimed
    chosen = parse_budget(text, lambda: _reference(wl))
    if claimed is not None and (claimed.unit != chosen.unit or not math.isclose(claimed.value, chosen.value, rel_tol=1e-9)):
        raise UserError(f"--budget {chosen.value:.6g} {chosen.unit} differs from the budget of the previous recipe "
                        f"{prev_path} ({claimed.value:.6g} {claimed.unit}): every recipe of a workload has the same "
                        "budget (leave --budget out to use it)")
    return chosen


def _reference(wl):
    if wl.extra.get("simulated"):
        from trickstack.workloads.synthetic import DEFAULT_BUDGET

        return DEFAULT_BUDGET
    from trickstack.trial.runner import reference_budget

    return reference_budget(wl)


def _candidates(wl, year: int, only: Optional[Sequence[str]], prev: Optional[ResolvedRecipe]) -> list[str]:
    """Tricks of ``year`` or before that act on the workload (`trick_status` "ok"), and the previous recipe's."""
    from trickstack.tricks.registry import all_tricks, get_trick, trick_status

    if only:
        for name in only:
            info = get_trick(name)
            status, why = trick_status(info, wl)
            if info.year > year:
                raise UserError(f"--tricks {name}: trick {name!r} is from {info.year}, after {year}")
            if status != "ok":
                raise UserError(f"--tricks {name}: {status} on {wl.name}" + (f" ({why})" if why else ""))
    pool = [i for i in all_tricks() if i.year <= year and trick_status(i, wl)[0] == "ok"]
    names = {i.name for i in pool if not only or i.name in only} | set(prev.stack if prev else ())
    if not names:
        earliest = min((i for i in all_tricks() if trick_status(i, wl)[0] == "ok"), key=lambda i: i.year, default=None)
        hint = f" (the earliest: {earliest.name}, {earliest.year})" if earliest else ""
        raise UserError(f"no trick of {year} or before acts on {wl.name}{hint}: nothing to derive a recipe from")
    return sorted(names)


def _default_lr(wl) -> float:
    return float(wl.nuisance_param(SEARCHED_NUISANCE).default)


def _spec(name: str, wl, year: int, budget, seeds: int, trials: int, search_seeds: int, candidates: list[str], truth):
    from trickstack.ablations.spec import StudySpec

    param, lr = wl.nuisance_param(SEARCHED_NUISANCE), _default_lr(wl)
    space = {"low": max(param.low, lr / LR_RANGE), "high": min(param.high, lr * LR_RANGE), "log": True}
    data = {"study": {"name": name, "workload": wl.name, "budget": {budget.unit: budget.value}, "seeds": seeds,
                      "design": "search", "tricks": candidates, "search_trials": trials, "search_seeds": search_seeds,
                      "search_nuisance": {SEARCHED_NUISANCE: space}},
            "source": f"recipe derive --workload {wl.name} --year {year}"}
    if truth is not None:
        data["synthetic"] = truth.model_dump()
    from trickstack.core.datafiles import validate

    spec = validate(StudySpec, data, data["source"])
    spec.check()
    return spec


def _config_of(recipe: ResolvedRecipe, wl) -> Config:
    """A recipe as a configuration: its searchable (and non-default) parameters and nuisance values."""
    from trickstack.tricks.registry import get_trick

    params: dict[str, Any] = {}
    for t in recipe.tricks:
        for p in get_trick(t.name).params:
            if p.searchable or t.params[p.name] != p.default:
                params[f"{t.name}.{p.name}"] = t.params[p.name]
    defaults = wl.resolve_nuisance()
    params.update({k: v for k, v in recipe.nuisance.items() if k == SEARCHED_NUISANCE or v != defaults[k]})
    return Config(frozenset(recipe.stack), params)


# ---- the study ----------------------------------------------------------------------------------------


def _prepare(spec, storage: Optional[str], workers: int, start: Config, prev: Optional[ResolvedRecipe]) -> None:
    """Create the study (or check that it was started from the same previous recipe) and enqueue the
    starting configuration as the search's first proposal."""
    import optuna

    from trickstack.ablations.storage import open_storage
    from trickstack.workloads import get_workload

    s = spec.study
    backend = open_storage(storage, workers)
    direction = get_workload(s.workload).direction
    study = optuna.create_study(study_name=s.name, storage=backend, direction=direction, load_if_exists=True)
    started = {"previous": prev.model_dump(mode="json") if prev else None}
    stored = study.user_attrs.get("derive")
    if stored is not None and stored != started:
        was = (stored["previous"] or {}).get("name", "the baseline")
        raise UserError(f"study {s.name!r} was started from {was}, but the previous recipe is now "
                        f"{prev.name if prev else 'the baseline'} (it changed); use --study NEW or another --storage")
    study.set_user_attr("derive", started)
    proposals = optuna.create_study(study_name=f"{s.name}::search", storage=backend, direction=direction,
                                    load_if_exists=True)
    if not proposals.get_trials(deepcopy=False):
        first = {f"use.{t}": t in start.arm for t in s.tricks}
        proposals.enqueue_trial({**first, **start.params}, skip_if_exists=True)


def _candidate(ctx, spec, start: Config) -> tuple[Config, list[Config]]:
    """The configuration tested against ``start``: the search's best (which the engine re-evaluated on
    the evaluation seeds), or the best after it if it is ``start`` itself; and every configuration the
    search trained, best first."""
    import optuna
    from optuna.trial import TrialState

    s = spec.study
    proposals = optuna.load_study(study_name=f"{s.name}::search", storage=ctx.study._storage)
    sign = 1 if ctx.study.direction == optuna.study.StudyDirection.MAXIMIZE else -1
    done = sorted(proposals.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)), key=lambda t: -sign * t.value)
    tried = list(dict.fromkeys(_config(s.tricks, t.params) for t in done))
    best = _config(s.tricks, proposals.best_trial.params)
    others = [c for c in tried if c != start]
    if not others:
        raise UserError(f"study {s.name!r}: the search trained no configuration other than the one it starts from; "
                        "raise --trials")
    return (best if best != start else others[0]), tried


def _config(tricks: Sequence[str], params: dict) -> Config:
    return Config(frozenset(t for t in tricks if params.get(f"use.{t}")),
                  {k: v for k, v in params.items() if not k.startswith("use.")})


def _run(ctx, jobs: list, label: str) -> None:
    from trickstack.ablations.engine import run_phase

    unique = list({job.key: job for job in jobs}.values())
    failed = run_phase(ctx, unique, label) if unique else []
    if failed:
        raise UserError(f"study {ctx.spec.study.name!r}: {len(failed)} run(s) failed repeatedly ({', '.join(failed[:3])}"
                        f"{', ...' if len(failed) > 3 else ''}); see `trickstack status {ctx.spec.study.name}`; "
                        "running derive again retries them")


class _Runs:
    """The study's finished runs by job key."""

    def __init__(self, ctx):
        self.ctx = ctx
        self.refresh()

    def refresh(self) -> "_Runs":
        from trickstack.ablations.jobs import completed

        self.trials = completed(self.ctx.study)
        self.by_key = {t.user_attrs["job"]: t.user_attrs.get("records", []) for t in self.trials}
        return self

    def of(self, config: Config, seeds: Sequence[int]) -> list[RunRecord]:
        return [RunRecord.model_validate(r) for job in config.jobs(seeds) for r in self.by_key.get(job.key, [])]

    def evidence(self) -> list[RunRecord]:
        """Every run of the study (evaluation first), one per configuration and seed."""
        from trickstack.ablations.jobs import EVAL

        seen, out = set(), []
        ordered = sorted(self.trials, key=lambda t: (t.user_attrs.get("phase") != EVAL, t.number))
        for trial in ordered:
            for data in trial.user_attrs.get("records", []):
                r = RunRecord.model_validate(data)
                key = (json.dumps([t.model_dump() for t in r.tricks], sort_keys=True),
                       json.dumps(r.nuisance, sort_keys=True), r.seed)
                if key not in seen:
                    seen.add(key)
                    out.append(r)
        return out


def _compare(runs: list, reference: list, wl, candidate: Config, start: Config) -> dict[str, float]:
    from trickstack.leaderboard.board import compare

    c = compare(runs, reference, wl.direction)
    if c["n_pairs"] < 2 or not math.isfinite(c["gain"]):
        raise UserError(f"the candidate {_describe(candidate)} finished on {c['n_pairs']} evaluation seed(s) paired "
                        f"with {_describe(start)} (the others diverged): no paired test is possible")
    if not math.isfinite(c["p"]):  # identical on every seed: the test cannot reject
        c = {**c, "p": 1.0}
    return c


def _subsets(tricks: list[str], orders: int) -> tuple[list[frozenset], Optional[list]]:
    """The attribution arms of a recipe's tricks: every subset up to `FACTORIAL_UP_TO` tricks (orders
    None), else the prefixes of ``orders`` random orders (and the orders)."""
    from trickstack.ablations.designs import factorial, shapley_arms

    if len(tricks) <= FACTORIAL_UP_TO:
        return factorial(tricks), None
    arms, drawn = shapley_arms(tricks, orders, seed=0)
    return arms, [list(o) for o in drawn]


def _followups(wl, recipe: Config, prev: Optional[ResolvedRecipe], candidates: list[str], tried: list[Config],
               orders: int) -> tuple[list[Config], dict[str, Config], dict[str, str]]:
    """Attribution subsets of ``recipe``; each trick not kept added back on top of it (the negative
    results: the tricks new since the previous recipe, and those it removed), by trick; and the tricks
    left out because they cannot be stacked on the recipe, with why."""
    from trickstack.tricks.registry import check_compatible, get_trick

    tricks = sorted(recipe.arm)
    subsets = [recipe.subset(sorted(s)) for s in _subsets(tricks, orders)[0]]
    since = prev.year if prev else -math.inf
    prev_stack = {t.name: t.params for t in prev.tricks} if prev else {}
    negatives, skipped = {}, {}
    for t in candidates:
        if t in recipe.arm or not (get_trick(t).year > since or t in prev_stack):
            continue
        problem = check_compatible([*tricks, t], wl.provides, wl.name, wl.includes)
        if problem:
            skipped[t] = problem
            continue
        # its values: the previous recipe's, else those of the best configuration tried with it, else defaults
        with_it = next((c for c in tried if t in c.arm), None)
        if t in prev_stack:
            values = prev_stack[t]
        else:
            values = {k.split(".", 1)[1]: v for k, v in with_it.params.items() if k.startswith(f"{t}.")} if with_it else {}
        info = get_trick(t)
        keep = {p.name for p in info.params if p.searchable or values.get(p.name, p.default) != p.default}
        negatives[t] = recipe.plus(t, {k: v for k, v in {**info.defaults, **values}.items() if k in keep})
    return subsets, negatives, skipped


# ---- writing ------------------------------------------------------------------------------------------


@dataclass
class _Found:
    """What the study found, for writing the recipe."""

    wl: Any
    year: int
    prev: Optional[ResolvedRecipe]
    config: Config  # the year's recipe
    candidate: Config  # the configuration tested against the previous recipe
    accepted: bool
    test: dict[str, float]
    runs: _Runs
    seeds: list[int]
    orders: int
    negatives: dict[str, Config]
    skipped: dict[str, str]
    tried: int


def _recipe(f: _Found, path: Path, budget, study: str):
    """The `Recipe` to write: the changes from the previous recipe, with reasons and provenance."""
    from trickstack.recipes.recipe import Recipe
    from trickstack.tricks.registry import get_trick

    wl, prev, test = f.wl, f.prev, f.test
    prev_name = prev.name if prev else "the baseline"
    data: dict[str, Any] = {"recipe": {"workload": wl.name, "year": f.year, **({"base": str(prev.year)} if prev else {})}}
    if f.accepted:
        record = f.runs.of(f.config, f.seeds)[0]
        new = {t.name: t.params for t in record.tricks}
        old = {t.name: t.params for t in prev.tricks} if prev else {}
        shapley = _shapley(f)
        tricks = {}
        for name, params in new.items():
            info = get_trick(name)
            if name not in old:
                shown = {k: v for k, v in params.items() if f"{name}.{k}" in f.config.params or v != info.defaults[k]}
                tricks[name] = {"reason": "added by the search" + shapley.get(name, ""), **({"params": shown} if shown else {})}
            elif params != old[name]:
                changed = {k: v for k, v in params.items() if old[name].get(k) != v}
                what = ", ".join(f"{k} {_num(old[name].get(k))} -> {_num(v)}" for k, v in changed.items())
                tricks[name] = {"reason": f"re-tuned by the search ({what})" + shapley.get(name, ""), "params": changed}
        removed = {name: {"reason": _removed_reason(f, name)} for name in old if name not in new}
        base_nuisance = prev.nuisance if prev else wl.resolve_nuisance()
        nuisance = {k: v for k, v in record.nuisance.items() if base_nuisance.get(k) != v}
        data.update({"tricks": tricks, "removed": removed, "nuisance": nuisance})
        data["recipe"]["summary"] = (f"derived by trickstack: the best of {f.tried} stacks searched, {test['gain']:+.4g} "
                                     f"{wl.metric} over {prev_name} (p = {test['p']:.2g}, {test['n_pairs']} paired seeds)")
    else:
        data["recipe"]["summary"] = (f"carried forward: the best candidate ({_describe(f.candidate)}) did not beat "
                                     f"{prev_name} (p = {test['p']:.2g}, {test['n_pairs']} paired seeds)")
    data["provenance"] = {
        "study": study, "date": dt.datetime.now(dt.timezone.utc).date(), "commit": _commit(),
        "budget": {"unit": budget.unit, "value": budget.value}, "seeds": list(f.seeds),
        "previous": str(prev.year) if prev else "baseline", "gain": float(test["gain"]),
        "ci": [float(test["low"]), float(test["high"])], "p_value": float(test["p"]), "accepted": f.accepted,
        "evidence": f"{f.year}.runs.jsonl"}
    return Recipe.model_validate({**data, "source": str(path)})


def _shapley(f: _Found) -> dict[str, str]:
    """``"; Shapley +0.012 accuracy (95% CI ...) in the recipe"`` per trick, from the attribution runs."""
    from trickstack.stats import analysis
    from trickstack.ablations.designs import arm_name
    from trickstack.leaderboard.board import tidy

    tricks = sorted(f.config.arm)
    subsets, orders = _subsets(tricks, f.orders)
    arms = {arm_name(s): f.runs.of(f.config.subset(sorted(s)), f.seeds) for s in subsets}
    try:
        table = tidy(arms, tuple(tricks))
        values = (analysis.shapley_exact(table, tricks, f.wl.direction) if orders is None
                  else analysis.shapley_sampled(table, orders, f.wl.direction)).values
    except UserError:  # an arm with no finished run: the leaderboard page says why
        return {}
    return {r.trick: f"; Shapley {r.shapley:+.3g} {f.wl.metric} in the recipe (95% CI {r.ci_low:+.3g} to {r.ci_high:+.3g})"
            for r in values.itertuples() if math.isfinite(r.shapley) and math.isfinite(r.ci_low)}


def _removed_reason(f: _Found, name: str) -> str:
    from trickstack.leaderboard.board import compare

    if name in f.skipped:
        return f"left out by the search: {f.skipped[name]}"
    c = compare(f.runs.of(f.negatives[name], f.seeds), f.runs.of(f.config, f.seeds), f.wl.direction)
    return (f"no longer helps: adding it back gives {c['gain']:+.3g} {f.wl.metric} (95% CI {c['low']:+.3g} to "
            f"{c['high']:+.3g}, {c['n_pairs']} paired seeds)")


def _check_recipe(resolved: ResolvedRecipe, runs: list[RunRecord]) -> None:
    """The recipe written must be exactly what its runs ran (a bug otherwise, not bad input)."""
    ran = runs[0]
    if resolved.tricks != ran.tricks or resolved.nuisance != ran.nuisance:
        raise RuntimeError(f"the recipe {resolved.name} ({resolved.tricks}, {resolved.nuisance}) differs from its runs "
                           f"({ran.tricks}, {ran.nuisance})")


def _stamp(record: RunRecord, recipe: ResolvedRecipe, prev: Optional[ResolvedRecipe]) -> RunRecord:
    """A run of exactly a recipe's tricks and values carries that resolved recipe (as `run_trial(recipe=)` would)."""
    for r in (recipe, prev):
        if r is not None and record.tricks == r.tricks and record.nuisance == r.nuisance:
            return record.model_copy(update={"recipe": r})
    return record


def _write_lines(path: Path, records: list[RunRecord]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("".join(r.to_json(indent=None) + "\n" for r in records))
    os.replace(tmp, path)


def _commit() -> str:
    from trickstack.core.records import provenance

    p = provenance()
    if not p.git_commit:
        return f"v{p.trickstack_version}"
    return p.git_commit[:7] + ("-dirty" if p.git_dirty else "")


def _describe(config: Config) -> str:
    """``label_smoothing(smoothing=0.12) + mixup, lr=0.02``."""
    parts = []
    for t in sorted(config.arm):
        values = {k.split(".", 1)[1]: v for k, v in config.params.items() if k.startswith(f"{t}.")}
        parts.append(f"{t}({_fmt(values)})" if values else t)
    nuisance = {k: v for k, v in config.params.items() if "." not in k}
    return (" + ".join(parts) or "no trick") + (f", {_fmt(nuisance)}" if nuisance else "")


def _fmt(values: dict) -> str:
    return ", ".join(f"{k}={_num(v)}" for k, v in sorted(values.items()))


def _num(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)
