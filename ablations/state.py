"""What a study keeps in Optuna: every attribute, sub-study and parameter name, read and written only here.

A study is an Optuna study; trickstack stores its own state on it as *user attributes*. Their names are
a contract between processes (the coordinator, workers on other machines, a later `report`), so they
live in this module alone, with a schema version:

study attributes (`StudyState`)
    ``trickstack_schema`` the version of this layout (`SCHEMA_VERSION`); a study without it was written
    before versioning, in the same layout as version 1, and is read as such. ``spec``: the study spec
    as a dict; ``trick_order``: the tricks in the order they joined the study (bit i of ``arm_mask`` is
    trick i); ``arms``: the arms a static design asked for; ``excluded``: ``[arm, reason]`` pairs;
    ``orders``: a Shapley design's sampled orders; ``tuning``: per arm, tuning trials, FLOPs, seconds
    and best nuisance values; ``greedy_path``, ``search_best``: what those designs found;
    ``failed_jobs``; ``finished``; ``derive``: what `recipe derive` recorded of its progress.
job trials (`job_attrs`, `JobTrial`)
    ``job`` (the job's key), ``phase``, ``arm`` (its name), ``nuisance``, ``trick_params``,
    ``tune_index``; then ``worker``, ``records`` (the run records as JSON), ``error``, ``duplicate_of``,
    ``retry_of``, ``retry_reason``, ``withdrawn``. Parameters: ``arm_mask`` and ``seed`` (fixed by the queue), and one boolean
    ``use.<trick>`` per trick of the study, so that Optuna's own tools (optuna-dashboard) show each
    trial's tricks by name.
the search sub-study (`search_study_name`)
    ``<study>::search`` holds a search design's proposals: ``use.<trick>`` booleans, ``<trick>.<param>``
    values and nuisance values.

>>> search_study_name("demo"), use_param("ema")
('demo::search', 'use.ema')
>>> configuration(["ema", "mixup"], {"use.ema": True, "use.mixup": False, "ema.half_life": 0.9})
(frozenset({'ema'}), {'ema.half_life': 0.9})
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Optional, Sequence

import optuna
from optuna.trial import FrozenTrial, TrialState

from trickstack.core.errors import UserError
from trickstack.core.stacks import Arm, arm_name, parse_arm

SCHEMA_VERSION = 1
SCHEMA_KEY = "trickstack_schema"
USE = "use."  # prefix of the boolean parameter of each trick
JOB_KEYS = ("job", "phase", "arm", "nuisance", "trick_params", "tune_index")  # what a retry carries over


def search_study_name(study_name: str) -> str:
    """The sub-study that holds a search design's proposals."""
    return f"{study_name}::search"


def use_param(trick: str) -> str:
    """The boolean parameter that says whether ``trick`` is on."""
    return f"{USE}{trick}"


def configuration(tricks: Sequence[str], params: Mapping[str, Any]) -> tuple[Arm, dict[str, Any]]:
    """A trial's parameters -> (its arm, its ``trick.param`` and nuisance values)."""
    arm = frozenset(t for t in tricks if params.get(use_param(t)))
    return arm, {k: v for k, v in params.items() if not k.startswith(USE)}


def check_schema(study: optuna.Study) -> None:
    """Refuse a study written by a newer trickstack, whose layout this one cannot read."""
    version = study.user_attrs.get(SCHEMA_KEY, 1)  # absent: written before versioning, the v1 layout
    if not isinstance(version, int) or version > SCHEMA_VERSION:
        raise UserError(f"study {study.study_name!r} was written by a newer trickstack (study schema {version}); "
                        f"this one reads schema {SCHEMA_VERSION} and older: upgrade trickstack to read it")


def queue_flags(study: optuna.Study) -> tuple[Optional[str], bool]:
    """(why the study was stopped or None, whether it is finished): what a polling worker looks at, in one read."""
    check_schema(study)
    attrs = study.user_attrs
    return attrs.get("stopped", None), bool(attrs.get("finished", False))


