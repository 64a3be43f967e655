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
calls `register_trick` or a `TrickInfo` object.
"""

from __future__ import annotations

import fnmatch
import importlib
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any, Callable, Iterable, Mapping, Optional

from composer.core import Algorithm

from trickstack.core.errors import RegistryError, UserError, close_matches
from trickstack.core.params import Param, Value

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
    source: str = ""  # module that registered it, for error messages

    def __post_init__(self) -> None:
        unknown = set(self.changes) - set(CHANGES)
        if unknown or not self.changes:
            raise RegistryError(f"trick {self.name!r}: 'changes' must be a non-empty subset of {CHANGES}, got {self.changes}")
        names = [p.name for p in self.params]
        if len(set(names)) != len(names):
            raise RegistryError(f"trick {self.name!r}: duplicate parameter names {names}")

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
_loaded = False


def register(info: TrickInfo) -> TrickInfo:
    """Add ``info`` to the registry; a name registered twice is an error."""
    if info.name in _REGISTRY:
        raise RegistryError(
            f"trick {info.name!r} is registered twice: by {_REGISTRY[info.name].source or '?'} and by {info.source or '?'}"
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


def _load() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    # The built-in tricks are plugins like any other: found by name at run time, not imported by this
    # lower layer (ARCHITECTURE.md).
    builtin = importlib.import_module("trickstack.algorithms").BUILTIN
    for name in builtin:
        importlib.import_module(f"trickstack.algorithms.{name}")
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        loaded = ep.load()
        if isinstance(loaded, TrickInfo):
            register(loaded)


def list_tricks(pattern: str = "*") -> list[str]:
    """Names of registered tricks matching a glob ``pattern``, sorted."""
    _load()
    return sorted(name for name in _REGISTRY if fnmatch.fnmatchcase(name, pattern))


def get_trick(name: str) -> TrickInfo:
    _load()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise RegistryError(f"unknown trick {name!r}{close_matches(name, _REGISTRY)}") from None


def all_tricks() -> list[TrickInfo]:
    return [get_trick(name) for name in list_tricks()]


def check_compatible(
    names: Iterable[str], provides: Iterable[str], workload: str, includes: Mapping[str, str] | None = None
) -> Optional[str]:
    """Return why the tricks ``names`` cannot be stacked on a workload, or None when they can.

    ``includes`` maps the tricks the workload's baseline recipe already contains to how it does them
    (`Workload.includes`): stacking such a trick again would apply it twice (two warm-ups), so it is refused.
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
        missing = [r for r in info.requires if r not in provided]
        if missing:
            return f"trick {a!r} requires {', '.join(missing)}, which workload {workload!r} does not provide"
        for b in names[i + 1:]:
            if b in info.conflicts or a in get_trick(b).conflicts:
                return f"tricks {a!r} and {b!r} conflict and cannot be stacked"
    return None


# How `trick_status` is shown in one table cell (`tricks list`, the README's tricks table).
STATUS_SHORT = {"ok": "ok", "no-op": "no-op", "in baseline": "base", "excluded": "—"}


def trick_status(info: TrickInfo, workload: Any) -> tuple[str, str]:
    """A trick's status on a workload: ("ok" | "no-op" | "in baseline" | "excluded", the reason)."""
    if info.name in workload.includes:
        return "in baseline", workload.includes[info.name]
    problem = check_compatible([info.name], workload.provides, workload.name)
    if problem:
        return "excluded", problem
    if workload.name in info.noop_on:
        return "no-op", info.noop_on[workload.name]
    return "ok", ""
