import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import trickstack.algorithms
from trickstack.core.errors import RegistryError, UserError
from trickstack.tricks.registry import (
    CHANGES,
    Citation,
    TrickInfo,
    check_compatible,
    get_trick,
    list_tricks,
    register,
)


def test_every_algorithm_folder_is_registered_and_every_builtin_has_a_folder():
    root = Path(trickstack.algorithms.__file__).parent
    folders = {p.name for p in root.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert folders == set(trickstack.algorithms.BUILTIN)
    assert set(list_tricks()) >= folders
    for name in folders:
        assert (root / name / "README.md").exists(), f"{name} has no README.md"


def test_at_least_eight_tricks_act_on_mnist1d():
    acting = [n for n in list_tricks() if "mnist1d" not in get_trick(n).noop_on
              and check_compatible([n], ("classification", "signal1d", "conv"), "mnist1d") is None]
    assert len(acting) >= 8, acting


def test_metadata_is_frozen_and_complete():
    for name in list_tricks():
        info = get_trick(name)
        assert info.name == name
        assert 1980 < info.year <= 2026
        assert info.summary and info.citation.title and info.citation.url.startswith("http")
        assert set(info.changes) <= set(CHANGES) and info.changes
        for other in info.conflicts:
            get_trick(other)  # conflicts name real tricks
        with pytest.raises(AttributeError):
            info.year = 1900  # type: ignore[misc]


def test_list_tricks_globs():
    assert list_tricks("label*") == ["label_smoothing"]
    assert list_tricks("no-such-*") == []
    assert list_tricks() == sorted(list_tricks())


def test_unknown_trick_suggests_close_matches():
    with pytest.raises(RegistryError, match=r"unknown trick 'label_smothing' \(did you mean: label_smoothing[,?]"):
        get_trick("label_smothing")


def test_duplicate_name_is_an_error():
    info = get_trick("label_smoothing")
    with pytest.raises(RegistryError, match="registered twice"):
        register(info)


def test_changes_outside_the_vocabulary_are_rejected():
    with pytest.raises(RegistryError, match="changes"):
        TrickInfo(name="x", year=2020, summary="s", citation=Citation("t", "https://x"), domains=(),
                  changes=("weather",), factory=lambda: None)


def test_parameters_resolve_with_defaults_and_ranges():
    info = get_trick("label_smoothing")
    assert info.resolve() == {"smoothing": 0.1}
    assert info.resolve({"smoothing": 0.2}) == {"smoothing": 0.2}
    with pytest.raises(UserError, match=r"label_smoothing.smoothing = 0.9 is outside its allowed range"):
        info.resolve({"smoothing": 0.9})
    with pytest.raises(UserError, match="has no parameter 'smooth'.*did you mean: smoothing"):
        info.resolve({"smooth": 0.2})


def test_requirements_and_conflicts_are_enforced():
    assert "requires classification" in check_compatible(["label_smoothing"], ("regression",), "toy")
    assert "listed twice" in check_compatible(["label_smoothing", "label_smoothing"], ("classification",), "toy")
    from trickstack.workloads import get_workload, list_workloads

    pairs = [(a, b) for a in list_tricks() for b in get_trick(a).conflicts]
    everything = tuple({c for w in list_workloads() for c in get_workload(w).provides})  # so only the conflict can refuse
    for a, b in pairs:
        message = check_compatible([b, a], everything, "any")
        assert message and "conflict" in message and a in message and b in message


def test_third_party_tricks_register_through_entry_points(tmp_path):
    """A package declaring the entry-point group `trickstack.tricks` adds its trick on first lookup."""
    pkg = tmp_path / "my_trick.py"
    pkg.write_text(textwrap.dedent('''
        from trickstack.tricks.registry import Citation, TrickInfo
        from composer.algorithms import LabelSmoothing
        TRICK = TrickInfo(name="my_smoothing", year=2024, summary="a plugin", citation=Citation("t", "https://example.org"),
                          domains=("vision",), changes=("targets",), factory=lambda: LabelSmoothing(0.1))
    '''))
    dist = tmp_path / "my_trick-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: my-trick\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[trickstack.tricks]\nmy_smoothing = my_trick:TRICK\n")
    code = "from trickstack.tricks.registry import get_trick; print(get_trick('my_smoothing').summary)"
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True,
                            env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "a plugin"


def test_readme_tricks_table_is_generated_from_the_registry():
    from trickstack.cli.docs import render

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    assert readme == render(readme), "README.md is stale: run `python -m trickstack.cli.docs`"


def test_docstring_examples_of_the_tricks_run():
    """`algorithms/` is outside pytest's doctest collection (it imports as trickstack.algorithms)."""
    import doctest
    import importlib
    import pkgutil

    failures = 0
    for module in pkgutil.walk_packages(trickstack.algorithms.__path__, "trickstack.algorithms."):
        failures += doctest.testmod(importlib.import_module(module.name)).failed
    assert failures == 0
