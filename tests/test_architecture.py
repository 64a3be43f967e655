"""The layers of ARCHITECTURE.md hold: import-linter's contracts in pyproject.toml pass, no import cycle.

The top-level folders (``algorithms/``, ``ablations/``, ``benchmarks/``, ``recipes/``) import as
sub-packages of ``trickstack`` only through the install's folder mapping (setup.py), which import-linter
cannot follow. So the package is laid out as a wheel would hold it, in a temporary folder, and checked
there.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import grimp
import networkx as nx
import pytest

ROOT = Path(__file__).resolve().parents[1]
MAPPED = ("algorithms", "ablations", "benchmarks", "recipes")  # as in setup.py's MAPPED_FOLDERS
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lay_out(tree: Path, into: Path) -> Path:
    """Copy the Python files of checkout ``tree`` into ``into`` as the installed package, and the config."""
    keep = shutil.ignore_patterns("__pycache__", "*.pyc", "*.toml", "*.jsonl", "*.md", "*.json", "results")
    shutil.copytree(tree / "trickstack", into / "trickstack", ignore=keep)
    for folder in MAPPED:
        shutil.copytree(tree / folder, into / "trickstack" / folder, ignore=keep)
    shutil.copy(tree / "pyproject.toml", into / "pyproject.toml")
    return into


def lint_imports(package_root: Path) -> subprocess.CompletedProcess:
    result = subprocess.run([str(LINT_IMPORTS), "--no-cache"], cwd=package_root, capture_output=True, text=True,
                            env={"PYTHONPATH": str(package_root), "PATH": "/usr/bin:/bin"})
    result.stdout = re.sub(r"\x1b\[[0-9;]*m", "", result.stdout)  # its colours
    return result


@pytest.fixture(scope="module")
def laid_out(tmp_path_factory) -> Path:
    return lay_out(ROOT, tmp_path_factory.mktemp("layout"))


def test_the_layers_hold(laid_out):
    result = lint_imports(laid_out)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 1 kept, 0 broken." in result.stdout


def test_an_upward_import_breaks_the_contract(laid_out, tmp_path):
    """The checker can fail: a core module importing the trial layer is caught, naming both."""
    copy = shutil.copytree(laid_out, tmp_path / "copy")
    params = copy / "trickstack" / "core" / "params.py"
    params.write_text(params.read_text() + "\nfrom trickstack.trial import runner  # an upward import\n")
    result = lint_imports(copy)
    assert result.returncode != 0
    assert "trickstack.core is not allowed to import trickstack.trial" in result.stdout
    assert "trickstack.core.params -> trickstack.trial.runner" in result.stdout


def test_no_import_cycle_among_modules(laid_out, monkeypatch):
    monkeypatch.syspath_prepend(str(laid_out))
    graph = grimp.build_graph("trickstack", cache_dir=None)
    edges = nx.DiGraph([(m, n) for m in graph.modules for n in graph.find_modules_directly_imported_by(m)])
    cycles = [c for c in nx.simple_cycles(edges) if len(c) > 1]
    assert not cycles, f"import cycles: {cycles[:5]}"


def test_nothing_imports_the_cli_but_its_own_modules(laid_out, monkeypatch):
    monkeypatch.syspath_prepend(str(laid_out))
    graph = grimp.build_graph("trickstack", cache_dir=None)
    importers = {m for m in graph.find_modules_that_directly_import("trickstack.cli.app")}
    assert importers <= {"trickstack.cli", "trickstack.cli.__main__"}, importers
