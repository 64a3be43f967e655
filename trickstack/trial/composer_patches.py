"""Narrow speed patches of Composer 0.32.1's per-event hot path, with the same behaviour.

Composer 0.32.1 is frozen upstream. Profiling a trial (``python -m trickstack.benchmarks.overhead``
under cProfile) showed two costs in its event engine that do no work a trial uses, paid about a
dozen times per training step:

- ``StringEnum.__eq__``: every comparison of two ``Event`` s (``event == Event.X``, ``event in
  (...)``, ``event not in {...}``) ran an ``isinstance`` check and ``Enum`` 's method lookup; ~800
  calls per step. The patch answers a comparison of two members of the same enum class by identity
  first (what ``Enum`` equality is) and hands anything else, strings included, to the original.
- ``Engine._debug_log``: formatted a timestamp string for every event, algorithm and callback, then
  dropped it unless ``ENGINE_DEBUG`` is set. The patch checks ``ENGINE_DEBUG`` first and calls the
  original only when it is set.

Each patch is applied only when ``composer.__version__`` is the one it was written for and the
source of the function it replaces hashes to the known value; otherwise it is not applied and a
warning says why (training then runs at Composer's own speed, with the same results).
``tests/test_composer_patches.py`` checks the hashes and that a tiny trainer sees the same events
and metrics with and without the patches.
"""

from __future__ import annotations

import hashlib
import inspect
import os
import warnings
from dataclasses import dataclass
from typing import Any, Callable

import composer
from composer.core.engine import Engine
from composer.utils.string_enum import StringEnum

COMPOSER_VERSION = "0.32.1"  # the version the patches were written against


def source_hash(fn: Callable[..., Any]) -> str:
    """sha256 of a function's source text: a changed upstream function no longer matches."""
    return hashlib.sha256(inspect.getsource(fn).encode()).hexdigest()


_original_eq = StringEnum.__eq__
_original_debug_log = Engine._debug_log


def _same_enum_eq(self: StringEnum, other: object) -> bool:
    if other.__class__ is self.__class__:
        # What the original does for two members of one class (Enum equality is identity);
        # NotImplemented, as the original, so `!=` and reflected comparisons are unchanged.
        return True if self is other else NotImplemented  # type: ignore[return-value]
    return _original_eq(self, other)


def _debug_log_when_enabled(self: Engine, event: Any, msg: str) -> None:
    if os.environ.get("ENGINE_DEBUG", None):  # the original's own condition, checked before formatting
        _original_debug_log(self, event, msg)


@dataclass(frozen=True)
class Patch:
    owner: type
    name: str
    original: Callable[..., Any]
    replacement: Callable[..., Any]
    known_hash: str  # source_hash(original) in Composer COMPOSER_VERSION


PATCHES = (
    Patch(StringEnum, "__eq__", _original_eq, _same_enum_eq,
          "d41df6bf8db34e360042a3794a4a3a97870bb71b3979880b37302bbd5c78ae47"),
    Patch(Engine, "_debug_log", _original_debug_log, _debug_log_when_enabled,
          "be0c38869719e6ec893832b29444fb76ec0980ee7a2145e68e880441b1a69d51"),
)


def apply_patches() -> list[str]:
    """Apply every patch whose target is unchanged (idempotent); return the names now patched."""
    if composer.__version__ != COMPOSER_VERSION:
        if not getattr(apply_patches, "_warned", False):
            warnings.warn(f"Composer {composer.__version__} is not {COMPOSER_VERSION}: trickstack's speed patches "
                          f"of its event engine are not applied (results are the same, trials are slower)")
            apply_patches._warned = True  # type: ignore[attr-defined]
        return []
    applied = []
    for patch in PATCHES:
        current = patch.owner.__dict__[patch.name]
        if current is patch.replacement:
            applied.append(f"{patch.owner.__name__}.{patch.name}")
        elif current is patch.original and source_hash(patch.original) == patch.known_hash:
            setattr(patch.owner, patch.name, patch.replacement)
            applied.append(f"{patch.owner.__name__}.{patch.name}")
        else:
            warnings.warn(f"Composer's {patch.owner.__name__}.{patch.name} is not the one trickstack's patch was "
                          f"written for; the patch is not applied")
    return applied


def remove_patches() -> None:
    """Restore Composer's own functions (for tests that compare behaviour with and without)."""
    for patch in PATCHES:
        if patch.owner.__dict__[patch.name] is patch.replacement:
            setattr(patch.owner, patch.name, patch.original)
