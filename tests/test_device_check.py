"""The device check on a bare GPU machine, rehearsed here: gpu_check's wheels installed with ``--no-deps`` into an
environment that has Python and torch only, and ``gpu_check --device cpu --tiny --data synthetic`` run there
(README: "The device check").

The rehearsal uses this machine's Python (3.11; the device machine's is 3.12) and the torch of the test
environment, whose wheels for that Python `device_wheels` fetches from PyPI.
"""

from __future__ import annotations

import importlib.metadata as md
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
import torch
from packaging.requirements import Requirement

from trickstack.benchmarks import device_wheels
from trickstack.benchmarks.synthetic_data import TIMING_ONLY

ROOT = Path(__file__).resolve().parent.parent
NOT_ON_THE_DEVICE = ("pandas", "scipy", "statsmodels", "optuna", "datasets", "pyarrow", "mnist1d", "sklearn", "matplotlib")


def _torch_and_what_it_brings() -> set[md.Distribution]:
    """The installed distributions of torch and its requirements, recursively (markers evaluated here)."""
    found: dict[str, md.Distribution] = {}
    todo = ["torch"]
    while todo:
        name = todo.pop()
        if name in found:
            continue
        found[name] = dist = md.distribution(name)
        for line in dist.requires or []:
            req = Requirement(line)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(req.name)
    return set(found.values())


def _bare_environment(where: Path) -> Path:
    """A new venv with this environment's torch (and what torch brings) linked in, nothing else: its Python."""
    subprocess.run([sys.executable, "-m", "venv", str(where)], check=True)
    python = where / "bin" / "python"
    site = Path(subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               check=True, capture_output=True, text=True).stdout.strip())
    ours = Path(sysconfig.get_paths()["purelib"])
    tops = {f.parts[0] for dist in _torch_and_what_it_brings() for f in dist.files or [] if f.parts[0] != ".."}
    for top in sorted(tops):
        if (ours / top).exists() and not (site / top).exists():
            (site / top).symlink_to(ours / top)
    return python


@pytest.mark.slow
def test_the_device_check_runs_where_only_python_and_torch_are(tmp_path):
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    try:
        wheels = device_wheels.prepare(tmp_path / "wheels", version, torch.__version__.split("+")[0])
    except subprocess.CalledProcessError as error:
        if os.environ.get("CI") == "true":
            raise
        pytest.skip(f"the device machine's wheels could not be fetched from PyPI (no network here?): {error}")
    names = {w.name.split("-")[0].lower() for w in wheels}
    assert "trickstack" in names and "mosaicml" in names and "torch" not in names
    assert not names & set(NOT_ON_THE_DEVICE)
    python = _bare_environment(tmp_path / "bare")
    check = subprocess.run([python, "-c", "import importlib.util as u, sys; print([m for m in sys.argv[1:] if u.find_spec(m)])",
                            "composer", "trickstack", *NOT_ON_THE_DEVICE], capture_output=True, text=True, check=True,
                           cwd=tmp_path)  # not the checkout, whose trickstack/ would be found
    assert check.stdout.strip() == "[]"  # torch only, before the wheels
    env = {**os.environ, "PYTHON": str(python), "DEVICE_WHEELS": str(tmp_path / "wheels"),
           "TRICKSTACK_CACHE": str(tmp_path / "cache")}
    run = subprocess.run(["bash", str(ROOT / "benchmarks" / "device_check.sh"), "--device", "cpu", "--tiny", "--data",
                          "synthetic"], env=env, capture_output=True, text=True, timeout=1200)
    assert run.returncode == 0, run.stderr[-3000:]
    lines = run.stdout.splitlines()
    assert lines[0].startswith(f"machine: Python {version}") and f"torch {torch.__version__}" in lines[0]
    assert lines[1].startswith("device cpu; torch") and lines[1].endswith("@ wheel")
    assert lines[2] == f"data of cifar10-tiny, mnist1d: {TIMING_ONLY.upper()}"
    assert "cifar10-tiny: two deterministic runs" in lines[3] and lines[3].endswith(": identical")


def test_wheels_past_the_device_limit_are_refused_with_their_sizes(tmp_path, capsys):
    from trickstack.benchmarks.device_wheels import check_size

    wheels = []
    for name, size in (("a-1-py3-none-any.whl", 600_000), ("b-1-py3-none-any.whl", 500_000)):
        (tmp_path / name).write_bytes(b"\0" * size)
        wheels.append(tmp_path / name)
    assert abs(check_size(wheels, "here", limit_mib=2) - 1_100_000 / 2**20) < 1e-9  # under: the total
    with pytest.raises(SystemExit) as refused:
        check_size(wheels, "here", limit_mib=1)
    assert refused.value.code == 1
    captured = capsys.readouterr()
    assert "a-1-py3-none-any.whl" in captured.out and "is over the 1 MiB" in captured.err


def test_a_failed_or_oversized_fetch_leaves_the_wheels_folder_as_it_was(tmp_path, monkeypatch, capsys):
    out = tmp_path / "device-wheels"
    out.mkdir()
    (out / "old-1-py3-none-any.whl").write_bytes(b"old")
    monkeypatch.setattr(device_wheels, "compile_names", lambda reqs, overrides, python, work: {"a": "a==1"})
    plan = {"build": "ok", "size": 10}

    def fake_run(args, **kwargs):  # pip download and uv build write into the folder they are given
        folder = Path(args[args.index("--dest" if "download" in args else "--out-dir") + 1])
        if "build" in args and plan["build"] == "fails":
            raise subprocess.CalledProcessError(1, args)
        name = "a-1-py3-none-any.whl" if "download" in args else "trickstack-0-py3-none-any.whl"
        with open(folder / name, "wb") as wheel:
            wheel.truncate(plan["size"])
        return subprocess.CompletedProcess(args, 0)

    monkeypatch.setattr(device_wheels.subprocess, "run", fake_run)
    plan["build"] = "fails"
    with pytest.raises(subprocess.CalledProcessError):
        device_wheels.prepare(out, "3.12", "2.11.0")
    assert sorted(p.name for p in out.iterdir()) == ["old-1-py3-none-any.whl"]  # nothing half-fetched, nothing lost
    plan.update(build="ok", size=40 * 2**20)  # two wheels of 40 MiB: past the 64 MiB a device run takes
    with pytest.raises(SystemExit):
        device_wheels.prepare(out, "3.12", "2.11.0")
    assert sorted(p.name for p in out.iterdir()) == ["old-1-py3-none-any.whl"]
    plan["size"] = 10
    wheels = device_wheels.prepare(out, "3.12", "2.11.0")
    assert [w.name for w in wheels] == ["a-1-py3-none-any.whl", "trickstack-0-py3-none-any.whl"]  # the old one gone
    assert sorted(p.name for p in out.iterdir()) == [w.name for w in wheels]
    assert "2 wheels for CPython 3.12" in capsys.readouterr().out
