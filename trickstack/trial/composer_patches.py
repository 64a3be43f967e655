"""Narrow speed patches of Composer 0.32.1's per-event hot path, with the same behaviour.

Composer 0.32.1 is frozen upstream. Profiling a trial (``python -m trickstack.benchmarks.overhead``
under cProfile) showed costs in its trainer and event engine that do no work a trial uses, paid about a
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
- ``Engine.run_event`` for the events of each batch, with no profiler and no ``ENGINE_DEBUG``: the original
  re-wraps the event, checks the profiler, formats debug strings, walks the callbacks twice with an ABC
  ``isinstance`` each and calls every callback's handler, most of them `Callback`'s empty one. The lean
  path makes the same assertions, the same ``match``/``apply`` calls and traces and the same callback calls
  in the same order, minus calls of `Callback`'s own empty handlers; other events go to the original. Which
  callbacks to call for an event, and how, is worked out once and kept on the engine while ``state.callbacks``
  holds the same objects (an instance's own handler or ``run_event`` is still looked up at each call).
- ``Trainer._accumulate_time_across_ranks`` in a single process: three tensors, two no-op collectives and
  three ``.item()`` calls per step to return the counts given and the time rounded to float32; the patch
  returns those directly (integer counts in int32 range, no process group, world size 1; else the original).
- ``State.fsdp_enabled``, asked once per step: walks every module through ``Module.modules()`` 's nested
  generators (at 1,000 modules, more than a millisecond a step); the patch answers False without a walk in a
  process with no initialized process group (where no FSDP module can be made), and otherwise walks the same
  ``_modules`` tree with a list (same answer; see `_fsdp_enabled`).
- ``get_composer_env_dict`` as ``Trainer.__init__`` calls it, once per trainer, to log two of its keys (the
  Composer version and commit hash): it asks ``py-cpuinfo`` for the CPU model, which runs a subprocess the
  first time in each process (~1.1 s: the first trial of every worker paid it), and reads the package's file
  list for the commit hash every time (~10 ms). The patch returns a dict of the version and the commit hash
  (read once per process); any other key is looked up in the original's full dict on first use.
- ``Timestamp.to_next_batch`` with int counts: ``copy`` re-parses and re-validates all ten counts through
  ``Time.from_input`` (enum lookups each); the patch builds the same timestamp's fields directly.
- ``Time.from_timestring``, which a schedule calls on its ``t_max`` string (``"1dur"``) at every step: each
  parse first fails through ``from_timedelta`` (a regex and a raised ValueError), then runs another regex and
  the unit's enum lookup. The patch remembers what a string parsed to and makes a new `Time` of the same value
  and unit; a string not seen yet, or one that does not parse, goes to the original.
- ``get_precision_context`` as the trainer module calls it (twice a step): for FP32 on a machine without CUDA
  the original is a generator that only yields; the patch returns a `contextlib.nullcontext` there, else the
  original.
- ``composer.utils.dist._get_distributed_config_var`` (behind ``get_world_size`` and the other rank queries,
  about ten a step): with no initialized process group it reads the environment variable through
  ``os.environ`` 's Mapping methods; the patch reads the same value from its dict with the key encoded once.

Each patch is applied only when ``composer.__version__`` is the one it was written for and the
source of the function it replaces hashes to the known value; otherwise it is not applied and a
warning says why (training then runs at Composer's own speed, with the same results).
``tests/test_composer_patches.py`` checks the hashes and that a tiny trainer sees the same events
and metrics with and without the patches.
"""

from __future__ import annotations

import collections
import contextlib
import copy
import datetime
import os
import warnings
from typing import Any

import composer
import composer.trainer.trainer as trainer_module
import numpy as np
import torch
from composer.core import engine as engine_module
from composer.core import event as event_module
from composer.core import state as state_module
from composer.core.callback import Callback
from composer.core.engine import Engine, Trace
from composer.core.event import Event
from composer.core.precision import Precision
from composer.core.state import State
from composer.core.time import Time, Timestamp, TimeUnit
from composer.loggers import LoggerDestination
from composer.trainer.trainer import Trainer
from composer.utils import collect_env
from composer.utils import dist as composer_dist
from composer.utils.string_enum import StringEnum

