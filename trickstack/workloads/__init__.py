"""Benchmark workloads: a fixed contract of data, model, metric and budget, registered by name.

As in AlgoPerf, a workload is never changed by a trick or a submission. Its nuisance
hyperparameters (learning rate, weight decay, ...) are the ones a study may re-tune per arm.

Three ways a workload comes in: the built-ins (`BUILTIN`), installed plugins (the entry-point group
``trickstack.workloads``, whose value is a `Workload`, a factory returning one, or a module that calls
`register_workload`), and a reference ``"package.module:factory"`` given where a name is expected
(`get_workload`). A plugin that fails to load is reported by name (a warning, and `plugin_errors`) and
skipped as a whole; a plugin workload may not take a built-in's name.

>>> from trickstack.workloads import get_workload, list_workloads
>>> "mnist1d" in list_workloads()
True
>>> get_workload("mnist1d").direction
'maximize'
"""

from __future__ import annotations

import fnmatch
import functools
import importlib
import re
import warnings
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any, Callable, Literal, Mapping, Optional

import torch
from composer.core import Time
from composer.models import ComposerModel
from composer.optim import ComposerScheduler

from trickstack.core.errors import RegistryError, UserError, close_matches
from trickstack.core.params import Param, Value
from trickstack.workloads.data import Splits

BUILTIN = ("cifar10", "digits", "mnist1d", "shakespeare_char")  # modules of trickstack.workloads; their names: `builtin_names`
# Workloads that train nothing -> the module that defines them (``synthetic``: runs simulated from a
# known truth). Found by name at run time, like plugins, from the higher layer that owns them; not
# benchmarks, so `list_workloads` leaves them out unless asked (``testing=True``).
TESTING = {"synthetic": "trickstack.simulator.workload"}
ENTRY_POINT_GROUP = "trickstack.workloads"
# "package.module:factory": a workload made by calling ``factory()`` (no arguments).
FACTORY_REF = re.compile(r"(?P<module>[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*):(?P<factory>[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*)")


