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
- ``Event.is_before_event`` / ``is_after_event``: a member test against a tuple of ~25 events (one
  ``__eq__`` each), twice per event. The patch tests the same events as a frozenset.
- ``Engine._run_algorithms``: ran the four default ordering passes and built a trace on every event
  even when the trainer has no algorithm (a baseline trial). With no algorithm and the default passes
  only, the patch returns the empty trace those would have produced; otherwise it calls the original.
- the batch copy in ``Trainer._train_microbatch`` (``deepcopy(self.state.batch)``, kept for training
  metrics): ``copy.deepcopy`` walks a tensor's storage in Python. For a tuple or list of plain contiguous
  tensors that need no grad and share no storage, the patch clones them (same values, dtype, shape and
  strides); anything else goes to ``copy.deepcopy``.

Each patch is applied only when ``composer.__version__`` is the one it was written for and the
source of the function it replaces hashes to the known value; otherwise it is not applied and a
warning says why (training then runs at Composer's own speed, with the same results).
``tests/test_composer_patches.py`` checks the hashes and that a tiny trainer sees the same events
and metrics with and without the patches.
"""

from __future__ import annotations

import collections
import copy
import hashlib
import inspect
import os
import warnings
from dataclasses import dataclass
from typing import Any, Callable

import composer
import composer.trainer.trainer as trainer_module
import torch
from composer.core import engine as engine_module
from composer.core import event as event_module
from composer.core.engine import Engine
from composer.core.event import Event
from composer.trainer.trainer import Trainer
from composer.utils.string_enum import StringEnum

COMPOSER_VERSION = "0.32.1"  # the version the patches were written against


def source_hash(fn: Callable[..., Any]) -> str:
    """sha256 of a function's source text: a changed upstream function no longer matches."""
    return hashlib.sha256(inspect.getsource(fn).encode()).hexdigest()


_original_eq = StringEnum.__eq__
_original_debug_log = Engine._debug_log
_original_is_before = Event.__dict__["is_before_event"]
_original_is_after = Event.__dict__["is_after_event"]
_original_run_algorithms = Engine._run_algorithms
_original_deepcopy = copy.deepcopy


def _same_enum_eq(self: StringEnum, other: object) -> bool:
    if other.__class__ is self.__class__:
        # What the original does for two members of one class (Enum equality is identity);
        # NotImplemented, as the original, so `!=` and reflected comparisons are unchanged.
        return True if self is other else NotImplemented  # type: ignore[return-value]
    return _original_eq(self, other)


def _debug_log_when_enabled(self: Engine, event: Any, msg: str) -> None:
    if os.environ.get("ENGINE_DEBUG", None):  # the original's own condition, checked before formatting
        _original_debug_log(self, event, msg)


# getattr: in another Composer version these may be missing; the patches are then not applied (see apply_patches)
_BEFORE_EVENTS = frozenset(getattr(event_module, "_BEFORE_EVENTS", ()))
_AFTER_EVENTS = frozenset(getattr(event_module, "_AFTER_EVENTS", ()))


def _is_before_event(self: Event) -> bool:
    return self in _BEFORE_EVENTS


def _is_after_event(self: Event) -> bool:
    return self in _AFTER_EVENTS


_DEFAULT_PASSES = getattr(engine_module, "_get_default_passes", list)()


def _run_algorithms_if_any(self: Engine, event: Event):
    if not self.state.algorithms and self.algorithm_passes == _DEFAULT_PASSES:
        return collections.OrderedDict()  # what the default passes and the trace give for no algorithm
    return _original_run_algorithms(self, event)


def _plain(t: object) -> bool:
    return (type(t) is torch.Tensor and t.layout == torch.strided and not t.requires_grad  # type: ignore[union-attr]
            and t.is_contiguous() and not t.is_conj() and not t.is_neg() and not t.__dict__)  # type: ignore[union-attr]


def _batch_deepcopy(x: Any, memo: Any = None, _nil: Any = []) -> Any:
    if memo is None and type(x) in (tuple, list) and x and all(_plain(t) for t in x):
        storages = {t.untyped_storage().data_ptr() for t in x}
        if len(storages) == len(x):  # no two share memory (deepcopy would keep them sharing)
            return type(x)(t.clone(memory_format=torch.preserve_format) for t in x)
    return _original_deepcopy(x, memo, _nil)


@dataclass(frozen=True)
class Patch:
    owner: Any  # a class or module of Composer
    name: str
    original: Any
    replacement: Any
    checked: Callable[..., Any]  # the function whose source must be unchanged: the original, or its caller
    known_hash: str  # source_hash(checked) in Composer COMPOSER_VERSION

    @property
    def label(self) -> str:
        return f"{getattr(self.owner, '__qualname__', self.owner.__name__)}.{self.name}"


PATCHES = (
    Patch(StringEnum, "__eq__", _original_eq, _same_enum_eq, _original_eq,
          "d41df6bf8db34e360042a3794a4a3a97870bb71b3979880b37302bbd5c78ae47"),
    Patch(Engine, "_debug_log", _original_debug_log, _debug_log_when_enabled, _original_debug_log,
          "be0c38869719e6ec893832b29444fb76ec0980ee7a2145e68e880441b1a69d51"),
    Patch(Event, "is_before_event", _original_is_before, property(_is_before_event), _original_is_before.fget,
          "6e7bb29336d69aeea0ba4b367383031480b653e375c6b2a1f87df36041e4bd98"),
    Patch(Event, "is_after_event", _original_is_after, property(_is_after_event), _original_is_after.fget,
          "b93fba12eb5c878e849487d5aa4efcd226e6ef0182e71576e03c931d46cafd1d"),
    Patch(Engine, "_run_algorithms", _original_run_algorithms, _run_algorithms_if_any,
          _original_run_algorithms, "7b3abe1ac482629d058026c19159ecec96707698201fb7a3679f03c7e2bce904"),
    Patch(trainer_module, "deepcopy", _original_deepcopy, _batch_deepcopy, Trainer._train_microbatch,
          "4b840744cb17d904d7d276bc1449242168092aad873db6af7fa2dfb1f1f326b0"),
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
            applied.append(patch.label)
        elif current is patch.original and source_hash(patch.checked) == patch.known_hash:
            setattr(patch.owner, patch.name, patch.replacement)
            applied.append(patch.label)
        else:
            warnings.warn(f"Composer's {patch.label} is not the one trickstack's patch was written for; "
                          f"the patch is not applied")
    return applied


def remove_patches() -> None:
    """Restore Composer's own functions (for tests that compare behaviour with and without)."""
    for patch in PATCHES:
        if patch.owner.__dict__[patch.name] is patch.replacement:
            setattr(patch.owner, patch.name, patch.original)
