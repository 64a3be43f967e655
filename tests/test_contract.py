"""Every registered trick, alone, on every workload it supports, on a seconds-long budget: honours
the budget (±2%), is deterministic, and demonstrably changes what it claims to change (or declares
why it is a no-op there) -- `trickstack.testing.contract.check_trick`, the check plugins run too.

A trick is run on each workload where `trick_status` is "ok" or "no-op"; "in baseline" (the
workload's recipe already has it) and "excluded" (requirements) are refused before training, which
`test_refused_where_it_does_not_fit` checks. Settings for each trick are in ``trick_settings.py``; a
trick with no entry fails here. shakespeare-char trains on a generated text (never the real corpus).
"""

import pytest
from cifar_fixture import generated_cifar
from shakespeare_fixture import generated_corpus
from trick_settings import SETTINGS, settings_for

from trickstack.core.budget import Budget
from trickstack.core.errors import UserError
from trickstack.testing.contract import CONTRACT_STEPS, check_trick, contract_cases, cpu_workloads
from trickstack.trial.runner import run_trial
from trickstack.tricks.registry import get_trick, list_tricks, trick_status
from trickstack.workloads import get_workload, list_workloads

TRICKS = list_tricks()
WORKLOADS = cpu_workloads()  # a plugin's workload is checked by its own tests; cifar10 through cifar10-tiny
ALL_WORKLOADS = list_workloads(plugins=False)
CASES = contract_cases(workloads=WORKLOADS, check_data=False)  # the `data` fixture generates shakespeare's and CIFAR's
REFUSED = [(t, w) for w in ALL_WORKLOADS for t in TRICKS if trick_status(get_trick(t), get_workload(w))[0] not in ("ok", "no-op")]


def test_every_trick_has_a_contract_setting():
    assert sorted(set(TRICKS) - set(SETTINGS)) == [], "add these tricks to tests/trick_settings.py"
    assert sorted(set(SETTINGS) - set(TRICKS)) == [], "trick_settings.py names tricks that do not exist"


def test_every_workload_has_a_contract_budget():
    assert sorted(CONTRACT_STEPS) == WORKLOADS


def test_baseline_inclusions_name_registered_tricks():
    for w in WORKLOADS:
        unknown = sorted(set(get_workload(w).includes) - set(TRICKS))
        assert unknown == [], f"workload {w!r} says its baseline includes unknown tricks {unknown}"


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """shakespeare-char and CIFAR-10 read generated data for this module; their cached splits are dropped after."""
    with generated_corpus(tmp_path_factory.mktemp("shakespeare")), generated_cifar(tmp_path_factory.mktemp("cifar")):
        yield


@pytest.mark.parametrize("name,workload", CASES)
def test_trick_contract(name, workload, data):
    check_trick(name, workload, settings=settings_for(name, workload))


@pytest.mark.parametrize("name,workload", REFUSED, ids=[f"{t}@{w}" for t, w in REFUSED])
def test_refused_where_it_does_not_fit(name, workload):
    """Refused before training, with the reason `tricks list` shows (requirement or baseline inclusion)."""
    _, reason = trick_status(get_trick(name), get_workload(workload))
    with pytest.raises(UserError) as refused:
        run_trial(workload, [name], seed=0, budget=Budget("flops", 1.0))
    assert reason in str(refused.value)