from trickstack.trial.composer_step import STEP_PATCHES
from trickstack.trial.patching import Patch, source_hash

COMPOSER_VERSION = "0.32.1"  # the version the patches were written against


_original_eq = StringEnum.__eq__
_original_debug_log = Engine._debug_log
_original_is_before = Event.__dict__["is_before_event"]
_original_is_after = Event.__dict__["is_after_event"]
_original_run_algorithms = Engine._run_algorithms
_original_deepcopy = copy.deepcopy
_original_run_event = Engine.run_event
_original_accumulate = Trainer._accumulate_time_across_ranks
_original_to_next_batch = Timestamp.to_next_batch
_original_fsdp_enabled = State.__dict__["fsdp_enabled"]
_original_env_dict = trainer_module.get_composer_env_dict
_original_from_timestring = Time.__dict__["from_timestring"]
_original_precision_context = trainer_module.get_precision_context
_original_config_var = composer_dist._get_distributed_config_var


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


# The events of every training and evaluation batch: the only ones the lean path takes. The rest (INIT, whose
# callbacks run before its algorithms; FIT_START, epoch and fit ends, checkpoints, predict) are rare and go
# through Composer's own `run_event`.
_BATCH_EVENTS = frozenset((
    Event.BEFORE_DATALOADER, Event.AFTER_DATALOADER, Event.BATCH_START, Event.BEFORE_TRAIN_BATCH, Event.BEFORE_FORWARD,
    Event.AFTER_FORWARD, Event.BEFORE_LOSS, Event.AFTER_LOSS, Event.BEFORE_BACKWARD, Event.AFTER_BACKWARD,
    Event.AFTER_TRAIN_BATCH, Event.BATCH_END, Event.BATCH_CHECKPOINT,
    Event.EVAL_BATCH_START, Event.EVAL_BEFORE_FORWARD, Event.EVAL_AFTER_FORWARD, Event.EVAL_BATCH_END,
))
_NEEDS_DURATION = frozenset(e for e in _BATCH_EVENTS if not e.is_eval)  # the original's asserts, by event
# The same, by the member's id (an int's hash is C; an Enum member's ``__hash__`` is a Python call): an event's
# name (the handler `Callback.run_event` calls) and whether the original asserts ``max_duration`` for it.
_BATCH_EVENT_IDS = {id(e): (e, e.value, e in _NEEDS_DURATION) for e in _BATCH_EVENTS}
_idle: dict[tuple[type, Event], bool] = {}  # (callback class, event) -> its handler is `Callback`'s no-op
_logger_class: dict[type, bool] = {}  # callback class -> isinstance of LoggerDestination (an ABC: slow to ask)


def _is_logger(cb: Callback) -> bool:
    is_logger = _logger_class.get(cb.__class__)
    if is_logger is None:
        is_logger = _logger_class[cb.__class__] = isinstance(cb, LoggerDestination)
    return is_logger


def _class_idle(cls: type, event: Event) -> bool:
    """Whether an instance of ``cls`` run for ``event`` calls only `Callback`'s own empty handler (unless the
    instance has a handler of its own: checked at each call)."""
    key = (cls, event)
    idle = _idle.get(key)
    if idle is None:
        idle = _idle[key] = (cls.run_event is Callback.run_event
                             and getattr(cls, event.value, None) is getattr(Callback, event.value))
    return idle


_IDLE, _HANDLER, _RUN_EVENT = 0, 1, 2  # how the lean path calls a callback (see `_steps`)


