"""`trickstack.testing.workload`: the checks pass on every built-in workload and catch each broken contract."""

from __future__ import annotations

import pytest
from shakespeare_fixture import generated_corpus

from trickstack.testing.workload import (
    WorkloadCheckError,
    check_budget,
    check_disjoint_splits,
    check_metric,
    check_tricks_run,
    check_workload,
    tiny_budget,
)
from trickstack.trial.runner import run_trial
from trickstack.workloads import get_workload


@pytest.mark.parametrize("name", ["mnist1d", "digits"])
def test_the_built_in_workloads_keep_the_contract(name):
    check_workload(name)  # one line, as in a plugin's tests


def test_shakespeare_keeps_the_contract_on_a_generated_corpus(tmp_path):
    with generated_corpus(tmp_path):
        check_workload("shakespeare-char", steps=2)


def test_a_nondeterministic_workload_is_caught():
    with pytest.raises(WorkloadCheckError, match=r"mnist1d_noisy: two runs with seed 0, in two processes, differ in eval metric|"
                                                 r"mnist1d_noisy: two runs with seed 0, in two processes, differ in train loss"):
        check_workload("workload_factories:nondeterministic", steps=2, skip=("splits", "tricks"))


def test_a_metric_key_the_model_lacks_is_caught():
    wl = get_workload("workload_factories:wrong_metric_key")
    record = run_trial(get_workload("mnist1d"), [], seed=0, budget=tiny_budget(wl, 2))
    problems = check_metric(wl, record)
    assert problems == ["mnist1d_wrong_key: metric_key 'Accuracy' is not among the model's eval metrics "
                        "(CrossEntropy, MulticlassAccuracy)"]


def test_a_budget_overspent_is_caught():
    wl = get_workload("mnist1d")
    record = run_trial(wl, [], seed=0, budget=tiny_budget(wl, 2))
    assert check_budget(wl, record) == []
    over = record.model_copy(update={"flops": record.budget.value * 1.05})
    assert check_budget(wl, over) == [f"mnist1d: spent {over.flops:.4g} FLOPs of a {record.budget.value:.4g} budget "
                                      "(+5.00%, more than ±2%)"]


def test_eval_examples_in_the_train_split_are_caught():
    assert check_disjoint_splits(get_workload("workload_factories:leaky_splits")) == [
        "mnist1d_leaky: 50 of 50 eval examples are also in the train split"]


def test_a_capability_claimed_but_not_kept_is_caught():
    wl = get_workload("workload_factories:false_logits_claim")
    problems = check_tricks_run(wl, tiny_budget(wl, 2))
    assert len(problems) == 1 and problems[0].startswith(
        "mnist1d_no_output_layer: trick 'logit_softcap' (requires 'logits') fails: UserError")


def test_an_unknown_check_to_skip_is_refused():
    with pytest.raises(ValueError, match=r"unknown check\(s\) to skip \['speed'\]"):
        check_workload("mnist1d", skip=("speed",))


def test_data_that_differs_between_processes_is_caught():
    # Within one process the splits are loaded once and cached, so two runs there agree.
    with pytest.raises(WorkloadCheckError, match=r"mnist1d_per_process: two runs with seed 0, in two processes, differ "
                                                 r"in (eval metric|train loss)"):
        check_workload("workload_factories:differs_between_processes", steps=2, skip=("budget", "metric", "splits",
                                                                                      "tricks"))
