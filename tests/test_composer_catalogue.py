"""Every Composer algorithm is accounted for: wrapped by a registered trick, or catalogued with a reason.

A trick wraps a Composer class when the Algorithm its factory builds (with default parameters) is an
instance of it; the catalogue is `trickstack.algorithms.unusable.UNUSABLE`. A Composer upgrade that
adds an algorithm fails here until someone decides which it is.
"""

import inspect
import warnings

import composer.algorithms
import pytest
import torch
from composer.core import Algorithm

from trickstack.algorithms.unusable import UNUSABLE
from trickstack.tricks.registry import all_tricks

COMPOSER = {
    name: cls for name in composer.algorithms.__all__
    if inspect.isclass(cls := getattr(composer.algorithms, name)) and issubclass(cls, Algorithm)
}


def wrapped() -> dict[str, list[str]]:
    """Composer class name -> the registered tricks whose Algorithm is an instance of it."""
    found: dict[str, list[str]] = {}
    for info in all_tricks():
        algorithm = info.build(info.defaults)
        for name, cls in COMPOSER.items():
            if isinstance(algorithm, cls):
                found.setdefault(name, []).append(info.name)
    return found


def test_every_composer_algorithm_is_wrapped_or_catalogued():
    catalogued = {u.composer_class for u in UNUSABLE.values()}
    missing = sorted(set(COMPOSER) - set(wrapped()) - catalogued)
    assert missing == [], f"wrap these in a trick (algorithms/<name>/) or list them in algorithms/unusable.py: {missing}"


def test_catalogue_names_real_algorithms_with_reasons():
    for key, entry in UNUSABLE.items():
        assert entry.composer_class in COMPOSER, f"{key}: {entry.composer_class} is not an Algorithm in composer.algorithms"
        assert entry.reason.strip(), f"{key} has no reason"
    classes = [u.composer_class for u in UNUSABLE.values()]
    assert len(set(classes)) == len(classes), "a Composer class is catalogued twice"


def test_nothing_is_both_wrapped_and_catalogued():
    both = sorted(set(wrapped()) & {u.composer_class for u in UNUSABLE.values()})
    assert both == [], f"registered as tricks, yet catalogued as unusable: {both}"


def test_wrapped_detection_sees_known_wrappers():
    found = wrapped()
    assert found["LabelSmoothing"] == ["label_smoothing"]
    assert "progressive_resizing" in found["ProgressiveResizing"]  # a subclass counts as a wrapper


# The catalogue calls these no-ops here: applied to each workload's model, their surgery replaces nothing.
@pytest.mark.parametrize("workload", ["mnist1d", "digits", "shakespeare-char"])
def test_catalogued_surgery_finds_nothing_to_replace(workload):
    import composer.functional as cf

    from trickstack.workloads import get_workload

    model = get_workload(workload).build_model()  # no data needed: surgery looks at modules only
    before = [type(m) for m in model.modules()]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cf.apply_ghost_batchnorm(model)
        cf.apply_stochastic_depth(model, target_layer_name="ResNetBottleneck")
        cf.apply_gyro_dropout(model, iters_per_epoch=10, max_epoch=1, p=0.5, sigma=4, tau=2)
        cf.apply_low_precision_layernorm(model, precision=None)  # fp32, as trickstack trains
        cf.apply_low_precision_groupnorm(model, precision=None)
    assert [type(m) for m in model.modules()] == before
    assert not any(isinstance(m, (torch.nn.modules.batchnorm._BatchNorm, torch.nn.GroupNorm, torch.nn.Dropout))
                   for m in model.modules())


def test_tricks_list_all_shows_the_catalogue_after_the_tricks(cli):
    code, out, _ = cli("tricks", "list", "--all")
    assert code == 0
    assert out.index("label_smoothing") < out.index("GhostBatchNorm")
    assert all(u.composer_class in out for u in UNUSABLE.values())
    code, plain, _ = cli("tricks", "list")
    assert code == 0 and "GhostBatchNorm" not in plain


def test_tricks_list_all_json_has_reasons(cli):
    import json

    code, out, _ = cli("tricks", "list", "ghost*", "--all", "--json")
    assert code == 0
    listed = json.loads(out)
    assert listed["tricks"] == []
    assert listed["unusable"] == [{"name": "ghost_batchnorm", "composer_class": "GhostBatchNorm",
                                   "reason": UNUSABLE["ghost_batchnorm"].reason}]
