"""Composer speed patches (`trickstack.trial.composer_patches`): applied only to the functions they were
written for, and a trial under them is the same trial, event for event and bit for bit."""

from __future__ import annotations

import copy
import inspect
import re
import warnings

import composer
import pytest
import torch
from composer.core import Callback, Event
from composer.core.engine import Engine
from composer.utils.string_enum import StringEnum

from trickstack.core.budget import Budget
from trickstack.trial import composer_patches
from trickstack.trial.composer_patches import PATCHES, apply_patches, remove_patches, source_hash
from trickstack.trial.runner import baseline_step_flops, run_trial
from trickstack.workloads import get_workload


@pytest.fixture
def unpatched():
    remove_patches()
    yield
    apply_patches()


def test_patched_functions_are_the_known_ones():
    # Fails when Composer's patched functions change (an upgrade): the patches would then be skipped,
    # so re-read the new source and re-check the patch before updating the hash.
    assert composer.__version__ == composer_patches.COMPOSER_VERSION
    for patch in PATCHES:
        assert source_hash(patch.checked) == patch.known_hash, f"{patch.label} changed"
    assert apply_patches() == ["StringEnum.__eq__", "Engine._debug_log", "Event.is_before_event", "Event.is_after_event",
                               "Engine._run_algorithms", "composer.trainer.trainer.deepcopy", "Engine.run_event",
                               "Trainer._accumulate_time_across_ranks", "Timestamp.to_next_batch", "State.fsdp_enabled",
                               "composer.trainer.trainer.get_composer_env_dict", "Time.from_timestring",
                               "composer.trainer.trainer.get_precision_context",
                               "composer.utils.dist._get_distributed_config_var", "Trainer._train_batch",
                               "Trainer._iter_dataloader"]
    assert StringEnum.__dict__["__eq__"] is composer_patches._same_enum_eq


def test_not_applied_to_another_composer_version(monkeypatch, unpatched):
    monkeypatch.setattr(composer_patches.composer, "__version__", "0.99.0")
    monkeypatch.setattr(composer_patches.apply_patches, "_warned", False, raising=False)
    with pytest.warns(UserWarning, match="not applied"):
        assert apply_patches() == []
    assert StringEnum.__dict__["__eq__"] is composer_patches._original_eq
    assert all(p.owner.__dict__[p.name] is p.original for p in PATCHES)


def test_event_comparisons_unchanged():
    apply_patches()
    assert Event.BATCH_END == Event.BATCH_END and Event.BATCH_END != Event.BATCH_START
    assert Event.BATCH_END.__eq__(Event.BATCH_START) is NotImplemented  # as the original returns
    assert Event.AFTER_LOSS.is_after_event and not Event.BATCH_START.is_after_event
    assert Event.FIT_START in {Event.FIT_START} and Event.INIT not in (Event.FIT_START, Event.BATCH_END)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert Event.BATCH_END == "batch_end" and Event.BATCH_END == "BATCH_END" and not Event.BATCH_END == "nope"
    with pytest.warns(UserWarning, match="comparison between a string"):
        assert Event.INIT == "init"


def test_before_and_after_events_are_the_original_ones(unpatched):
    original = {e: (e.is_before_event, e.is_after_event) for e in Event}
    apply_patches()
    assert {e: (e.is_before_event, e.is_after_event) for e in Event} == original
    assert sum(before for before, _ in original.values()) > 10


def test_batch_copy_is_a_deepcopy():
    apply_patches()
    x = torch.randn(6, 4)  # contiguous, as the loaders yield
    batch = (x, torch.arange(6))
    fast, slow = composer_patches._batch_deepcopy(batch), copy.deepcopy(batch)
    assert type(fast) is tuple and len(fast) == 2
    for a, b, source in zip(fast, slow, batch):
        assert torch.equal(a, b) and a.dtype == b.dtype and a.stride() == b.stride()
        assert a.untyped_storage().data_ptr() != source.untyped_storage().data_ptr()
    shared = [x, x[1:]]  # sharing memory, needing grad, or not tensors: the original deepcopy
    needs_grad = (torch.ones(2, requires_grad=True),)
    for other in (shared, needs_grad, {"x": x}, []):
        assert composer_patches._batch_deepcopy(other) is not other
    copied = composer_patches._batch_deepcopy(shared)
    assert copied[1].untyped_storage().data_ptr() == copied[0].untyped_storage().data_ptr()
    assert composer_patches._batch_deepcopy(needs_grad)[0].is_leaf


