"""`recipe derive`'s study: the search study prepared from the previous recipe, its best candidate, the
confirmation of that candidate on the evaluation seeds, and the finished runs by job.

The confirmation is sequential by default (`trickstack.stats.sequential`): the candidate and the
reference run on the first look's seeds ``0..looks[0]-1``; while the candidate is promising but not yet
significant (`trickstack.stats.rules.sequential_decision`), the next look's seeds are added, up to the
last look. Each look is a phase of jobs of the study, and the decision at a look depends only on the
finished runs of its seeds, so an interrupted derivation resumed reads the earlier looks' runs back (it
trains none of them again) and takes the same decisions.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, Callable, Optional, Sequence

import optuna
from optuna.trial import TrialState

from trickstack.ablations.engine import Context, run_phase
from trickstack.ablations.jobs import EVAL, Job, completed
from trickstack.ablations.spec import StudySpec
from trickstack.ablations.state import JobTrial, StudyState, configuration, use_param
from trickstack.ablations.storage import open_storage
from trickstack.core.errors import UserError
from trickstack.core.records import ResolvedRecipe, RunRecord
from trickstack.derive.config import Config, describe
from trickstack.stats import rules
from trickstack.stats.compare import compare
from trickstack.stats.sequential import SequentialPlan
from trickstack.trial.runner import resolve_stack, split_overrides
from trickstack.workloads import Workload, get_workload


def prepare(spec: StudySpec, storage: Optional[str], workers: int, start: Config, prev: Optional[ResolvedRecipe],
            plan: Optional[dict[str, Any]] = None) -> None:
    """Create the study (or check that it was started from the same previous recipe and confirmation
    ``plan``) and enqueue the starting configuration as the search's first proposal."""
    s = spec.study
    backend = open_storage(storage, workers)
    direction = get_workload(s.workload).direction
    study = optuna.create_study(study_name=s.name, storage=backend, direction=direction, load_if_exists=True)
    state = StudyState(study)
    started = {"previous": prev.model_dump(mode="json") if prev else None, "confirmation": plan}
    stored = state.derive
    if stored is not None and stored["previous"] != started["previous"]:
        was = (stored["previous"] or {}).get("name", "the baseline")
        raise UserError(f"study {s.name!r} was started from {was}, but the previous recipe is now "
                        f"{prev.name if prev else 'the baseline'} (it changed); derive under another study name or storage")
    if stored is not None and stored.get("confirmation", plan) != plan:  # a resumed study takes the same decisions
        raise UserError(f"study {s.name!r} was started with confirmation {stored.get('confirmation') or 'on fixed seeds'}, "
                        f"not {plan or 'on fixed seeds'}; derive under another study name or storage")
    state.set_derive(started)
    proposals = state.search_study()
    if not proposals.get_trials(deepcopy=False):
        first = {use_param(t): t in start.arm for t in s.tricks}
        proposals.enqueue_trial({**first, **start.params}, skip_if_exists=True)


def candidate(ctx: Context, spec: StudySpec, start: Config) -> tuple[Config, list[Config]]:
    """The configuration tested against ``start``: the search's best (which the engine re-evaluated on
    the evaluation seeds), or the best after it if it is ``start`` itself; and every configuration the
    search trained, best first."""
    s = spec.study
    state = StudyState(ctx.study)
    proposals = state.search_study()
    sign = rules.sign(state.direction)
    done = sorted(proposals.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)), key=lambda t: -sign * t.value)
    tried = list(dict.fromkeys(Config(*configuration(s.tricks, t.params)) for t in done))
    best = Config(*configuration(s.tricks, proposals.best_trial.params))
    wl = get_workload(s.workload)
    others = [c for c in tried if trained(wl, c) != trained(wl, start)]
    if not others:
        raise UserError(f"study {s.name!r}: the search trained no configuration other than the one it starts from; "
                        "search more configurations")
    return (best if best in others else others[0]), tried


def trained(wl: Workload, config: Config) -> tuple[list, dict[str, Any]]:
    """What the runs of ``config`` train and record, resolved as `trickstack.trial.runner.run_trial` resolves them:
    the tricks (names, every parameter) and the nuisance values. Two configurations written differently (a
    default given or left out, ``1`` or ``1.0``) that train the same are one stack, never tested against itself."""
    tricks = [(t.info.name, t.params) for t in resolve_stack(wl, sorted(config.arm), config.params)]
    return tricks, wl.resolve_nuisance(split_overrides(config.params)[1])


def run(ctx: Context, jobs: list[Job], label: str) -> None:
    """Run ``jobs`` (each once) as a phase of the study; a job that keeps failing is an error."""
    unique = list({job.key: job for job in jobs}.values())
    failed = run_phase(ctx, unique, label) if unique else []
    if failed:
        raise UserError(f"study {ctx.spec.study.name!r}: {len(failed)} run(s) failed repeatedly ({', '.join(failed[:3])}"
                        f"{', ...' if len(failed) > 3 else ''}); see `trickstack status {ctx.spec.study.name}`; "
                        "running derive again retries them")


