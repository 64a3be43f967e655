"""Composer speed patches (`trickstack.trial.composer_patches`): applied only to the functions they were
written for, and a trial under them is the same trial, event for event and bit for bit."""

from __future__ import annotations

import copy
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
                               "Engine._run_algorithms", "composer.trainer.trainer.deepcopy"]
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


@pytest.mark.parametrize("stack", [[], ["label_smoothing", "ema"]])
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