def test_debug_log_still_logs_when_asked(monkeypatch, caplog):
    apply_patches()
    calls = []
    monkeypatch.setattr(composer_patches, "_original_debug_log", lambda self, event, msg: calls.append(msg))
    Engine._debug_log(None, Event.INIT, "quiet")  # type: ignore[arg-type]
    monkeypatch.setenv("ENGINE_DEBUG", "1")
    Engine._debug_log(None, Event.INIT, "loud")  # type: ignore[arg-type]
    assert calls == ["loud"]


class EventLog(Callback):
    def __init__(self):
        self.events: list[str] = []

    def run_event(self, event, state, logger):
        self.events.append(event.value)


def _trial(stack):
    wl = get_workload("mnist1d")
    log = EventLog()
    record = run_trial(wl, stack, seed=3, budget=Budget("flops", 12 * baseline_step_flops(wl)), callbacks=[log])
    return record, log.events


@pytest.mark.parametrize("stack", [[], ["label_smoothing", "ema"], ["sam", "gradient_clipping"],
                                   ["selective_backprop", "z_loss", "layer_freezing"]])
def test_same_trial_with_and_without_patches(stack, monkeypatch):
    patched, patched_events = _trial(stack)
    assert StringEnum.__dict__["__eq__"] is composer_patches._same_enum_eq
    monkeypatch.setattr("trickstack.trial.runner.apply_patches", lambda: [])
    remove_patches()
    try:
        original, original_events = _trial(stack)
    finally:
        apply_patches()
    assert patched_events == original_events and len(original_events) > 12 * 10
    assert patched.metrics == original.metrics  # bit for bit: same eval value and train loss
    assert (patched.steps, patched.flops) == (original.steps, original.flops)


def test_time_accumulated_alone_as_across_ranks():
    import datetime
    import random
    from types import SimpleNamespace

    from composer.devices import DeviceCPU

    trainer = SimpleNamespace(state=SimpleNamespace(device=DeviceCPU()))
    rng = random.Random(0)
    for _ in range(2000):  # the float32 rounding of the time, the int32 counts, types
        samples = rng.choice([0, 1, 100, 2**31 - 1, rng.randrange(2**31)])
        seconds = rng.choice([0.0, 1e-6, rng.random() * 10 ** rng.randint(-6, 5)])
        args = (samples, rng.randrange(10**6), datetime.timedelta(seconds=seconds))
        fast, slow = composer_patches._accumulate_alone(trainer, *args), composer_patches._original_accumulate(trainer, *args)
        assert fast == slow and [type(x) for x in fast] == [type(x) for x in slow]
    assert composer_patches._accumulate_alone(trainer, 2.0, 0, datetime.timedelta(0)) == (2, 0, datetime.timedelta(0))
    with pytest.raises(ValueError, match="integers"):  # a float count goes to the original, which refuses 2.5
        composer_patches._accumulate_alone(trainer, 2.5, 0, datetime.timedelta(0))


class Recorder(Callback):
    """Records every call the engine makes, in order, with what the state holds at the call."""

    def __init__(self, calls, name):
        self.calls, self.name = calls, name

    def run_event(self, event, state, logger):
        self.calls.append((self.name, event.value, int(state.timestamp.batch)))


class Idle(Callback):  # only Callback's empty handlers, but one set on the instance
    pass


class Algo(composer.core.Algorithm):
    def __init__(self, calls, name, events):
        self.calls, self.name, self.events = calls, name, events

    def __repr__(self):  # traces are keyed by it
        return f"Algo({self.name})"

    def match(self, event, state):
        self.calls.append((f"{self.name}.match", event.value))
        return event.value in self.events

    def apply(self, event, state, logger):
        self.calls.append((f"{self.name}.apply", event.value))
        return len(self.calls)


class Mutator(Callback):
    """Changes the callbacks while events run, as the lean path's cached plans must notice: at the end of batch 1 it
    gives an idle callback an instance handler and adds a callback and a logger (mid-event: the loggers are a snapshot
    taken after the other callbacks ran, so the new logger runs for this event and the new callback does not); at the
    end of batch 2 it gives itself an instance ``run_event`` and removes a callback."""

    def __init__(self, calls, idle):
        self.calls, self.idle = calls, idle

    def batch_end(self, state, logger):
        batch = int(state.timestamp.batch)  # batches done
        if batch == 1:
            self.idle.after_backward = lambda state, logger: self.calls.append(("idle.after_backward",))
            state.callbacks.append(Recorder(self.calls, "cb3"))
            state.callbacks.append(LoggerRecorder(self.calls, "logger2"))
        elif batch == 2:
            self.run_event = lambda event, state, logger: self.calls.append(("mutator.run_event", event.value))
            state.callbacks.remove(next(cb for cb in state.callbacks if getattr(cb, "name", None) == "cb1"))