class Runs:
    """The study's finished runs by job key."""

    def __init__(self, ctx):
        self.ctx = ctx
        self.refresh()

    def refresh(self) -> "Runs":
        self.trials = completed(self.ctx.study)
        self.by_key = {JobTrial(t).key: JobTrial(t).records for t in self.trials}
        return self

    def of(self, config: Config, seeds: Sequence[int]) -> list[RunRecord]:
        return [RunRecord.model_validate(r) for job in config.jobs(seeds) for r in self.by_key.get(job.key, [])]

    def evidence(self) -> list[RunRecord]:
        """Every run of the study (evaluation first), one per configuration and seed."""
        seen, out = set(), []
        ordered = sorted(self.trials, key=lambda t: (JobTrial(t).phase != EVAL, t.number))
        for trial in ordered:
            for data in JobTrial(trial).records:
                r = RunRecord.model_validate(data)
                key = (json.dumps([t.model_dump() for t in r.tricks], sort_keys=True),
                       json.dumps(r.nuisance, sort_keys=True), r.seed)
                if key not in seen:
                    seen.add(key)
                    out.append(r)
        return out


def confirm(runs: list[RunRecord], reference: list[RunRecord], wl: Workload, candidate: Config,
            start: Config) -> dict[str, float]:
    """The paired test of the candidate's runs against the reference's (`trickstack.stats.compare`)."""
    c = compare(runs, reference, wl.direction)  # its p is defined for identical runs too (rules.one_sided_p)
    if c["n_pairs"] < 2 or not math.isfinite(c["gain"]):
        raise UserError(f"the candidate {describe(candidate)} finished on {c['n_pairs']} evaluation seed(s) paired "
                        f"with {describe(start)} (the others diverged): no paired test is possible")
    return c


@dataclass(frozen=True)
class Confirmed:
    """The confirmation's outcome: the paired test on the seeds used, those seeds, whether the candidate is
    accepted, and what ``provenance.confirmation`` records (None on a fixed number of seeds)."""

    test: dict[str, float]
    seeds: list[int]
    accepted: bool
    record: Optional[dict[str, Any]]


ESTIMATE_SEEDS = 10  # fresh pairs after an acceptance: chosen by simulation (`trickstack.stats.selection`)


def estimation_seeds(plan: Optional[SequentialPlan], seeds: int, first: int, count: int) -> list[int]:
    """The seeds of the estimation after an acceptance: ``count`` seeds after every seed the confirmation
    could have used (its last look's, or the ``seeds`` of a fixed test), so none was seen by the decision."""
    after = first + (int(plan.looks[-1]) if plan is not None else seeds)
    return list(range(after, after + count))


def estimation(evaluate: Callable[[list[int]], dict[str, float]], confirmed: Confirmed,
               plan: Optional[SequentialPlan], seeds: int, first: int, count: int) -> tuple[list[int], Optional[dict]]:
    """After an acceptance, the candidate and its reference on ``count`` fresh seeds (`estimation_seeds`):
    runs the decision never saw, whose paired test (``evaluate``'s) the corrected gain adds to the
    confirmation's (`trickstack.stats.selection.corrected`, ``fresh``). Nothing for a year not accepted or
    ``count`` 0: ``([], None)``."""
    if not confirmed.accepted or count < 1:
        return [], None
    used = estimation_seeds(plan, seeds, first, count)
    return used, evaluate(used)


def plan_record(plan: SequentialPlan) -> dict[str, Any]:
    """The plan as ``provenance.confirmation`` records it (before a look is taken)."""
    return {"design": "sequential", "looks": list(plan.looks), "spending": plan.spending, "alpha": plan.alpha,
            "futility": plan.futility}


def confirmation(evaluate: Callable[[list[int]], dict[str, float]], plan: Optional[SequentialPlan],
                 seeds: int, first: int = 0) -> Confirmed:
    """Confirm a candidate: ``evaluate(seeds)`` runs it and the reference on ``seeds`` (runs already
    finished are read back) and gives their paired test (`confirm`). ``plan`` None: one look at ``seeds``
    seeds, judged by `trickstack.stats.rules.passes`; else seeds added look by look as the plan decides.
    The seeds are ``first``, ``first + 1``, ...: each year's own (`trickstack.derive.inputs.fresh_seed`)."""
    if plan is None:
        used = list(range(first, first + seeds))
        test = evaluate(used)
        return Confirmed(test, used, rules.passes(test), None)
    for look, n in enumerate(plan.looks, 1):
        used = list(range(first, first + n))
        test = evaluate(used)
        decision = rules.sequential_decision(plan, look, test)
        if decision.action != "continue":
            break
    record = {**plan_record(plan), "looks_taken": decision.look, "decision": decision.action,
              "nominal": decision.nominal}
    accepted = rules.passes(test, confirmation=record)
    if accepted != (decision.action == "accept"):  # one rule: the leaderboard re-checks the recipe with passes
        raise RuntimeError(f"the sequential decision {decision} disagrees with the leaderboard's rule on {test}")
    return Confirmed(test, used, accepted, record)