class StudyState:
    """Typed access to the attributes trickstack keeps on an Optuna study."""

    def __init__(self, study: optuna.Study):
        check_schema(study)
        self.study = study

    def _get(self, key: str, default: Any) -> Any:
        return self.study.user_attrs.get(key, default)

    def _set(self, key: str, value: Any) -> None:
        self.study.set_user_attr(key, value)

    @property
    def name(self) -> str:
        return self.study.study_name

    @property
    def direction(self) -> str:
        return self.study.direction.name.lower()

    def start(self, spec: dict, trick_order: list[str]) -> None:
        """Record the spec and trick order of a study being (re)started, and mark it unfinished."""
        self._set(SCHEMA_KEY, SCHEMA_VERSION)
        self._set("spec", spec)
        self._set("trick_order", trick_order)
        self._set("finished", False)
        self._set("stopped", None)

    @property
    def stopped(self) -> Optional[str]:
        """Why the study was stopped before its end (a workload whose metric is not finite), or None."""
        return self._get("stopped", None)

    def stop(self, reason: str) -> None:
        self._set("stopped", reason)

    @property
    def spec(self) -> Optional[dict]:
        return self._get("spec", None)

    @property
    def study_section(self) -> dict:
        """The spec's ``[study]`` table (design, tricks, seeds, budget, ...), empty if none was stored."""
        return (self.spec or {}).get("study", {})

    @property
    def trick_order(self) -> list[str]:
        return list(self._get("trick_order", []))

    @property
    def finished(self) -> bool:
        return bool(self._get("finished", False))

    def finish(self, failed_jobs: list[str], close: bool = True) -> None:
        """Record the jobs that kept failing and, with ``close``, that the study is finished (polling workers stop)."""
        self._set("failed_jobs", failed_jobs)
        self._set("finished", close)

    @property
    def arms(self) -> Optional[list[str]]:
        """The arms a static design asked for (None for greedy and search)."""
        return self._get("arms", None)

    def set_arms(self, arms: Sequence[Arm], orders: Optional[Sequence[Sequence[str]]] = None) -> None:
        self._set("arms", [arm_name(a) for a in arms])
        if orders is not None:
            self._set("orders", [list(o) for o in orders])

    @property
    def orders(self) -> Optional[list[list[str]]]:
        return self._get("orders", None)

    @property
    def excluded(self) -> list[list[str]]:
        return self._get("excluded", [])

    def set_excluded(self, excluded: Sequence[tuple[Arm, str]]) -> None:
        self._set("excluded", [[arm_name(a), why] for a, why in excluded])

    @property
    def tuning(self) -> dict[str, dict]:
        return self._get("tuning", {})

    def set_tuning(self, tuning: dict[str, dict]) -> None:
        self._set("tuning", tuning)

    @property
    def greedy_path(self) -> list[dict]:
        return self._get("greedy_path", [])

    def set_greedy_path(self, path: list[dict]) -> None:
        self._set("greedy_path", path)

    @property
    def search_best(self) -> dict:
        return self._get("search_best", {})

    def set_search_best(self, arm: Arm, trick_params: dict, value: float) -> None:
        self._set("search_best", {"arm": arm_name(arm), "trick_params": trick_params, "value": value})

    @property
    def failed_jobs(self) -> list[str]:
        return self._get("failed_jobs", [])

    @property
    def derive(self) -> Optional[dict]:
        return self._get("derive", None)

    def set_derive(self, started: dict) -> None:
        self._set("derive", started)

    def search_study(self, **create: Any) -> optuna.Study:
        """The search sub-study in the same storage (created if missing; ``create``: sampler, ...)."""
        return optuna.create_study(study_name=search_study_name(self.name), storage=self.study._storage,
                                   direction=self.direction, load_if_exists=True, **create)


def job_attrs(key: str, phase: str, arm: Arm, nuisance: dict, trick_params: dict, tune_index: int) -> dict[str, Any]:
    """The user attributes a queued job trial starts with."""
    return {"job": key, "phase": phase, "arm": arm_name(arm), "nuisance": nuisance, "trick_params": trick_params,
            "tune_index": tune_index}


def job_params(arm: Arm, seed: int, order: Sequence[str]) -> dict[str, Any]:
    """The parameters a queued job trial is fixed to: ``arm_mask``, ``seed`` and ``use.<trick>`` per trick."""
    return {"arm_mask": sum(1 << order.index(t) for t in arm), "seed": seed,
            **{use_param(t): t in arm for t in order}}


