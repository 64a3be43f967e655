"""The trick registry: the single source of truth for what tricks exist and how they combine.

Tricks are found by name, as models are in timm::

    >>> from trickstack.tricks.registry import get_trick, list_tricks
    >>> "label_smoothing" in list_tricks("label*")
    True
    >>> get_trick("label_smoothing").year
    2016

Built-in tricks live in ``algorithms/<name>/`` (imported as ``trickstack.algorithms.<name>``) and
are loaded from the explicit list in `trickstack.algorithms.BUILTIN`; third-party packages add
tricks through the entry-point group ``trickstack.tricks``, whose value is either a module that
calls `register_trick` or a `TrickInfo` object. Every trick knows the distribution (and version)
that provided it, which each run record keeps.

A plugin that fails to load (its import raises, its metadata is invalid, it reuses a taken name) is
skipped with a `PluginWarning` naming its distribution, entry point and the reason; the other
tricks stay usable, and asking for the broken trick by name raises a `RegistryError` with that
reason. A name registered by two distributions cannot be used until one is uninstalled.
"""

from __future__ import annotations

import fnmatch
import importlib
import traceback
import warnings
from dataclasses import dataclass, field, replace
from importlib.metadata import PackageNotFoundError, entry_points, version
from types import ModuleType
from typing import Any, Callable, Iterable, Mapping, Optional

from composer.core import Algorithm

from trickstack.core.errors import RegistryError, UserError, close_matches
from trickstack.core.params import Param, Value
from trickstack.core.records import DistributionRecord
from trickstack.core.system import SETTINGS

CHANGES = ("data", "targets", "loss", "model", "optimizer", "schedule", "evaluation")
ENTRY_POINT_GROUP = "trickstack.tricks"


@dataclass(frozen=True)
class Citation:
    title: str
    url: str


