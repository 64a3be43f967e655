import optuna
import pytest

from trickstack.core.errors import UserError
from trickstack.core.params import Param
from trickstack.workloads import time_string


def test_parse_and_validate_each_kind():
    assert Param("x", 0.5, low=0, high=1).parse("0.25", "t") == 0.25
    assert Param("n", 3, low=1, high=10).parse("4", "t") == 4
    assert Param("flag", False).parse("true", "t") is True
    assert Param("mode", "a", choices=("a", "b")).parse("b", "t") == "b"
    assert Param("hl", "50ba", check=time_string).parse("10ba", "ema") == "10ba"


@pytest.mark.parametrize("param,text,message", [
    (Param("x", 0.5, low=0, high=1), "abc", "t.x: cannot read 'abc' as a float"),
    (Param("x", 0.5, low=0, high=1), "2", r"t.x = 2.0 is outside its allowed range \[0, 1\]"),
    (Param("n", 3, low=1, high=10), "2.5", "t.n: cannot read '2.5' as a int"),
    (Param("flag", False), "maybe", "t.flag: cannot read 'maybe' as a bool"),
    (Param("mode", "a", choices=("a", "b")), "c", r"t.mode = 'c' is not one of \['a', 'b'\]"),
    (Param("hl", "50ba", check=time_string), "fifty", "t.hl = 'fifty' is invalid"),
])
def test_bad_values_name_the_parameter(param, text, message):
    with pytest.raises(UserError, match=message):
        param.parse(text, "t")


def test_a_bad_default_is_caught_where_its_owner_is_defined_and_names_it():
    """A trick's bad default is named with the trick and its module (the plugin case: tests/test_plugins.py)."""
    from composer.algorithms import LabelSmoothing

    from trickstack.tricks.registry import Citation, TrickInfo

    with pytest.raises(UserError, match=r"trick 'smooth' \(in my_plugin\): the default of parameter 'x' is invalid: "
                                        r"smooth.x = 2.0 is outside its allowed range \[0, 1\]"):
        TrickInfo(name="smooth", year=2024, summary="s", citation=Citation("t", "https://x"), domains=(),
                  changes=("targets",), factory=lambda: LabelSmoothing(0.1), params=(Param("x", 2.0, low=0, high=1),),
                  source="my_plugin")
    with pytest.raises(ValueError, match="needs low and high"):
        Param("x", 0.5)


def test_search_space_draws_from_optuna_inside_the_range():
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    params = [Param("lr", 1e-3, low=1e-5, high=1e-1, log=True), Param("k", 5, low=2, high=10),
              Param("mode", "a", choices=("a", "b")), Param("flag", True), Param("hl", "50ba", check=time_string)]
    for _ in range(20):
        trial = study.ask()
        values = {p.name: p.suggest(trial, "trick") for p in params}
        assert 1e-5 <= values["lr"] <= 1e-1 and 2 <= values["k"] <= 10
        assert values["mode"] in ("a", "b") and values["flag"] in (True, False) and values["hl"] == "50ba"
        assert set(trial.params) == {"trick.lr", "trick.k", "trick.mode", "trick.flag"}


def test_describe_shows_the_space_the_search_draws_from():
    assert Param("smoothing", 0.1, low=0.0, high=0.5).describe() == "smoothing=0.1 [0.0, 0.5]"
    assert Param("nesterov", False).describe() == "nesterov=False {True, False}"  # searched, not fixed
    assert Param("mode", "a", choices=("a", "b")).describe() == "mode='a' {a, b}"
    assert Param("interval", "1ep").describe() == "interval='1ep' fixed"


def test_a_bad_nuisance_default_names_the_workload():
    import dataclasses

    from trickstack.workloads import get_workload

    with pytest.raises(UserError, match=r"mnist1d.lr = 5.0 is outside its allowed range"):
        dataclasses.replace(get_workload("mnist1d"), nuisance=(Param("lr", 5.0, low=0.0, high=1.0),))