@dataclass(frozen=True)
class JobTrial:
    """Typed reading of a job trial's attributes (a live `optuna.Trial` or a `FrozenTrial`)."""

    trial: Any

    @property
    def attrs(self) -> dict[str, Any]:
        return self.trial.user_attrs

    @property
    def key(self) -> Optional[str]:
        return self.attrs.get("job")

    @property
    def phase(self) -> Optional[str]:
        return self.attrs.get("phase")

    @property
    def arm(self) -> str:
        return self.attrs["arm"]

    @property
    def arm_set(self) -> Arm:
        return parse_arm(self.arm)

    @property
    def nuisance(self) -> dict[str, Any]:
        return self.attrs.get("nuisance") or {}

    @property
    def trick_params(self) -> dict[str, Any]:
        return self.attrs.get("trick_params") or {}

    @property
    def tune_index(self) -> int:
        return self.attrs.get("tune_index", 0)

    @property
    def records(self) -> list[dict[str, Any]]:
        return self.attrs.get("records", [])

    @property
    def has_records(self) -> bool:
        return "records" in self.attrs

    @property
    def worker(self) -> Optional[dict]:
        return self.attrs.get("worker")

    @property
    def error(self) -> Optional[str]:
        return self.attrs.get("error")

    @property
    def seed(self) -> int:
        fixed = self.trial.system_attrs.get("fixed_params", {}) if isinstance(self.trial, FrozenTrial) else {}
        return int(self.trial.params.get("seed", fixed.get("seed", -1)))  # a live trial has suggested it already

    def retry_attrs(self, reason: str) -> dict[str, Any]:
        """The attributes a requeued copy of this job starts with (``reason``: why its trial ended)."""
        return {**{k: v for k, v in self.attrs.items() if k in JOB_KEYS}, "retry_of": self.trial.number,
                "retry_reason": reason}


def suggest_job_params(trial: optuna.Trial, order: Sequence[str]) -> None:
    """Read the parameters the queue fixed for a job (`job_params`) into the live trial. A ``use.<trick>``
    not fixed (a job queued by a trickstack before those existed) is left out rather than sampled."""
    trial.suggest_int("arm_mask", 0, 2**62)
    trial.suggest_int("seed", 0, 2**62)
    fixed = trial.storage.get_trial_system_attrs(trial._trial_id).get("fixed_params", {})
    for t in order:
        if use_param(t) in fixed:
            trial.suggest_categorical(use_param(t), [False, True])


def set_worker(trial: optuna.Trial, identity: dict) -> None:
    trial.set_user_attr("worker", identity)


def set_nuisance(trial: optuna.Trial, nuisance: dict) -> None:
    trial.set_user_attr("nuisance", nuisance)


def set_records(trial: optuna.Trial, records: list[dict]) -> None:
    trial.set_user_attr("records", records)


def set_error(trial: optuna.Trial, error: str) -> None:
    trial.set_user_attr("error", error)


def set_duplicate(trial: optuna.Trial, key: str) -> None:
    trial.set_user_attr("duplicate_of", key)


def mark_withdrawn(storage, trial_id: int) -> None:
    """A queued job taken back out before any worker ran it (Ctrl-C while queueing)."""
    storage.set_trial_user_attr(trial_id, "withdrawn", True)


def set_excluded_proposal(trial: optuna.Trial, reason: str) -> None:
    trial.set_user_attr("excluded", reason)


def abandon_proposal(study: optuna.Study, trial: FrozenTrial) -> None:
    """A search proposal interrupted while its values were drawn (nothing of it ran): failed, and not counted as a
    proposal (`proposal_index`), so the proposal asked in its place is the one it would have been."""
    study._storage.set_trial_user_attr(trial._trial_id, "abandoned", True)
    study.tell(trial.number, state=TrialState.FAIL)


def proposal_index(study: optuna.Study) -> int:
    """The index of the search's next proposal: its proposals so far, less those abandoned (`abandon_proposal`)."""
    return sum(not t.user_attrs.get("abandoned") for t in study.get_trials(deepcopy=False))


def proposals_trained(study: optuna.Study) -> int:
    """The search's proposals that trained (finished or failed), not those abandoned."""
    done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.FAIL))
    return sum(not t.user_attrs.get("abandoned") for t in done)
