"""Every FLOP a trial spends in training is counted or flagged, whatever the cost cache expected:
work between steps is counted and charged to the budget, and a step whose cost changed under an
unchanged cost signature is caught by the sampled audit of every run."""

import pytest
import torch
from composer.core import Algorithm, Event
from plugin_fixtures import FakeEntryPoint
from torch.utils._python_dispatch import _get_current_dispatch_mode

from trickstack.core.budget import Budget
from trickstack.trial.flops import AUDIT_WINDOW, count_flops
from trickstack.trial.runner import FlopAuditError, run_trial
from trickstack.tricks.registry import Citation, TrickInfo
from trickstack.workloads import get_workload


class ExtraPasses(Algorithm):
    """``passes`` forward passes of the current model on the last batch, at ``event``, from step ``start`` on;
    ``spent`` adds up the FLOPs it did (measured by its own counter). ``inner``: through the wrapped network,
    bypassing the Composer model's forward (whose calls every step counts)."""

    spent = 0

    def __init__(self, event: Event, passes: int, start: int = 0, batch=None, inner: bool = False):
        self.event, self.passes, self.start, self.batch, self.inner = event, passes, start, batch, inner

    def match(self, event, state):
        return event == self.event and int(state.timestamp.batch) >= self.start

    def apply(self, event, state, logger):
        def forward():
            with torch.no_grad():
                batch = state.batch if self.batch is None else self.batch
                for _ in range(self.passes):
                    state.model.module(batch[0]) if self.inner else state.model(batch)

        type(self).spent += count_flops(forward)


def cheat(plugins, name, algorithm):
    info = TrickInfo(name=name, year=2024, summary="spends more than its cost signature says",
                     citation=Citation("t", "https://example.org"), domains=("vision",), changes=("model",),
                     factory=lambda: algorithm)
    plugins(FakeEntryPoint(name, f"acme:{name}", lambda: info))


@pytest.mark.parametrize("event", [Event.INIT, Event.FIT_START, Event.EPOCH_END])
def test_work_outside_the_steps_is_counted_and_charged_to_the_budget(plugins, step_flops, event):
    ExtraPasses.spent = 0
    splits = get_workload("mnist1d").splits
    batch = (splits.train_x[:100], splits.train_y[:100])  # at INIT and FIT_START there is no batch yet
    cheat(plugins, "extra_passes", ExtraPasses(event, passes=40, batch=batch))
    budget = Budget("flops", 250 * step_flops)  # ~6 epochs of MNIST-1D (40 steps each)
    record = run_trial("mnist1d", ["extra_passes"], seed=0, budget=budget)
    assert ExtraPasses.spent > 0
    assert record.flops == record.steps * step_flops + ExtraPasses.spent  # every FLOP, none twice
    assert record.flops_check.flops_outside_steps == ExtraPasses.spent
    assert abs(record.flops / budget.value - 1) <= 0.02  # paid for with fewer steps
    assert record.steps < 250


def test_a_step_cost_that_changes_without_a_cost_key_is_caught_by_every_run(plugins, step_flops):
    # Through the inner network: the forward count does not see it, the sampled FLOP audit does.
    cheat(plugins, "extra_forward", ExtraPasses(Event.AFTER_FORWARD, passes=1, start=20, inner=True))
    with pytest.raises(FlopAuditError, match=r"extra_forward on mnist1d: the FLOPs counted are not trusted: step \d+ spent "
                                             r".*define cost_key\(state\)") as refused:
        run_trial("mnist1d", ["extra_forward"], seed=0, budget=Budget("flops", 2.5 * AUDIT_WINDOW * step_flops))
    check = refused.value.record.flops_check
    assert check.mismatches and all(m.step >= 20 and m.measured > m.cached for m in check.mismatches)


class EveryNth(ExtraPasses):
    """Extra forward passes at BATCH_END of every ``period``-th step: a varying step cost with no ``cost_key``."""

    def __init__(self, period: int):
        super().__init__(Event.BATCH_END, passes=1)
        self.period = period

    def match(self, event, state):
        return event == self.event and int(state.timestamp.batch) % self.period == 0


@pytest.mark.parametrize("seed", [0, 1])
def test_extra_passes_on_every_7th_step_are_caught_in_a_short_run(plugins, step_flops, seed):
    # 250 steps: the sampled FLOP audit sees ~2 steps and misses every 7th one in most seeds; the model's forward
    # calls, counted on every step, do not.
    cheat(plugins, "every_7th", EveryNth(7))
    with pytest.raises(FlopAuditError, match=r"every_7th on mnist1d: .* step 6 ran the model's forward 2 time\(s\) "
                                             r"where .* 1 time\(s\).*define cost_key") as refused:
        run_trial("mnist1d", ["every_7th"], seed=seed, budget=Budget("flops", 250 * step_flops))
    mismatch = refused.value.record.flops_check.mismatches[0]
    assert (mismatch.forward_calls_cached, mismatch.forward_calls) == (1, 2) and mismatch.measured is None