@dataclass(frozen=True)
class TrickInfo:
    """Everything trickstack knows about a trick. ``factory(**params)`` builds its Composer Algorithm.

    ``requires`` names capabilities a workload must provide (see `Workload.provides`), e.g.
    ``"classification"``; ``conflicts`` names tricks it cannot be stacked with (enforced both ways).
    ``noop_on`` maps a workload name to the reason the trick changes nothing there.
    ``unsupported`` maps a system setting it cannot run under (``"bf16"``, ``"compile"``:
    `trickstack.core.system.SETTINGS`) to why; a study under that setting excludes it, with the reason.
    """

    name: str
    year: int
    summary: str
    citation: Citation
    domains: tuple[str, ...]
    changes: tuple[str, ...]
    factory: Callable[..., Algorithm]
    params: tuple[Param, ...] = ()
    conflicts: tuple[str, ...] = ()
    requires: tuple[str, ...] = ()
    noop_on: Mapping[str, str] = field(default_factory=dict)
    unsupported: Mapping[str, str] = field(default_factory=dict)
    source: str = ""  # module that registered it, for error messages
    distribution: Optional[DistributionRecord] = None  # set by `register`: who provided the code

    def __post_init__(self) -> None:
        where = f"trick {self.name!r}" + (f" (in {self.source})" if self.source else "")
        unknown = set(self.changes) - set(CHANGES)
        if unknown or not self.changes:
            raise RegistryError(f"{where}: 'changes' must be a non-empty subset of {CHANGES}, got {self.changes}")
        unknown = set(self.unsupported) - set(SETTINGS)
        if unknown:
            raise RegistryError(f"{where}: 'unsupported' names {sorted(unknown)}; the settings are {SETTINGS}")
        names = [p.name for p in self.params]
        if len(set(names)) != len(names):
            raise RegistryError(f"{where}: duplicate parameter names {names}")
        for p in self.params:
            try:
                p.validate(p.default, owner=self.name)
            except UserError as error:
                raise RegistryError(f"{where}: the default of parameter {p.name!r} is invalid: {error}") from None

    @property
    def provided_by(self) -> str:
        """``"trickstack 0.1.0 (trickstack.algorithms.ema)"``: the distribution and module, for messages."""
        return f"{self.distribution or 'an unknown distribution'} ({self.source or '?'})"

    @property
    def defaults(self) -> dict[str, Value]:
        return {p.name: p.default for p in self.params}

    def param(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        known = [p.name for p in self.params]
        hint = close_matches(name, known) or (f" (it has: {', '.join(known)})" if known else " (it has no parameters)")
        raise UserError(f"trick {self.name!r} has no parameter {name!r}{hint}")

    def resolve(self, overrides: Mapping[str, Any] | None = None) -> dict[str, Value]:
        """Defaults updated by ``overrides``, each validated against its range."""
        params = self.defaults
        for key, value in (overrides or {}).items():
            params[key] = self.param(key).validate(value, owner=self.name)
        return params

    def build(self, params: Mapping[str, Value]) -> Algorithm:
        return self.factory(**params)


_REGISTRY: dict[str, TrickInfo] = {}
_loaded = False  # set only once every built-in and every plugin has been tried
_loading = False  # guards against a plugin that looks a trick up while it is being imported
_distribution: Optional[DistributionRecord] = None  # of the code being loaded, given to what it registers


@dataclass(frozen=True)
class PluginFailure:
    """A plugin (an entry point of the group ``trickstack.tricks``) that could not be loaded."""

    entry_point: str  # its name, normally the trick's
    value: str  # "module" or "module:attribute"
    distribution: Optional[DistributionRecord]
    reason: str

    def describe(self) -> str:
        return (f"plugin {self.entry_point!r} ({self.value}) of {self.distribution or 'an unknown distribution'} "
                f"failed to load: {self.reason}")


class DuplicateTrickError(RegistryError):
    """A trick name is registered a second time."""

    def __init__(self, name: str, message: str):
        super().__init__(message)
        self.name = name


class PluginWarning(UserWarning):
    """A trick plugin was skipped; the message says which and why."""


_FAILED: dict[str, PluginFailure] = {}  # by entry-point name
_CLASHES: dict[str, str] = {}  # trick name -> why it cannot be used (two distributions register it)


def register(info: TrickInfo) -> TrickInfo:
    """Add ``info`` to the registry; a name registered twice is an error naming both distributions."""
    if info.distribution is None:
        # While loading, the distribution being loaded; a built-in imported before the registry
        # loaded (``from trickstack.algorithms.ema import ...``) is still trickstack's.
        dist = _distribution or (_installed("trickstack") if info.source.startswith("trickstack.") else None)
        info = replace(info, distribution=dist) if dist else info
    if info.name in _REGISTRY:
        raise DuplicateTrickError(
            info.name, f"trick {info.name!r} is registered twice: by {_REGISTRY[info.name].provided_by} and by {info.provided_by}"
        )
    _REGISTRY[info.name] = info
    return info


def register_trick(**metadata: Any) -> Callable[[Callable[..., Algorithm]], Callable[..., Algorithm]]:
    """Decorator: register the decorated factory as a trick with the given metadata.

    The factory takes the trick's parameters as keyword arguments and returns a Composer `Algorithm`.
    """

    def decorate(factory: Callable[..., Algorithm]) -> Callable[..., Algorithm]:
        metadata.setdefault("source", factory.__module__)
        register(TrickInfo(factory=factory, **metadata))
        return factory

    return decorate


def _installed(name: str) -> DistributionRecord:
    try:
        return DistributionRecord(name=name, version=version(name))
    except PackageNotFoundError:  # run from a checkout that was never installed
        return DistributionRecord(name=name, version="unknown")


def _distribution_of(ep: Any) -> Optional[DistributionRecord]:
    dist = getattr(ep, "dist", None)
    if dist is None:
        return None
    return DistributionRecord(name=dist.name, version=dist.version)


def _reason(error: Exception) -> str:
    if isinstance(error, UserError):
        return str(error)
    frames = traceback.extract_tb(error.__traceback__)
    at = f" (at {frames[-1].filename}:{frames[-1].lineno})" if frames else ""
    return f"{type(error).__name__}: {error}{at}"


def _load_plugin(ep: Any) -> None:
    """Load one entry point, all or nothing: on any error its tricks are taken out again and it is recorded."""
    global _distribution
    dist = _distribution_of(ep)
    before = set(_REGISTRY)
    _distribution = dist
    try:
        loaded = ep.load()
        if isinstance(loaded, TrickInfo):
            register(loaded)
        elif not isinstance(loaded, ModuleType):
            raise RegistryError(f"its value is a {type(loaded).__name__}, not a module calling register_trick or a TrickInfo")
    except Exception as error:  # a plugin's bug, whatever it is, must not take the other tricks down
        for name in set(_REGISTRY) - before:
            del _REGISTRY[name]
        failure = PluginFailure(entry_point=ep.name, value=ep.value, distribution=dist, reason=_reason(error))
        _FAILED[ep.name] = failure
        if isinstance(error, DuplicateTrickError) and error.name in _REGISTRY:
            _CLASHES[error.name] = f"{error}; uninstall one of them"  # never pick one of the two silently
        warnings.warn(f"skipped trick {failure.describe()}", PluginWarning, stacklevel=4)
    finally:
        _distribution = None


def _load() -> None:
    global _loaded, _loading, _distribution
    if _loaded or _loading:
        return
    _loading = True
    try:
        # The built-in tricks are plugins like any other: found by name at run time, not imported by
        # this lower layer (ARCHITECTURE.md). A failure here is trickstack's own bug and is raised.
        _distribution = _installed("trickstack")
        builtin = importlib.import_module("trickstack.algorithms").BUILTIN
        for name in builtin:
            importlib.import_module(f"trickstack.algorithms.{name}")
        _distribution = None
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            _load_plugin(ep)
        _loaded = True
    finally:
        _loading = False
        _distribution = None


def plugin_failures() -> list[PluginFailure]:
    """The plugins skipped because they failed to load, in the order they were tried."""
    _load()
    return list(_FAILED.values())


def list_tricks(pattern: str = "*") -> list[str]:
    """Names of usable tricks matching a glob ``pattern``, sorted (a name two distributions register is not)."""
    _load()
    return sorted(name for name in _REGISTRY if fnmatch.fnmatchcase(name, pattern) and name not in _CLASHES)


def get_trick(name: str) -> TrickInfo:
    _load()
    if name in _CLASHES:
        raise RegistryError(_CLASHES[name])
    if name in _REGISTRY:
        return _REGISTRY[name]
    if name in _FAILED:
        raise RegistryError(f"trick {name!r} is not available: {_FAILED[name].describe()}")
    broken = f"; plugins that failed to load: {', '.join(_FAILED)}" if _FAILED else ""
    raise RegistryError(f"unknown trick {name!r}{close_matches(name, _REGISTRY)}{broken}")


def all_tricks() -> list[TrickInfo]:
    return [get_trick(name) for name in list_tricks()]


def check_compatible(
    names: Iterable[str], provides: Iterable[str], workload: str, includes: Mapping[str, str] | None = None,
    system: Iterable[str] = (),
) -> Optional[str]:
    """Return why the tricks ``names`` cannot be stacked on a workload, or None when they can.

    ``includes`` maps the tricks the workload's baseline recipe already contains to how it does them
    (`Workload.includes`): stacking such a trick again would apply it twice (two warm-ups), so it is refused.
    ``system``: the settings the runs train under (`trickstack.core.system.settings`); a trick that cannot run
    under one of them (`TrickInfo.unsupported`) is refused.
    """
    names = list(names)
    provided = set(provides)
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        return f"trick {duplicates[0]!r} is listed twice"
    for i, a in enumerate(names):
        info = get_trick(a)
        if a in (includes or {}):
            return f"workload {workload!r} already includes {a!r} in its baseline ({includes[a]})"
        for setting in system:
            if setting in info.unsupported:
                return f"trick {a!r} cannot run under {setting}: {info.unsupported[setting]}"
        missing = [r for r in info.requires if r not in provided]
        if missing:
            return f"trick {a!r} requires {', '.join(missing)}, which workload {workload!r} does not provide"
        for b in names[i + 1:]:
            if b in info.conflicts or a in get_trick(b).conflicts:
                return f"tricks {a!r} and {b!r} conflict and cannot be stacked"
    return None


# How `trick_status` is shown in one table cell (`tricks list`, the README's tricks table).
STATUS_SHORT = {"ok": "ok", "no-op": "no-op", "in baseline": "base", "excluded": "—"}


def trick_status(info: TrickInfo, workload: Any, system: Iterable[str] = ()) -> tuple[str, str]:
    """A trick's status on a workload under the ``system`` settings (`trickstack.core.system.settings`):
    ("ok" | "no-op" | "in baseline" | "excluded", the reason)."""
    if info.name in workload.includes:
        return "in baseline", workload.includes[info.name]
    problem = check_compatible([info.name], workload.provides, workload.name, system=system)
    if problem:
        return "excluded", problem
    if workload.name in info.noop_on:
        return "no-op", info.noop_on[workload.name]
    return "ok", ""
