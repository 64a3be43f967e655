"""Third-party tricks loaded through fake entry points: a broken plugin is named and skipped, never
takes the other tricks down, never leaves a half-loaded registry; every trick knows its distribution."""

import json
import re
import types
from importlib.metadata import version

import pytest
from composer.algorithms import LabelSmoothing
from plugin_fixtures import FakeDist, FakeEntryPoint

from trickstack.core.errors import RegistryError, UserError
from trickstack.core.params import Param
from trickstack.tricks.registry import Citation, TrickInfo, get_trick, list_tricks, plugin_failures, register


def trick(name: str, **kw) -> TrickInfo:
    return TrickInfo(name=name, year=2024, summary="a plugin", citation=Citation("t", "https://example.org"),
                     domains=("vision",), changes=("targets",), factory=lambda: LabelSmoothing(0.1), **kw)


def broken_import():
    raise ModuleNotFoundError("No module named 'acme_missing_dependency'")


def test_a_broken_plugin_is_skipped_by_name_and_the_others_load(plugins):
    plugins(FakeEntryPoint("acme_broken", "acme.broken", broken_import),
            FakeEntryPoint("acme_good", "acme.good:TRICK", lambda: trick("acme_good")))
    with pytest.warns(UserWarning, match=r"plugin 'acme_broken' \(acme.broken\) of acme-tricks 1.2.3 failed to load: "
                                         r"ModuleNotFoundError: No module named 'acme_missing_dependency'"):
        names = list_tricks()
    assert "acme_good" in names and "label_smoothing" in names and "acme_broken" not in names
    assert [(f.entry_point, str(f.distribution)) for f in plugin_failures()] == [("acme_broken", "acme-tricks 1.2.3")]
    get_trick("label_smoothing")  # what `run --tricks label_smoothing` looks up
    with pytest.raises(UserError, match=r"trick 'acme_broken' is not available: plugin 'acme_broken' .*acme-tricks 1.2.3"
                                        r".*No module named 'acme_missing_dependency'"):
        get_trick("acme_broken")
    with pytest.raises(RegistryError, match=r"unknown trick 'acme_other'.*plugins that failed to load: acme_broken"):
        get_trick("acme_other")


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_the_registry_is_never_left_half_loaded(plugins):
    """A long-lived process asking twice gets the healthy plugin that comes after the broken one."""
    plugins(FakeEntryPoint("acme_broken", "acme.broken", broken_import),
            FakeEntryPoint("acme_good", "acme.good:TRICK", lambda: trick("acme_good")))
    for _ in range(2):
        try:
            list_tricks()
        except ImportError:
            pass  # (how it failed before: the whole registry raised)
    assert "acme_good" in list_tricks()


def test_a_plugin_loads_all_or_nothing(plugins):
    def half_a_module():
        register(trick("acme_first"))  # registered, then the module's import fails further down
        raise RuntimeError("boom")

    plugins(FakeEntryPoint("acme_module", "acme.module", half_a_module))
    with pytest.warns(UserWarning, match=r"plugin 'acme_module' .* RuntimeError: boom \(at .*test_plugins.py:\d+\)"):
        assert "acme_first" not in list_tricks()


def test_a_clash_names_both_distributions_with_versions_and_the_name_is_refused(plugins):
    plugins(FakeEntryPoint("label_smoothing", "evil:TRICK", lambda: trick("label_smoothing"), FakeDist("evil", "6.6")))
    ours = f"trickstack {version('trickstack')} (trickstack.algorithms.label_smoothing)"
    clash = re.escape(f"trick 'label_smoothing' is registered twice: by {ours} and by evil 6.6 (?)")
    with pytest.warns(UserWarning, match=clash):
        assert "label_smoothing" not in list_tricks() and "ema" in list_tricks()  # so `tricks list` still works
    with pytest.raises(RegistryError, match=clash + "; uninstall one of them"):
        get_trick("label_smoothing")  # never one of the two silently


def test_a_bad_parameter_default_names_the_trick_the_module_and_the_distribution(plugins):
    def bad_default():
        return trick("acme_smooth", params=(Param("smoothing", 0.9, low=0.0, high=0.5),), source="acme.smooth")

    plugins(FakeEntryPoint("acme_smooth", "acme.smooth:TRICK", bad_default))
    with pytest.warns(UserWarning, match=r"plugin 'acme_smooth' \(acme.smooth:TRICK\) of acme-tricks 1.2.3 failed to load: "
                                         r"trick 'acme_smooth' \(in acme.smooth\): the default of parameter 'smoothing' is "
                                         r"invalid: acme_smooth.smoothing = 0.9 is outside its allowed range \[0.0, 0.5\]"):
        list_tricks()


def test_a_value_that_is_neither_module_nor_trick_info_is_refused(plugins):
    plugins(FakeEntryPoint("acme_factory", "acme:make", lambda: (lambda: None)))
    with pytest.warns(UserWarning, match=r"'acme_factory' .*its value is a function, not a module calling register_trick"):
        list_tricks()


def test_every_trick_knows_its_distribution(plugins):
    module = types.ModuleType("acme_tricks")
    module.register = lambda: register(trick("acme_registered"))

    def load_module():
        module.register()  # what `@register_trick` does when the module is imported
        return module

    plugins(FakeEntryPoint("acme_object", "acme:TRICK", lambda: trick("acme_object")),
            FakeEntryPoint("acme_module", "acme_tricks", load_module, FakeDist("acme-more", "0.1")))
    assert str(get_trick("acme_object").distribution) == "acme-tricks 1.2.3"
    assert str(get_trick("acme_registered").distribution) == "acme-more 0.1"
    assert str(get_trick("ema").distribution) == f"trickstack {version('trickstack')}"


def test_a_built_in_imported_before_the_registry_loaded_is_still_trickstacks(plugins):
    plugins()
    list_tricks()
    info = register(trick("early", source="trickstack.algorithms.early"))  # as `import trickstack.algorithms.x` does
    assert str(info.distribution) == f"trickstack {version('trickstack')}"
    assert register(trick("elsewhere", source="my_script")).distribution is None  # not from any package we know


def test_cli_names_a_broken_plugin_and_keeps_working(plugins, cli):
    plugins(FakeEntryPoint("acme_broken", "acme.broken", broken_import))
    with pytest.warns(UserWarning):
        code, out, err = cli("tricks", "show", "acme_broken")
    assert code == 2 and "acme-tricks 1.2.3" in err and "acme_missing_dependency" in err and "Traceback" not in err
    code, out, err = cli("tricks", "show", "label_smoothing")
    assert code == 0 and "distribution: trickstack" in out
    code, out, err = cli("tricks", "list", "--json")
    assert code == 0 and {"name": "trickstack", "version": version("trickstack")} in [t["distribution"] for t in json.loads(out)]
