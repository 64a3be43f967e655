"""The contract as a plugin author meets it: an example plugin package, registered through a fake
entry point, checks its trick in one line; tricks that lie about what they change fail it."""

import importlib
import sys
import textwrap

import pytest
import torch
from composer.core import Algorithm, Event
from plugin_fixtures import FakeEntryPoint

from trickstack.testing.contract import check_trick, contract_cases, plugin_workloads
from trickstack.tricks.registry import Citation, TrickInfo
from trickstack.tricks.surgery import trick_generator
from trickstack.workloads import list_workloads

# The example plugin of the README's "Adding a trick": a package with one trick that changes the loss.
EXAMPLE_PLUGIN = '''
    """acme-tricks: an example trickstack plugin."""
    from composer.core import Algorithm, Event

    from trickstack import Citation, Param, register_trick


    class LogitPenalty(Algorithm):
        """Adds weight * mean(logits**2) to the loss of every forward pass."""

        def __init__(self, weight: float):
            self.weight = weight

        def match(self, event, state):
            return event == Event.AFTER_LOSS

        def apply(self, event, state, logger):
            state.loss = state.loss + self.weight * state.outputs.float().square().mean()


    @register_trick(
        name="acme_logit_penalty", year=2024, summary="Penalise large logits",
        citation=Citation("An example", "https://example.org"), domains=("vision",),
        changes=("loss",), requires=("logits",), params=(Param("weight", 1e-3, low=0.0, high=1.0),),
    )
    def acme_logit_penalty(weight: float) -> LogitPenalty:
        return LogitPenalty(weight)
'''


@pytest.fixture
def example_plugin(plugins, tmp_path, monkeypatch):
    package = tmp_path / "acme_tricks"
    package.mkdir()
    (package / "__init__.py").write_text(textwrap.dedent(EXAMPLE_PLUGIN))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "acme_tricks", raising=False)
    plugins(FakeEntryPoint("acme_logit_penalty", "acme_tricks", lambda: importlib.import_module("acme_tricks")))
    yield
    sys.modules.pop("acme_tricks", None)


def test_an_example_plugin_checks_its_trick_in_one_line(example_plugin):
    check_trick("acme_logit_penalty", workload="mnist1d", settings={"weight": 0.01})
    built_in = ["cifar10-tiny", "digits", "mnist1d", "shakespeare-char"]  # cifar10 is checked through cifar10-tiny
    assert sorted(case.id for case in contract_cases(["acme_logit_penalty"])) == sorted(
        f"acme_logit_penalty@{w}" for w in [*built_in, *plugin_workloads()])  # and every installed plugin workload


class GradientNoise(Algorithm):
    """Adds seeded noise to every gradient after the backward pass: it changes neither the loss nor the update rule."""

    def match(self, event, state):
        return event in (Event.FIT_START, Event.AFTER_BACKWARD)

    def apply(self, event, state, logger):
        if event == Event.FIT_START:
            self.generator = trick_generator(state.seed, "noise")
            return
        for p in state.model.parameters():
            p.grad.add_(1e-2 * torch.randn(p.grad.shape, generator=self.generator))


class GradientScaleThroughTheLoss(Algorithm):
    """Scales the loss's gradient by 1.5 without changing its value: a loss change, not an optimizer one."""

    def match(self, event, state):
        return event == Event.AFTER_LOSS

    def apply(self, event, state, logger):
        state.loss = state.loss + 0.5 * (state.loss - state.loss.detach())


def lying(name: str, claims: tuple, algorithm) -> FakeEntryPoint:
    info = TrickInfo(name=name, year=2024, summary="lies", citation=Citation("t", "https://example.org"),
                     domains=("vision",), changes=claims, factory=algorithm)
    return FakeEntryPoint(name, f"acme:{name}", lambda: info)


@pytest.mark.parametrize("name,claims,algorithm", [
    ("noise_claims_loss", ("loss",), GradientNoise),
    ("scaled_gradient_claims_optimizer", ("optimizer",), GradientScaleThroughTheLoss),
])
def test_a_trick_that_lies_about_what_it_changes_fails_the_contract(plugins, name, claims, algorithm):
    plugins(lying(name, claims, algorithm))
    lie = rf"{name} claims to change '{claims[0]}', but the probe saw no such change on mnist1d"
    with pytest.raises(AssertionError, match=lie):
        check_trick(name, workload="mnist1d")


def test_contract_cases_skip_a_workload_whose_data_is_absent_saying_why():
    cases = {c.id: c for c in contract_cases(["label_smoothing"], workloads=["digits", "workload_factories:absent_data"])}
    offline = cases["label_smoothing@workload_factories:absent_data"]
    assert [m.kwargs["reason"] for m in offline.marks] == [
        "workload_factories:absent_data: data absent: no copy of the data here, and the download failed: offline"]
    assert not cases["label_smoothing@digits"].marks


def test_contract_cases_include_installed_plugin_workloads():
    # The example plugin (examples/tabular_workload) is installed in trickstack's development environment.
    if "breast_cancer" not in list_workloads():
        pytest.skip("needs the example plugin installed: pip install -e examples/tabular_workload")
    assert "label_smoothing@breast_cancer" in [c.id for c in contract_cases(["label_smoothing"])]


class ModelAnd(Algorithm):
    """Declares only ``model`` (its first weight zeroed at INIT, which the probe sees) but also changes ``what``."""

    def __init__(self, what: str):
        self.what = what

    def match(self, event, state):
        return event in (Event.INIT, Event.FIT_START, Event.AFTER_DATALOADER, Event.AFTER_LOSS)

    def apply(self, event, state, logger):
        if event == Event.INIT:
            with torch.no_grad():
                next(state.model.parameters()).zero_()
        elif event == Event.FIT_START and self.what == "betas":
            for group in state.optimizers[0].param_groups:
                group["betas"] = (0.5, 0.9)
        elif event == Event.FIT_START and self.what == "optimizer":  # another optimizer, the same learning rate
            old = state.optimizers[0]
            state.optimizers = [torch.optim.SGD(state.model.parameters(), lr=old.param_groups[0]["lr"])]
        elif event == Event.AFTER_DATALOADER and self.what == "data":
            x, y = state.batch
            state.batch = (x + 0.1, y)
        elif event == Event.AFTER_LOSS and self.what == "loss":
            state.loss = 2 * state.loss


@pytest.mark.parametrize("what, undeclared", [("loss", "loss"), ("data", "data"), ("betas", "optimizer"),
                                               ("optimizer", "optimizer")])
def test_a_change_the_trick_does_not_declare_fails_the_contract(plugins, what, undeclared):
    name = f"model_and_{what}"
    plugins(lying(name, ("model",), lambda: ModelAnd(what)))
    with pytest.raises(AssertionError, match=rf"{name} changes '{undeclared}'.* on mnist1d, which it does not declare "
                                             r"\(it declares model\)"):
        check_trick(name, workload="mnist1d")
