"""trickstack works from an installed wheel, not only from a checkout."""

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(out), str(ROOT)],
                   check=True, capture_output=True)
    (path,) = out.glob("trickstack-*.whl")
    return path


def test_wheel_holds_the_mapped_folders_and_data_files(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "trickstack/algorithms/__init__.py" in names
    assert "trickstack/algorithms/label_smoothing/__init__.py" in names
    assert "trickstack/algorithms/label_smoothing/README.md" in names
    assert "trickstack/schemas/run_record.v1.json" in names
    assert "trickstack/benchmarks/overhead.py" in names
    assert not any(n.startswith(("tests/", "algorithms/")) for n in names)


def test_installed_wheel_imports_and_lists_tricks(wheel, tmp_path):
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target), str(wheel)],
                   check=True, capture_output=True)
    code = ("import trickstack.algorithms, trickstack.records as r; from trickstack.registry import list_tricks;"
            "print(trickstack.algorithms.__file__); print(r.SCHEMA_PATH.exists()); print(len(list_tricks()))")
    # run from an empty folder so the checkout cannot be imported by accident
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True,
                            env={"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    file, schema, count = result.stdout.split()
    assert file.startswith(str(target)) and schema == "True" and int(count) >= 8