def _steps(callbacks: list, event: Event) -> tuple:
    """How the lean path calls each of ``callbacks`` for ``event``, in order: `_RUN_EVENT`, ``cb.run_event(event,
    state, logger)`` (a class with its own ``run_event``, or an instance without ``__dict__``); `_HANDLER`,
    `Callback.run_event`'s own ``getattr(cb, event.value)(state, logger)``, without its frame; `_IDLE`, a class
    handler that is `Callback`'s empty one, called only if the instance has a handler of its own when the event
    runs. A callback of an idle class without a ``__dict__`` is left out (the original skips it too)."""
    steps = []
    for cb in callbacks:
        cls = cb.__class__
        if cls.run_event is not Callback.run_event:
            steps.append((cb, _RUN_EVENT))
        elif not hasattr(cb, "__dict__"):
            if not _class_idle(cls, event):
                steps.append((cb, _RUN_EVENT))
        else:
            steps.append((cb, _IDLE if _class_idle(cls, event) else _HANDLER))
    return tuple(steps)


def _call(steps: tuple, event: Event, name: str, state: State, logger: Any) -> None:
    """Call ``steps`` (`_steps`) as ``Callback.run_event`` would be called on each: an instance's own ``run_event`` or
    handler, set after the steps were made, is found as the original finds it."""
    for cb, how in steps:
        if how is _RUN_EVENT:
            cb.run_event(event, state, logger)
            continue
        own = cb.__dict__
        if "run_event" in own:
            cb.run_event(event, state, logger)
        elif how is _HANDLER or name in own:
            getattr(cb, name)(state, logger)


def _run_matched(self: Engine, event: Event, algorithms: list) -> Any:
    """`Engine._run_algorithms` after its ``match`` calls, with no profiler and no debug log (the lean path's
    conditions): the passes, each ``apply`` in order, the traces and their log line."""
    algorithms = self._compile(algorithms, event)
    trace = engine_module._setup_trace(algorithms, event)
    for order, algorithm in enumerate(algorithms):
        exit_code = algorithm.apply(event, self.state, self.logger)
        trace[f"{algorithm}/{event}"] = Trace(name=algorithm.__class__.__name__, event=event, exit_code=exit_code,
                                              order=order, run=True)
    if len(trace) > 0:
        self.logger.log_traces({f"algorithm_traces/{tr.name}/{tr.event}": 1 if tr.run else 0 for _, tr in trace.items()})
    return trace


_ENV = getattr(os.environ, "_data", None)  # os.environ's own dict: ``get`` without the KeyError of a missing key
_ENGINE_DEBUG = os.environ.encodekey("ENGINE_DEBUG") if _ENV is not None else None  # type: ignore[attr-defined]


def _lean_run_event(self: Engine, event: Any):
    """`Engine.run_event` for a batch event with no profiler and no ``ENGINE_DEBUG``: the same checks, algorithm
    ``match``/``apply`` calls, traces and callback calls in the same order, without the per-call work those
    conditions make idle (profiler markers, debug strings, re-wrapping the event) and without calling a
    callback's empty base-class handler. Which callbacks to call, and how (`_steps`), is worked out once per event
    and list of callbacks and kept on the engine; it is made again when ``state.callbacks`` holds other objects.
    Anything else goes to the original."""
    known = _BATCH_EVENT_IDS.get(id(event))  # a batch event, by identity (Event members live as long as the process)
    state = self.state
    if known is None or self._is_closed or state.profiler is not None or (
            _ENV.get(_ENGINE_DEBUG) if _ENV is not None else os.environ.get("ENGINE_DEBUG", None)):
        return _original_run_event(self, event)
    _, name, needs_duration = known
    assert state.dataloader is not None, f"The trainer should have set state.dataloader for event {event}."
    if needs_duration:
        assert state.max_duration is not None, f"The trainer should have set state.max_duration for event {event}."
    algorithms = state.algorithms
    matched = [algo for algo in algorithms if algo.match(event, state)] if algorithms else []
    if matched or self.algorithm_passes != _DEFAULT_PASSES:
        traces = _run_matched(self, event, matched)
    else:
        traces = collections.OrderedDict()  # what the default passes and the trace give for no algorithm
    callbacks = state.callbacks
    ids = tuple(map(id, callbacks))
    plans = self.__dict__.get("_trickstack_plans")
    if plans is None:
        plans = self.__dict__["_trickstack_plans"] = {}
    plan = plans.get(id(event))
    if plan is None or plan[0] != ids:  # the plan holds its callbacks, so their ids are not reused while it is kept
        plan = plans[id(event)] = (ids, _steps([cb for cb in callbacks if not _is_logger(cb)], event),
                                   _steps([cb for cb in callbacks if _is_logger(cb)], event))
    logger = self.logger
    _call(plan[1], event, name, state, logger)  # the callbacks that are not loggers, as the original's snapshot
    loggers = plan[2]
    if ids != tuple(map(id, state.callbacks)):  # a callback changed the list: the loggers as the original finds them
        loggers = _steps([cb for cb in state.callbacks if _is_logger(cb)], event)
    _call(loggers, event, name, state, logger)
    return traces