def test_an_ordinary_run_is_audited_and_spends_nothing_between_steps(small_budget, step_flops):
    record = run_trial("mnist1d", ["label_smoothing"], seed=0, budget=Budget("flops", 2.5 * AUDIT_WINDOW * step_flops))
    check = record.flops_check
    assert check.audit_window == AUDIT_WINDOW and check.audited_steps >= 2
    assert check.mismatches == [] and check.flops_outside_steps == 0
    assert record.flops == record.steps * step_flops


@pytest.mark.parametrize("when", [Event.INIT, Event.EPOCH_END])  # in the trainer's construction; between steps
def test_no_flop_counter_is_left_open_when_training_raises(plugins, small_budget, when):
    class Fails(Algorithm):
        def match(self, event, state):
            return event == when  # where the counter of the gaps is open

        def apply(self, event, state, logger):
            raise RuntimeError("a bug in a trick")

    cheat(plugins, "fails", Fails())
    with pytest.raises(RuntimeError, match="a bug in a trick"):
        run_trial("mnist1d", ["fails"], seed=0, budget=small_budget)
    assert _get_current_dispatch_mode() is None


def test_a_total_counter_counts_what_flop_counter_mode_counts():
    # The budget's counters skip per-module attribution (no module hooks); their totals must not change.
    import torch

    from trickstack.trial.flops import flop_counter, total_flop_counter
    from trickstack.workloads import get_workload

    for name in ("mnist1d", "shakespeare-char"):
        wl = get_workload(name)
        model = wl.build_model()
        if name == "mnist1d":
            batch = (wl.splits.train_x[:4], wl.splits.train_y[:4])
        else:  # character ids of the model's vocabulary: no corpus needed (a clone without ../shared has none)
            from trickstack.workloads.shakespeare_char import CONTEXT, VOCAB_SIZE

            ids = torch.randint(0, VOCAB_SIZE, (4, CONTEXT + 1), generator=torch.Generator().manual_seed(0))
            batch = (ids[:, :-1], ids[:, 1:])
        totals = []
        for counter in (flop_counter(), total_flop_counter(), total_flop_counter()):
            with counter:
                model.loss(model(batch), batch).backward()
                torch.ones(3, 3) @ torch.ones(3, 3)  # outside any module
            totals.append(counter.get_total_flops())
        assert totals[0] == totals[1] == totals[2] > 0, name


def test_cpu_flash_attention_is_counted_as_under_torch_2_7_on_any_torch():
    # torch 2.7.0's FlopCounterMode has no formula for the CPU flash-attention kernel (it counts nothing there);
    # later torches have one. The shipped evidence's FLOP budgets were measured under 2.7.0, so trickstack's
    # counters leave the kernel out under any torch (README, "Installing over a newer torch").
    import torch.nn.functional as F
    from torch.nn.attention import SDPBackend, sdpa_kernel
    from torch.utils.flop_counter import FlopCounterMode

    from trickstack.trial.flops import total_flop_counter

    q, k, v = (torch.randn(2, 4, 64, 32, requires_grad=True, generator=torch.Generator().manual_seed(i)) for i in range(3))

    def attention():
        F.scaled_dot_product_attention(q, k, v, is_causal=True).sum().backward()

    with sdpa_kernel(SDPBackend.FLASH_ATTENTION):  # the CPU kernel (the default here; named, so it cannot fall back)
        with FlopCounterMode(display=False) as raw:
            attention()
        with total_flop_counter() as total:
            attention()
        assert count_flops(attention) == total.get_total_flops() == 0
    torch_counts_it = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu in FlopCounterMode().flop_registry
    assert (raw.get_total_flops() > 0) == torch_counts_it  # torch's own count: 0 under 2.7.0, the products later
    with sdpa_kernel(SDPBackend.MATH):  # the same attention as explicit matrix products is counted, as ever
        assert count_flops(attention) > 0


def test_a_shakespeare_char_baseline_step_counts_what_its_shipped_evidence_was_budgeted_with():
    # 732,443,443,200 FLOPs bought its baseline runs 200 steps under torch 2.7.0 (recipes/shakespeare-char/*.runs.jsonl):
    # the same count under any torch. Character ids of the model's vocabulary: no corpus needed.
    from trickstack.workloads.shakespeare_char import CONTEXT, VOCAB_SIZE

    wl = get_workload("shakespeare-char")
    model = wl.build_model()
    ids = torch.randint(0, VOCAB_SIZE, (wl.batch_size, CONTEXT + 1), generator=torch.Generator().manual_seed(0))
    batch = (ids[:, :-1], ids[:, 1:])
    assert count_flops(lambda: model.loss(model(batch), batch).backward()) == 732_443_443_200 // 200
