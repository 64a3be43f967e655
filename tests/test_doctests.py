"""The docstring examples of the top-level folders run too.

``pytest --doctest-modules`` collects ``trickstack/`` (see ``testpaths``), but the folders that import as
``trickstack.<name>`` only through the install's mapping (``algorithms/``, ``ablations/``, ``benchmarks/``,
``recipes/``) would be imported a second time under another name if collected by path. So their modules
are imported by their package names here and their examples run with `doctest`.
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

MAPPED = ("trickstack.algorithms", "trickstack.ablations", "trickstack.benchmarks", "trickstack.recipes")


def _modules() -> list[str]:
    names = []
    for package in MAPPED:
        names.append(package)
        path = importlib.import_module(package).__path__
        names += [m.name for m in pkgutil.walk_packages(path, package + ".") if not m.name.endswith("__main__")]
    return names


MODULES = _modules()


def test_every_mapped_folder_is_searched():
    assert {"trickstack.ablations.spec", "trickstack.ablations.state", "trickstack.algorithms.ema"} <= set(MODULES)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, report=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples of {name} failed (run it with -s to see)"