@dataclass(frozen=True)
class Workload:
    """The contract between trickstack and a workload: what it trains, how it is scored, what a budget is.

    Required (everything without a default):

    - ``name``: unique among registered workloads (a plugin may not take a built-in's); records keep it.
    - ``domain``, ``summary``: one line each, shown by ``trickstack workloads list``.
    - ``provides``: capabilities a trick's ``requires`` may name (``classification``, ``logits``, ``images2d``,
      ``conv``, ...); a trick requiring something not provided is refused on this workload.
    - ``metric``, ``metric_key``, ``direction``: the final eval metric as records name it, its key among the
      Composer model's eval metrics (``model.get_metrics(is_train=False)``), and ``"maximize"`` or ``"minimize"``.
    - ``batch_size``, ``eval_batch_size``: samples per training step and per eval batch.
    - ``reference_steps``, ``reference_note``: the reference budget is the FLOPs of this many baseline steps;
      the note says what a run at it reaches and how that was measured.
    - ``nuisance``: `Param`s (default and tuning range) that ``make_optimizer`` and ``make_schedule`` read.
    - ``build_model() -> ComposerModel``: a fresh model, initialised from torch's global RNG only (the runner
      seeds it), whose ``loss(outputs, batch)`` is the training loss and whose eval metrics include ``metric_key``.
    - ``load_splits() -> Splits``: train and eval tensors in memory, the same every call (no randomness of the
      trial's seed), eval disjoint from train. Batches are ``(x[idx], y[idx])``.
    - ``make_optimizer(model, nuisance)``, ``make_schedule(nuisance)``: a torch optimizer and a Composer scheduler.

    Optional: ``includes`` (tricks the baseline already has: not stacked again), ``simulate`` (runs drawn,
    not trained; the ``synthetic`` workload), ``train_dataset`` (``(splits, seed) -> Dataset`` of whole batches
    indexed by a list of indices, e.g. with data augmentation drawn from ``seed``; default: the plain tensors)
    ``cpu_variant`` (the name of a smaller workload with the same pipeline that CPU-only test suites
    check in place of this one, which is sized for a GPU) and ``curve_evals`` (shares of the budget at which the
    learning curve measures the eval metric, outside the budget: only where that is cheap).

    What the budget machinery needs: one training step must be a forward, a loss and a backward that torch's
    ``FlopCounterMode`` can count on one batch of ``batch_size`` (`trickstack.trial.runner.baseline_step_flops`),
    with no work hidden from it (data preparation on the CPU is not counted). ``trickstack.testing.workload``
    checks a workload against this contract in one call (`check_workload`).
    """

    name: str
    domain: str
    summary: str
    # Capabilities a trick's `requires` may name. ``logits``: the model's outputs are unnormalised
    # class scores in the last dimension (integer targets, -100 = not scored), and the network
    # names the child module producing them in an ``output_layer`` attribute (z_loss, logit_softcap).
    provides: tuple[str, ...]
    metric: str  # the final eval metric, as recorded
    metric_key: str  # its name among the Composer model's eval metrics
    direction: Literal["maximize", "minimize"]
    batch_size: int  # samples per training step
    eval_batch_size: int
    reference_steps: int  # reference budget: the FLOPs of this many baseline steps
    reference_note: str  # what a run at the reference budget reaches, and where that is measured
    nuisance: tuple[Param, ...]  # default optimizer and schedule settings, tunable per arm
    build_model: Callable[[], ComposerModel]
    load_splits: Callable[[], Splits]
    make_optimizer: Callable[[torch.nn.Module, Mapping[str, Value]], torch.optim.Optimizer]
    make_schedule: Callable[[Mapping[str, Value]], ComposerScheduler]
    # Tricks the baseline recipe already contains -> how it does them (e.g. its own warm-up). Such a
    # trick is not stacked again on this workload: `check_compatible` refuses it, studies exclude it.
    includes: Mapping[str, str] = field(default_factory=dict)
    # A workload whose runs are simulated, not trained: ``simulate(truth, workload, stack, seed, budget,
    # overrides) -> RunRecord`` replaces `run_trial` for it (the ``synthetic`` workload of `trickstack.simulator`).
    simulate: Optional[Callable[..., Any]] = None
    # The training batches: ``train_dataset(splits, seed)`` is a Dataset indexed by a list of indices (as
    # `trickstack.workloads.data.TensorBatches`), e.g. augmenting each batch from a generator seeded by ``seed``.
    train_dataset: Optional[Callable[[Splits, int], Any]] = None
    # A workload sized for a GPU names its CPU-sized variant (same data pipeline, network and recipe, smaller):
    # trickstack's CPU test suite checks the variant in its place.
    cpu_variant: Optional[str] = None
    # Shares of the budget (0 to 1) at which a run's learning curve measures the eval metric, outside the budget
    # and the timed seconds (`trickstack.trial.curves`): only where evaluating is cheap next to training.
    curve_evals: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        if any(not 0 < f < 1 for f in self.curve_evals):
            raise UserError(f"workload {self.name!r}: curve_evals {self.curve_evals} must be shares of the budget "
                            "between 0 and 1 (the final evaluation is the record's own)")
        for p in self.nuisance:
            p.validate(p.default, owner=self.name)  # a bad default names this workload

    def nuisance_param(self, name: str) -> Param:
        for p in self.nuisance:
            if p.name == name:
                return p
        known = [p.name for p in self.nuisance]
        raise UserError(
            f"workload {self.name!r} has no nuisance hyperparameter {name!r}{close_matches(name, known)}"
            f" (it has: {', '.join(known)}; trick parameters are written TRICK.PARAM)"
        )

    def resolve_nuisance(self, overrides: Mapping[str, Any] | None = None) -> dict[str, Value]:
        values = {p.name: p.default for p in self.nuisance}
        for key, value in (overrides or {}).items():
            values[key] = self.nuisance_param(key).validate(value, owner=self.name)
        return values

    @functools.cached_property
    def splits(self) -> Splits:
        return self.load_splits()


_REGISTRY: dict[str, Workload] = {}
_FROM_REFS: dict[str, Workload] = {}  # "package.module:factory" -> the workload it made (once per process)
_PLUGIN_ERRORS: dict[str, str] = {}  # entry-point name -> why it was skipped
_BUILTIN_NAMES: set[str] = set()  # names the BUILTIN modules registered (and TESTING's), never a plugin's
_loaded = False


def register_workload(workload: Workload) -> Workload:
    if not isinstance(workload, Workload):
        raise RegistryError(f"register_workload takes a Workload, got {type(workload).__name__}")
    if workload.name in _REGISTRY:
        clash = " (a built-in workload's name)" if workload.name in _BUILTIN_NAMES else ""
        raise RegistryError(f"workload {workload.name!r} is registered twice{clash}")
    _REGISTRY[workload.name] = workload
    return workload


def _load() -> None:
    global _loaded
    if not _loaded:
        _loaded = True
        for name in BUILTIN:
            importlib.import_module(f"trickstack.workloads.{name}")
        _BUILTIN_NAMES.update(_REGISTRY, TESTING)
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            _load_plugin(ep.name, ep.value, ep.load)