_INT32 = range(-(2**31), 2**31)


def _accumulate_alone(self: Trainer, num_samples: Any, num_tokens: Any, batch_time: datetime.timedelta):
    """`Trainer._accumulate_time_across_ranks` in a single process: the sums over one rank are the counts
    themselves (as int32 tensors, hence the range check) and the broadcast time is the time rounded to float32;
    the original makes three tensors, two no-op collectives and three ``.item()`` calls to get there."""
    if (type(num_samples) is int and type(num_tokens) is int and num_samples in _INT32 and num_tokens in _INT32
            and not (torch.distributed.is_available() and torch.distributed.is_initialized())
            and composer_dist.get_world_size() == 1):
        return num_samples, num_tokens, datetime.timedelta(seconds=float(np.float32(batch_time.total_seconds())))
    return _original_accumulate(self, num_samples, num_tokens, batch_time)


_COUNTS = ("_batch", "_batch_in_epoch", "_sample", "_sample_in_epoch", "_token", "_token_in_epoch", "_token_in_iteration")


def _time(value: int, unit: TimeUnit) -> Time:
    """``Time(value, unit)`` for an int value and a unit other than DURATION: the attributes its __init__ sets."""
    t = Time.__new__(Time)
    t._value, t._unit = value, unit
    return t


def _to_next_batch(self: Timestamp, samples: Any = 0, tokens: Any = 0, duration: Any = None) -> Timestamp:
    """`Timestamp.to_next_batch` for int counts: the same new timestamp (``copy`` with each count advanced and
    the durations added), built without re-validating the ten counts that its __init__ re-parses. Else the original."""
    d = self.__dict__
    if (self.__class__ is not Timestamp or type(samples) is not int or type(tokens) is not int
            or not (duration is None or type(duration) is datetime.timedelta)
            or not all(type(d[name]._value) is int for name in _COUNTS)):
        return _original_to_next_batch(self, samples, tokens, duration)
    if duration is None:
        duration = datetime.timedelta(seconds=0)
    new = Timestamp.__new__(Timestamp)
    new.__dict__.update(d)
    new.__dict__.update(
        _batch=_time(d["_batch"]._value + 1, TimeUnit.BATCH),
        _batch_in_epoch=_time(d["_batch_in_epoch"]._value + 1, TimeUnit.BATCH),
        _sample=_time(d["_sample"]._value + samples, TimeUnit.SAMPLE),
        _sample_in_epoch=_time(d["_sample_in_epoch"]._value + samples, TimeUnit.SAMPLE),
        _token=_time(d["_token"]._value + tokens, TimeUnit.TOKEN),
        _token_in_epoch=_time(d["_token_in_epoch"]._value + tokens, TimeUnit.TOKEN),
        _token_in_iteration=_time(d["_token_in_iteration"]._value + tokens, TimeUnit.TOKEN),
        _total_wct=d["_total_wct"] + duration,
        _iteration_wct=d["_iteration_wct"] + duration,
        _epoch_wct=d["_epoch_wct"] + duration,
        _batch_wct=duration,
    )
    return new