class LoggerRecorder(composer.loggers.LoggerDestination):
    def __init__(self, calls, name):
        self.calls, self.name = calls, name

    def batch_end(self, state, logger):
        self.calls.append((self.name, "batch_end", int(state.timestamp.batch)))


class Slotted(Callback):
    __slots__ = ("calls",)

    def __init__(self, calls):
        self.calls = calls

    def after_forward(self, state, logger):
        self.calls.append(("slotted.after_forward",))


def _engine_run(lean: bool, mutate: bool = False):
    """Every event of a short fit and an eval, through the lean `run_event` or Composer's own: the calls, in
    order, and the traces each event returned. ``mutate``: with callbacks that change the callbacks meanwhile."""
    from composer import Trainer
    from composer.core import Evaluator

    from trickstack.workloads.data import batched_loader

    wl = get_workload("mnist1d")
    calls: list = []
    idle = Idle()
    idle.batch_end = lambda state, logger: calls.append(("idle.batch_end",))  # an instance handler is not idle
    torch.manual_seed(0)
    model = wl.build_model()
    loader = batched_loader((wl.splits.train_x, wl.splits.train_y), wl.batch_size, seed=0)
    algorithms = [Algo(calls, "a", {"after_loss", "batch_end", "fit_start"}), Algo(calls, "b", {"after_loss", "eval_batch_end"})]
    optimizer = wl.make_optimizer(model, wl.resolve_nuisance())
    trainer = Trainer(model=model, train_dataloader=loader, max_duration="3ba", optimizers=optimizer, algorithms=algorithms,
                      callbacks=[Recorder(calls, "cb1"), idle, Recorder(calls, "cb2"), LoggerRecorder(calls, "logger1"),
                                 *([Mutator(calls, idle), Slotted(calls)] if mutate else [])], loggers=[], progress_bar=False,
                      log_to_console=False, log_traces=False, auto_log_hparams=False, device="cpu", python_log_level=None,
                      device_train_microbatch_size=wl.batch_size)
    traces = []
    original_run_event = composer_patches._original_run_event
    patched = composer_patches._lean_run_event if lean else original_run_event

    def recording(self, event):
        result = patched(self, event)
        traces.append((str(event), [(k, t.name, str(t.event), t.exit_code, t.order, t.run) for k, t in result.items()]))
        return result

    Engine.run_event = recording
    try:
        trainer.fit()
        trainer.eval(eval_dataloader=Evaluator(label="eval", dataloader=batched_loader(
            (wl.splits.eval_x[:64], wl.splits.eval_y[:64]), 32, seed=None, drop_last=False), metric_names=[wl.metric_key],
            device_eval_microbatch_size=32))
    finally:
        Engine.run_event = composer_patches._lean_run_event
        trainer.close()
    return calls, traces


def test_lean_run_event_makes_the_same_calls():
    apply_patches()
    lean_calls, lean_traces = _engine_run(lean=True)
    calls, traces = _engine_run(lean=False)
    assert lean_calls == calls and lean_traces == traces
    assert ("b.apply", "eval_batch_end") in calls and ("idle.batch_end",) in calls
    assert sum(1 for _, trace in traces if trace) >= 3 * 2 + 1  # traces of applied algorithms are compared too
    assert Event.BATCH_END in composer_patches._BATCH_EVENTS and Event.INIT not in composer_patches._BATCH_EVENTS


def test_lean_run_event_follows_callbacks_changed_meanwhile():
    # The lean path keeps, per event, which callbacks to call and how; callbacks added, removed or given handlers
    # of their own while training runs are called as Composer's own run_event calls them.
    apply_patches()
    lean_calls, lean_traces = _engine_run(lean=True, mutate=True)
    calls, traces = _engine_run(lean=False, mutate=True)
    assert lean_calls == calls and lean_traces == traces
    for call in (("idle.after_backward",), ("cb3", "batch_end", 2), ("mutator.run_event", "batch_end"),
                 ("logger2", "batch_end", 1), ("logger1", "batch_end", 1), ("slotted.after_forward",)):
        assert call in calls, call
    assert ("cb3", "batch_end", 1) not in calls and ("cb3", "after_loss", 2) in calls
    assert ("cb1", "batch_end", 3) not in calls and ("cb1", "batch_end", 2) in calls


