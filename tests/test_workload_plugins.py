"""Workloads from outside the package: entry points (``trickstack.workloads``) and ``package.module:factory``."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from trickstack import workloads
from trickstack.core.errors import UserError
from trickstack.workloads import Workload, get_workload, list_workloads, plugin_errors

TESTS = Path(__file__).resolve().parent


def test_a_factory_reference_makes_and_registers_its_workload():
    wl = get_workload("workload_factories:digits_copy")
    assert isinstance(wl, Workload) and wl.name == "digits_copy"
    assert get_workload("workload_factories:digits_copy") is wl  # made once per process
    assert get_workload("digits_copy") is wl and "digits_copy" in list_workloads()


@pytest.mark.parametrize("ref, message", [
    ("no_such_module_xyz:make", r"workload no_such_module_xyz:make: cannot import module 'no_such_module_xyz'"),
    ("workload_import_raises:make", r"workload workload_import_raises:make: cannot import module 'workload_import_raises' "
                                    r"\(ValueError: a plugin module that fails on import\)"),
    ("workload_factories:missing", r"module 'workload_factories' has no 'missing'"),
    ("workload_factories:NOT_CALLABLE", r"'NOT_CALLABLE' is not callable"),
    ("workload_factories:raises", r"workload factory workload_factories:raises raised RuntimeError: no data here"),
    ("workload_factories:not_a_workload", r"returned dict, not a trickstack Workload"),
    ("workload_factories:named_like_a_builtin", r"is named 'mnist1d', the name of a built-in workload"),
    ("workload_factories:named_like_shakespeare", r"is named 'shakespeare-char', the name of a built-in workload"),
    ("bad ref:", r"expected a workload name or package.module:factory"),
])
def test_a_bad_factory_reference_is_one_message_naming_it(ref, message):
    before = list_workloads()
    with pytest.raises(UserError, match=message):
        get_workload(ref)
    assert list_workloads() == before  # nothing half-registered


def test_a_broken_plugin_is_reported_by_name_and_skipped_whole(monkeypatch):
    """A plugin module that registers two workloads and then fails leaves neither behind."""
    import dataclasses

    digits = get_workload("digits")
    before = list_workloads()
    monkeypatch.setattr(workloads, "_REGISTRY", dict(workloads._REGISTRY))  # what this test loads is undone after it
    monkeypatch.setattr(workloads, "_PLUGIN_ERRORS", {})

    def half_then_fail():
        workloads.register_workload(dataclasses.replace(digits, name="half_a"))
        workloads.register_workload(dataclasses.replace(digits, name="half_b"))
        raise ImportError("missing dependency")

    with pytest.warns(UserWarning, match=r"workload plugin 'halfway' \(halfway_pkg\) skipped: ImportError: missing"):
        workloads._load_plugin("halfway", "halfway_pkg", half_then_fail)
    with pytest.warns(UserWarning, match=r"plugin 'clash' .* 'mnist1d' is registered twice \(a built-in"):
        workloads._load_plugin("clash", "clash_pkg:W", lambda: dataclasses.replace(digits, name="mnist1d"))
    with pytest.warns(UserWarning, match=r"plugin 'empty' .* neither a Workload, a factory of one, nor a module"):
        workloads._load_plugin("empty", "empty_pkg", lambda: textwrap)  # a module that registers nothing
    with pytest.warns(UserWarning, match=r"'shakespeare-char' is registered twice \(a built-in"):
        workloads._load_plugin("clash2", "clash_pkg:W", lambda: dataclasses.replace(digits, name="shakespeare-char"))
    assert list_workloads() == before
    assert {"halfway", "clash", "empty", "clash2"} <= set(plugin_errors())
    with pytest.raises(UserError, match=r"workload 'halfway' is not available: its plugin failed to load: "
                                        r"ImportError: missing dependency"):
        get_workload("halfway")  # not "unknown workload": the tricks registry gives the reason too
    with pytest.raises(UserError, match=r"unknown workload 'halfwya'.*; plugins that failed to load: halfway"):
        get_workload("halfwya")
    workloads._load_plugin("good", "good_pkg:make", lambda: dataclasses.replace(digits, name="from_plugin"))
    assert get_workload("from_plugin").batch_size == digits.batch_size


def test_installed_plugins_are_found_through_the_entry_point_group(tmp_path):
    """A distribution declaring ``trickstack.workloads`` adds its workload; a broken one is named and skipped."""
    (tmp_path / "my_workload.py").write_text(textwrap.dedent('''
        import dataclasses
        from trickstack.workloads import get_workload
        def make():
            return dataclasses.replace(get_workload("digits"), name="my_digits")
        def broken():
            raise RuntimeError("cannot load")
    '''))
    dist = tmp_path / "my_workload-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: my-workload\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[trickstack.workloads]\nmine = my_workload:make\nbad = my_workload:broken\n")
    code = "from trickstack.workloads import list_workloads; print(','.join(list_workloads()))"
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120,
                            env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr
    assert {"digits", "mnist1d", "my_digits", "shakespeare-char"} <= set(result.stdout.strip().split(","))
    assert "workload plugin 'bad' (my_workload:broken) skipped: workload factory my_workload:broken " \
           "raised RuntimeError: cannot load" in result.stderr


def test_a_reference_to_a_factory_also_installed_as_a_plugin_gives_the_plugin(monkeypatch):
    """The same factory by entry point and by reference is one workload; another one of that name is refused."""
    import dataclasses

    monkeypatch.setattr(workloads, "_FROM_REFS", {})
    made = get_workload("workload_factories:digits_copy")
    monkeypatch.setattr(workloads, "_FROM_REFS", {})  # as in a process where the entry point registered it first
    assert get_workload("workload_factories:digits_copy") is made
    monkeypatch.setitem(workloads._REGISTRY, "digits_copy", dataclasses.replace(made, batch_size=7))
    monkeypatch.setattr(workloads, "_FROM_REFS", {})
    with pytest.raises(UserError, match=r"is named 'digits_copy', which another workload \(a plugin\) already has"):
        get_workload("workload_factories:digits_copy")


def test_the_cli_refuses_a_bad_workload_reference_with_exit_2(cli):
    code, _, err = cli("run", "--workload", "workload_factories:not_a_workload", "--device", "cpu")
    assert code == 2 and "returned dict, not a trickstack Workload" in " ".join(err.split()) and "Traceback" not in err


def test_a_study_spec_may_name_a_factory(tmp_path):
    from trickstack.ablations.spec import StudySpec

    spec = StudySpec.from_toml_text(textwrap.dedent('''
        [study]
        name = "factory"
        workload = "workload_factories:digits_copy"
        budget = { flops = 1e9 }
        seeds = 2
        design = "one-at-a-time"
        tricks = ["label_smoothing"]
    '''), source=str(tmp_path / "factory.toml"))
    assert get_workload(spec.study.workload).name == "digits_copy"
    with pytest.raises(UserError, match=r"factory.toml: workload factory workload_factories:raises raised RuntimeError"):
        StudySpec.from_toml_text(textwrap.dedent('''
            [study]
            name = "factory"
            workload = "workload_factories:raises"
            budget = { flops = 1e9 }
            seeds = 2
            design = "one-at-a-time"
            tricks = ["label_smoothing"]
        '''), source=str(tmp_path / "factory.toml"))


def test_recipe_derive_keeps_the_factory_reference_for_its_workers(tmp_path, monkeypatch):
    """Workers in other processes make the workload again from the study's spec: it must hold the reference."""
    from trickstack.derive import derive as derive_module
    from trickstack.derive.derive import DeriveOptions, derive

    seen = {}

    class Stop(Exception):
        pass

    def capture(spec, storage, workers, progress, device, deterministic, **options):
        seen.update(workload=spec.study.workload, device=device, deterministic=deterministic)
        raise Stop

    monkeypatch.setattr(derive_module, "prepare", lambda *args: None)
    monkeypatch.setattr(derive_module, "ablate", lambda *a, **k: capture(*a, **k))
    with pytest.raises(Stop):
        derive("workload_factories:digits_copy", 2016, DeriveOptions(device="cpu", deterministic=False),
               recipes=tmp_path)
    assert seen == {"workload": "workload_factories:digits_copy", "device": "cpu", "deterministic": False}