def _load_plugin(name: str, value: str, load: Callable[[], Any]) -> None:
    """Load one entry point; on any failure undo what it registered, warn naming it, and go on."""
    before = dict(_REGISTRY)
    try:
        loaded = load()
        if isinstance(loaded, Workload):
            register_workload(loaded)
        elif callable(loaded):
            register_workload(_made_by(loaded, value))
        elif _REGISTRY.keys() == before.keys():
            raise RegistryError(f"{value} is neither a Workload, a factory of one, nor a module that registers one")
    except Exception as error:  # a broken plugin must not break trickstack, nor leave half its workloads
        _REGISTRY.clear()
        _REGISTRY.update(before)
        _PLUGIN_ERRORS[name] = f"{type(error).__name__}: {error}" if not isinstance(error, UserError) else str(error)
        warnings.warn(f"workload plugin {name!r} ({value}) skipped: {_PLUGIN_ERRORS[name]}", stacklevel=2)


def plugin_errors() -> dict[str, str]:
    """Entry points of the ``trickstack.workloads`` group that failed to load -> why (they were skipped)."""
    _load()
    return dict(_PLUGIN_ERRORS)


def _made_by(factory: Callable[[], Any], ref: str) -> Workload:
    try:
        made = factory()
    except Exception as error:
        raise UserError(f"workload factory {ref} raised {type(error).__name__}: {error}") from error
    if not isinstance(made, Workload):
        raise UserError(f"workload factory {ref} returned {type(made).__name__}, not a trickstack Workload")
    return made


def workload_from_ref(ref: str) -> Workload:
    """The workload ``"package.module:factory"`` makes, registered under its name (made once per process)."""
    if ref in _FROM_REFS:
        return _FROM_REFS[ref]
    match = FACTORY_REF.fullmatch(ref)
    if match is None:
        raise UserError(f"workload {ref!r}: expected a workload name or package.module:factory")
    try:
        target: Any = importlib.import_module(match["module"])
    except Exception as error:  # not only ImportError: a module may raise anything while it is imported
        raise UserError(f"workload {ref}: cannot import module {match['module']!r} "
                        f"({type(error).__name__}: {error})") from None
    for part in match["factory"].split("."):
        if not hasattr(target, part):
            raise UserError(f"workload {ref}: module {match['module']!r} has no {match['factory']!r}")
        target = getattr(target, part)
    if not callable(target):
        raise UserError(f"workload {ref}: {match['factory']!r} is not callable")
    made = _made_by(target, ref)
    _load()
    if made.name in _BUILTIN_NAMES:
        raise UserError(f"workload {ref} is named {made.name!r}, the name of a built-in workload; choose another name")
    existing = _REGISTRY.get(made.name)
    if existing is None:
        register_workload(made)
    elif existing != made:  # equal: the same factory, also installed as a plugin (e.g. its entry point)
        raise UserError(f"workload {ref} is named {made.name!r}, which another workload (a plugin) already has")
    _FROM_REFS[ref] = existing or made
    return _FROM_REFS[ref]


def reference_of(workload: Workload) -> Optional[str]:
    """What another process passes to `get_workload` to load ``workload`` anew: its reference
    ``"package.module:factory"`` if one made it, its name if a built-in or installed plugin registered it, else None."""
    for ref, made in _FROM_REFS.items():
        if made is workload:
            return ref
    return workload.name if _REGISTRY.get(workload.name) is workload else None


def list_workloads(pattern: str = "*", testing: bool = False, plugins: bool = True) -> list[str]:
    """Registered workload names matching ``pattern``; with ``testing``, the `TESTING` ones too; without
    ``plugins``, the built-ins only (what the shipped docs and trickstack's own contract tests cover)."""
    _load()
    for name in TESTING if testing else ():
        get_workload(name)
    return sorted(n for n in _REGISTRY if fnmatch.fnmatchcase(n, pattern) and (testing or n not in TESTING)
                  and (plugins or n in _BUILTIN_NAMES))


def get_workload(name: str) -> Workload:
    """A registered workload by name, or the one ``"package.module:factory"`` makes."""
    if ":" in name:
        return workload_from_ref(name)
    _load()
    if name in TESTING and name not in _REGISTRY:
        importlib.import_module(TESTING[name])
    if name not in _REGISTRY and name in _PLUGIN_ERRORS:  # as the tricks registry says of a broken trick plugin
        raise RegistryError(f"workload {name!r} is not available: its plugin failed to load: {_PLUGIN_ERRORS[name]}")
    try:
        return _REGISTRY[name]
    except KeyError:
        broken = f"; plugins that failed to load: {', '.join(_PLUGIN_ERRORS)}" if _PLUGIN_ERRORS else ""
        raise RegistryError(f"unknown workload {name!r}{close_matches(name, _REGISTRY)}{broken}") from None


def time_string(value: str) -> Time:
    """Check a Composer time string such as ``"50ba"`` or ``"0.1dur"`` (raises ValueError)."""
    return Time.from_timestring(value)