def test_lean_run_event_leaves_the_rest_to_composer(monkeypatch):
    apply_patches()
    taken = []
    monkeypatch.setattr(composer_patches, "_original_run_event", lambda self, event: taken.append(event) or {})
    engine = type("E", (), {"state": type("S", (), {"profiler": None})(), "_is_closed": False})()
    composer_patches._lean_run_event(engine, Event.INIT)  # not a batch event
    composer_patches._lean_run_event(engine, "batch_end")  # a string: Composer converts it
    monkeypatch.setenv("ENGINE_DEBUG", "1")
    composer_patches._lean_run_event(engine, Event.BATCH_END)  # debug logging asked for
    assert taken == [Event.INIT, "batch_end", Event.BATCH_END]


def _fields(timestamp):
    return {k: (type(v), v.value, v.unit) if isinstance(v, composer.core.Time) else (type(v), v)
            for k, v in vars(timestamp).items()}


def test_next_batch_timestamp_is_the_original_one():
    import datetime
    import random

    from composer.core import Timestamp

    rng = random.Random(0)
    counts = ("iteration", "epoch", "batch", "sample", "token", "epoch_in_iteration", "token_in_iteration", "batch_in_epoch",
              "sample_in_epoch", "token_in_epoch")
    walls = ("total_wct", "iteration_wct", "epoch_wct", "batch_wct")
    for _ in range(500):
        timestamp = Timestamp(**{k: rng.randrange(10**6) for k in counts},
                              **{k: datetime.timedelta(seconds=rng.random() * 100) for k in walls})
        duration = rng.choice([None, datetime.timedelta(seconds=rng.random())])
        args = (rng.randrange(1000), rng.choice([0, rng.randrange(10**5)]), duration)
        fast = composer_patches._to_next_batch(timestamp, *args)
        assert type(fast) is Timestamp and _fields(fast) == _fields(composer_patches._original_to_next_batch(timestamp, *args))
    timestamp = Timestamp(batch=3)  # counts given as Time: the original
    assert _fields(composer_patches._to_next_batch(timestamp, composer.core.Time(5, "sp"))) == _fields(
        composer_patches._original_to_next_batch(timestamp, composer.core.Time(5, "sp")))


def test_fsdp_enabled_answers_as_the_original(monkeypatch):
    from types import SimpleNamespace

    from torch.distributed.fsdp import FSDPModule

    def sharded():  # as fully_shard makes one: the module's class swapped for a subclass of FSDPModule
        module = torch.nn.Linear(2, 2)
        module.__class__ = type("FSDPLinear", (FSDPModule, torch.nn.Linear), {})
        return module

    class OwnWalk(torch.nn.Sequential):
        def named_modules(self, *args, **kwargs):
            yield "", self

    shared = torch.nn.Linear(2, 2)
    models = [get_workload(name).build_model() for name in ("mnist1d", "shakespeare-char")] + [
        torch.nn.Sequential(torch.nn.Sequential(shared, torch.nn.ReLU()), shared),  # shared and nested
        torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Sequential(torch.nn.ReLU(), sharded())),
        torch.nn.Sequential(OwnWalk(sharded())),  # a module that walks its own way: the original decides
    ]
    models[2].register_module("empty", None)
    monkeypatch.setattr(torch.distributed, "is_initialized", lambda: True)  # as under a process group: the walk
    answers = [composer_patches._fsdp_enabled(SimpleNamespace(model=m)) for m in models]
    assert answers == [composer_patches._original_fsdp_enabled.fget(SimpleNamespace(model=m)) for m in models]
    assert answers == [False, False, False, True, False]


def test_fsdp_is_not_enabled_without_a_process_group(monkeypatch):
    # No FSDP module is made without a process group (FSDP2's fully_shard must initialize one), so the patch
    # answers False without walking the model: a step costs the same at 10 modules or 1,000.
    from types import SimpleNamespace

    from torch.distributed.fsdp import fully_shard

    for name in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(name, raising=False)
    assert not torch.distributed.is_initialized()
    with pytest.raises((RuntimeError, ValueError)):
        fully_shard(torch.nn.Linear(2, 2))
    assert not torch.distributed.is_initialized()
    assert composer_patches._fsdp_enabled(SimpleNamespace(model=object())) is False  # not a module: no walk made


