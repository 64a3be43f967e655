"""trickstack works from an installed wheel, not only from a checkout."""

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    """A copy of the checkout with a generated recipe in recipes/ (trickstack ships only recipes it derived)."""
    from trickstack.recipes.recipe import Recipe, write_recipe

    copy = tmp_path_factory.mktemp("source") / "trickstack"
    shutil.copytree(ROOT, copy, ignore=shutil.ignore_patterns(".git", ".venv", "*.egg-info", "build", "dist", "runs",
                                                              "__pycache__", ".pytest_cache", "*.db", "*.journal"))
    recipe = {"recipe": {"workload": "mnist1d", "year": 2016, "summary": "packaging test"},
              "tricks": {"label_smoothing": {"reason": "packaging test", "params": {"smoothing": 0.05}}}}
    write_recipe(Recipe.model_validate(recipe), copy / "recipes" / "mnist1d" / "2016.toml")
    (copy / "recipes" / "mnist1d" / "2016.runs.jsonl").write_text("")
    return copy


@pytest.fixture(scope="module")
def wheel(tmp_path_factory, source) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(out), str(source)],
                   check=True, capture_output=True)
    (path,) = out.glob("trickstack-*.whl")
    return path


def test_wheel_holds_the_mapped_folders_and_data_files(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "trickstack/algorithms/__init__.py" in names
    assert "trickstack/algorithms/label_smoothing/__init__.py" in names
    assert "trickstack/algorithms/label_smoothing/README.md" in names
    assert {"trickstack/core/schemas/run_record.v1.json", "trickstack/core/schemas/run_record.v2.json"} <= names
    assert "trickstack/benchmarks/overhead.py" in names
    assert {"trickstack/recipes/README.md", "trickstack/recipes/mnist1d/2016.toml",
            "trickstack/recipes/mnist1d/2016.runs.jsonl"} <= names
    assert not any(n.startswith(("tests/", "algorithms/")) for n in names)


def test_installed_wheel_imports_and_lists_tricks(wheel, tmp_path):
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target), str(wheel)],
                   check=True, capture_output=True)
    code = ("import trickstack.algorithms, trickstack.core.records as r; from trickstack.tricks.registry import list_tricks;"
            "from trickstack.recipes.recipe import open_recipe, resolve;"
            "print(trickstack.algorithms.__file__); print(r.SCHEMA_PATH.exists()); print(len(list_tricks()));"
            "print(resolve(open_recipe('mnist1d/2016')).overrides()['label_smoothing.smoothing'])")
    # run from an empty folder so the checkout cannot be imported by accident
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True,
                            env={"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    file, schema, count, smoothing = result.stdout.split()
    assert file.startswith(str(target)) and schema == "True" and int(count) >= 8
    assert smoothing == "0.05"  # the shipped recipe, found and resolved from the installed wheel