# torch 2.15's Module.modules takes remove_duplicate (default True: the walk the patch copies) and named_modules'
# memo is retyped: the same behaviour in other source text, so the hash the fsdp_enabled patch expects goes by torch.
_MODULE_WALK_HASH = ("1e84e53df13f331541eee798a9e7722737fd9a9827b4a1c25216dbd37b30d21d" if torch.__version__ >= "2.15"
                     else "52a883e079b2ea1f214064b9324654d6a6b7a91ea4c2d47b0469a0940ad3f997")
_FSDP_TYPES = (getattr(state_module, "FSDP", ()), getattr(state_module, "FSDPModule", ()))  # what the original tests


def _fsdp_enabled(self: State) -> bool:
    """`State.fsdp_enabled` (is any module of the model an FSDP one?): False at once in a process without an
    initialized process group, where no FSDP module can have been made (FSDP1's constructor takes the default
    group; FSDP2's ``fully_shard`` builds a device mesh, which initializes one), so a step costs the same
    whatever the number of modules; else by walking ``_modules`` as ``Module.modules()`` does, without its
    generators and name strings; a module class with its own ``modules``/``named_modules`` sends the question
    to the original."""
    if not (torch.distributed.is_available() and torch.distributed.is_initialized()):
        return False
    todo, seen = [self.model], set()
    if type(self.model).modules is not torch.nn.Module.modules:
        return _original_fsdp_enabled.fget(self)
    while todo:
        module = todo.pop()
        if id(module) in seen:
            continue
        if type(module).named_modules is not torch.nn.Module.named_modules:
            return _original_fsdp_enabled.fget(self)
        if isinstance(module, _FSDP_TYPES):
            return True
        seen.add(id(module))
        todo.extend(child for child in module._modules.values() if child is not None)
    return False


class _EnvDict(dict):
    """The Composer version and commit hash; any other key of `get_composer_env_dict` from the original, on use."""

    def __missing__(self, key: str) -> Any:
        self.update(_original_env_dict())
        return self[key]


_env_items: dict[str, Any] = {}


def trainer_env_dict() -> dict:
    """`get_composer_env_dict` for `Trainer.__init__`, which reads only the version and the commit hash."""
    if not _env_items:
        _env_items.update(composer_version=collect_env.get_composer_version(),
                          composer_commit_hash=collect_env.get_composer_commit_hash())
    return _EnvDict(_env_items)


_TIMESTRINGS_KEPT = 1024  # distinct time strings remembered (a trial parses a handful)
_timestrings: dict[str, tuple[Any, TimeUnit]] = {}


def _from_timestring(cls: type, timestring: Any) -> Time:
    """`Time.from_timestring` remembering what each string parsed to: a schedule converts its ``t_max`` string
    (e.g. ``"1dur"``) at every step, and each parse first fails through ``from_timedelta`` 's regex and a raised
    ValueError, then runs another regex and the unit's enum lookup. A string seen before gives a new `Time` of
    the same value and unit; anything else (another class, a string not parsed yet, one that raises) goes to
    the original."""
    if cls is Time and type(timestring) is str:
        parsed = _timestrings.get(timestring)
        if parsed is not None:
            return _time(*parsed)
    time = _original_from_timestring.__func__(cls, timestring)
    if (cls is Time and type(time) is Time and type(timestring) is str and len(_timestrings) < _TIMESTRINGS_KEPT
            and vars(time).keys() == {"_value", "_unit"}):
        _timestrings[timestring] = (time._value, time._unit)
    return time