def test_trainer_env_dict_reads_as_the_original(monkeypatch):
    # What Trainer.__init__ reads of it (the version and the commit hash) is the original's, without asking
    # py-cpuinfo (a subprocess); any other key still comes from the original.
    import composer.trainer.trainer as trainer_module
    from composer.utils import collect_env

    apply_patches()
    assert trainer_module.get_composer_env_dict is composer_patches.trainer_env_dict
    original = composer_patches._original_env_dict()
    cpu_asked = []
    monkeypatch.setattr(collect_env.cpuinfo, "get_cpu_info", lambda: cpu_asked.append(1) or {"brand_raw": "X"})
    env = trainer_module.get_composer_env_dict()
    assert (env["composer_version"], env["composer_commit_hash"]) == (
        original["composer_version"], original["composer_commit_hash"])
    assert cpu_asked == []
    collect_env.get_cpu_model.cache_clear()
    try:
        assert env["cpu_model"] == "X" and cpu_asked == [1] and env["cpu_count"] == original["cpu_count"]
    finally:
        collect_env.get_cpu_model.cache_clear()
    uses = re.findall(r"composer_env_dict\[('\w+')\]", inspect.getsource(trainer_module))
    assert sorted(set(uses)) == ["'composer_commit_hash'", "'composer_version'"]  # all the trainer reads of it


def test_timestrings_parse_as_the_original():
    # Each string twice: the first parse goes to the original (and is remembered), the second is the remembered one.
    from composer.core import Time

    apply_patches()
    original = composer_patches._original_from_timestring.__func__
    good = ["1dur", "0.5dur", "5ep", "3e4tok", "10ba", "100sp", "2iter", "1h2m3s", "0h0m1s", "1.0dur", "0dur", "7BA"]
    bad = ["abc", "1.5ba", "", "1", "ba", "1dur1ba", "-1dur", "1h", "25h0m0s"]
    for text in good * 2:
        fast, slow = Time.from_timestring(text), original(Time, text)
        assert type(fast) is Time and vars(fast) == vars(slow) and type(fast.value) is type(slow.value), text
    for text in bad * 2:
        errors = []
        for parse in (Time.from_timestring, lambda t: original(Time, t)):
            try:
                errors.append(vars(parse(text)))
            except Exception as e:  # noqa: BLE001 - the same error, whatever it is
                errors.append((type(e), str(e)))
        assert errors[0] == errors[1], text
    assert "abc" not in composer_patches._timestrings and "1dur" in composer_patches._timestrings
    first, second = Time.from_timestring("1dur"), Time.from_timestring("1dur")
    assert first is not second and first == second  # a new Time each time, as the original makes


def test_precision_context_as_the_original(monkeypatch):
    import composer.trainer.trainer as trainer_module
    from composer.core import Precision

    apply_patches()
    assert trainer_module.get_precision_context is composer_patches._precision_context
    original = composer_patches._original_precision_context
    taken = []
    monkeypatch.setattr(composer_patches, "_original_precision_context", lambda *a: taken.append(a) or original(*a))
    x = torch.ones(2)
    for precision in (Precision.FP32, "fp32", Precision.AMP_BF16):
        with composer_patches._precision_context(precision, None):
            y = x @ x
        assert y.dtype == torch.float32 or precision == Precision.AMP_BF16
    with pytest.raises(KeyError):  # an error inside the block passes through, as through the original's
        with composer_patches._precision_context(Precision.FP32):
            raise KeyError("x")
    assert [a[0] for a in taken] == ["fp32", Precision.AMP_BF16]  # FP32 without CUDA: the shortcut
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    composer_patches._precision_context(Precision.FP32)
    assert [a[0] for a in taken][-1] is Precision.FP32  # with CUDA: the original (it turns CUDA autocast off)


def test_distributed_config_vars_as_the_original(monkeypatch):
    from composer.utils import dist

    apply_patches()
    assert dist._get_distributed_config_var is composer_patches._config_var
    original = composer_patches._original_config_var

    def both(*args):
        answers = []
        for fn in (composer_patches._config_var, original):
            try:
                answers.append(fn(*args))
            except Exception as e:  # noqa: BLE001 - the same error, whatever it is
                answers.append((type(e), str(e)))
        return answers

    args = ("WORLD_SIZE", "world size", 1, "get_world_size")
    for value in (None, "1", "4", " 2 ", "x", "", "3.0"):
        if value is None:
            monkeypatch.delenv("WORLD_SIZE", raising=False)
        else:
            monkeypatch.setenv("WORLD_SIZE", value)
        fast, slow = both(*args)
        assert fast == slow and type(fast) is type(slow), value
    monkeypatch.setenv("WORLD_SIZE", "1")
    monkeypatch.setenv("LOCAL_RANK", "3")
    monkeypatch.delenv("NODE_RANK", raising=False)
    assert (dist.get_world_size(), dist.get_local_rank(), dist.get_node_rank()) == (1, 3, 0)  # through the patch
    taken = []
    monkeypatch.setattr(composer_patches, "_original_config_var", lambda *a: taken.append(a) or 7)
    monkeypatch.setattr(torch.distributed, "is_initialized", lambda: True)  # a process group: the original
    assert composer_patches._config_var(*args) == 7 and taken == [args]