def _precision_context(precision: Any, precision_config: Any = None, fp8_autocast_enabled: bool = True):
    """`get_precision_context` as the trainer calls it: for FP32 on a machine without CUDA the original is a
    generator that only yields (it casts nothing), so a `contextlib.nullcontext` does the same without building
    the generator, its context manager and the ``Precision(...)`` lookup twice a step. Else the original."""
    if precision is Precision.FP32 and not torch.cuda.is_available():
        return contextlib.nullcontext()
    return _original_precision_context(precision, precision_config, fp8_autocast_enabled)


_env_keys: dict[str, Any] = {}


def _config_var(env_var: str, human_name: str, default: int, fetch_fn_name: Any = None) -> int:
    """`composer.utils.dist._get_distributed_config_var` (behind ``get_world_size``, ``get_global_rank``, ...,
    asked about ten times a step) with no initialized process group: the environment variable as an int, else
    the default, read from ``os.environ`` 's own dict with the key encoded once, instead of through the Mapping
    methods' ``in`` and ``[]``. With a process group, or if torch.distributed is unavailable, the original."""
    if _ENV is None or not torch.distributed.is_available() or torch.distributed.is_initialized():
        return _original_config_var(env_var, human_name, default, fetch_fn_name)
    key = _env_keys.get(env_var)
    if key is None:
        key = _env_keys[env_var] = os.environ.encodekey(env_var)  # type: ignore[attr-defined]
    raw = _ENV.get(key)
    return default if raw is None else int(os.environ.decodevalue(raw))  # type: ignore[attr-defined]


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
    Patch(Engine, "run_event", _original_run_event, _lean_run_event,
          (_original_run_event, _original_run_algorithms, Engine._run_callbacks, Engine._run_nonlogger_callbacks,
           Engine._run_loggers, Engine._assert_dataloader_and_duration_set, Engine._compile, Callback.run_event,
           engine_module._setup_trace), "a5954c21f6c196dc88d26952d1277196f84bce0ff6124327e680a73ac086c1a0"),
    Patch(Trainer, "_accumulate_time_across_ranks", _original_accumulate, _accumulate_alone,
          (_original_accumulate, composer_dist.all_reduce, composer_dist.broadcast),
          "633c97626ada4e3a9251058a43b004fd0ca2a7b6c735417ed6de5349518a4bae"),
    Patch(Timestamp, "to_next_batch", _original_to_next_batch, _to_next_batch,
          (_original_to_next_batch, Timestamp.copy, Timestamp.__init__, Time.__init__, Time.__add__, Time._parse,
           Time.from_input), "6dcba5398797c35819dd0a54bf2209b902947901ad37cba19f76d74ae0b546da"),
    Patch(State, "fsdp_enabled", _original_fsdp_enabled, property(_fsdp_enabled),
          (_original_fsdp_enabled.fget, torch.nn.Module.modules, torch.nn.Module.named_modules), _MODULE_WALK_HASH),
    Patch(trainer_module, "get_composer_env_dict", _original_env_dict, trainer_env_dict,
          (Trainer.__init__, _original_env_dict, collect_env.get_composer_version, collect_env.get_composer_commit_hash),
          "5c4339125b2c6d2f9d32dac9b29035413921c0375536b1ae0ef4f9d8c52dc74e"),
    Patch(Time, "from_timestring", _original_from_timestring, classmethod(_from_timestring),
          (_original_from_timestring.__func__, Time.from_timedelta.__func__, Time.__init__),
          "c611ff800e165f96ed1684445974b396f5ba04e6613b5f3b205d683369e8466b"),
    Patch(trainer_module, "get_precision_context", _original_precision_context, _precision_context,
          _original_precision_context, "b94ebe2cf997b23581e2410365babdbf9ed9ef6df0ed55e8c48590818b221d3a"),
    Patch(composer_dist, "_get_distributed_config_var", _original_config_var, _config_var, _original_config_var,
          "f680626d0c1c751bc42d58014aeb2dd19292aae65289fa8f4b2b7cfce7fa78a0"),
    *STEP_PATCHES,  # the training step's lean path (`trickstack.trial.composer_step`)
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
