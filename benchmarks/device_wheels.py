"""The wheels a bare GPU machine lacks for ``gpu_check``: everything it imports but torch, in one folder under 64 MiB.

Such a machine has Python and torch (3.12 and 2.11 with CUDA 13 on the one this project is lent), no Composer
and no network, and takes at most 64 MiB of files along with the working tree. This resolves what
``python -m trickstack.benchmarks.gpu_check`` imports (`GPU_CHECK_NEEDS`, at the versions pyproject.toml
asks for), for that Python and platform and over that torch (Composer's pins on torch and torchvision replaced
by uv's overrides with that torch and its torchvision), leaves out torch and everything torch's own wheel brings, downloads the
rest as wheels with pip, builds trickstack's own wheel with uv, and checks the total size.
`benchmarks/device_check.sh` installs them there (``pip install --no-deps --no-index``) and runs the check.

    python benchmarks/device_wheels.py [--out device-wheels] [--python-version 3.12] [--torch 2.11.0]

uv resolves, because pip cannot lift another package's upper bound on torch (a constraint only narrows);
pip downloads, because uv has no command that fetches wheels for another platform.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import tomllib
from packaging.requirements import Requirement

from trickstack.core.outputs import staged_folder

ROOT = Path(__file__).resolve().parent.parent
LIMIT_MIB = 64  # what the device tool carries, working tree included (about 4 MiB of it)
PLATFORM = "manylinux_2_28_x86_64"  # the device machine's (x86-64 Linux, glibc >= 2.28)
# pip download takes platform tags as given, with no older manylinux implied: every glibc from 2.28 down
PIP_PLATFORMS = [f"manylinux_2_{minor}_x86_64" for minor in range(28, 4, -1)] + ["manylinux2014_x86_64",
                                                                                  "manylinux2010_x86_64", "manylinux1_x86_64"]

# trickstack's runtime dependencies that gpu_check's import and training path uses; the others (pandas, scipy,
# statsmodels, optuna, datasets, mnist1d, ...) it does not import (tests/test_device_check.py runs it without them).
GPU_CHECK_NEEDS = ("mosaicml", "pydantic", "rich", "py-cpuinfo")


def torchvision_for(torch_version: str) -> str:
    """The torchvision release series built for ``torch_version``: torch 2.N pairs with torchvision 0.(N+15).

    >>> torchvision_for("2.11.0"), torchvision_for("2.7.0+cu126")
    ('0.26.*', '0.22.*')
    """
    major, minor = (int(part) for part in re.match(r"(\d+)\.(\d+)", torch_version).groups())
    if major != 2:
        raise SystemExit(f"device_wheels: no torchvision rule for torch {torch_version}")
    return f"0.{minor + 15}.*"


def requirements() -> list[str]:
    """The `GPU_CHECK_NEEDS` as pyproject.toml asks for them."""
    declared = {Requirement(r).name: r for r in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]}
    return [declared[name] for name in GPU_CHECK_NEEDS]


def compile_names(reqs: list[str], overrides: list[str], python: str, work: Path) -> dict[str, str]:
    """``{name: pinned requirement}`` of what ``reqs`` resolve to for ``python`` on `PLATFORM` (uv pip compile)."""
    (work / "in.txt").write_text("\n".join(reqs) + "\n")
    (work / "overrides.txt").write_text("\n".join(overrides) + "\n")
    out = subprocess.run([sys.executable, "-m", "uv", "pip", "compile", "--quiet", "--no-header", "--no-annotate",
                          "--python-version", python, "--python-platform", "x86_64-manylinux_2_28",
                          "--overrides", str(work / "overrides.txt"), str(work / "in.txt")],
                         check=True, capture_output=True, text=True).stdout
    pins = [line.strip() for line in out.splitlines() if line.strip() and not line.startswith("#")]
    return {Requirement(pin).name: pin for pin in pins}


def prepare(out: Path, python: str, torch: str) -> list[Path]:
    """Fetch and build the wheels in a staging folder, check their size there, then put them in ``out`` in place of
    its old wheels; return them. A run that fails (a download, the build) or exits 1 past `LIMIT_MIB` leaves
    ``out`` as it was: a device run never takes a half-fetched folder."""
    pair = [f"torch=={torch}", f"torchvision=={torchvision_for(torch)}"]
    with staged_folder(out) as stage, tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        everything = compile_names(requirements() + pair, pair, python, work)  # the pins replace Composer's on both
        torch_brings = compile_names([f"torch=={torch}"], [], python, work)
        wanted = [pin for name, pin in everything.items() if name not in torch_brings]
        (work / "wanted.txt").write_text("\n".join(wanted) + "\n")
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
                        "--python-version", python, "--implementation", "cp",
                        *(arg for tag in PIP_PLATFORMS for arg in ("--platform", tag)),
                        "--dest", str(stage), "-r", str(work / "wanted.txt")], check=True)
        subprocess.run([sys.executable, "-m", "uv", "build", "--quiet", "--wheel", "--out-dir", str(stage), str(ROOT)],
                       check=True)
        fetched = {wheel.name for wheel in stage.glob("*.whl")}
        check_size(sorted(stage.glob("*.whl")), f"for CPython {python} on {PLATFORM} over torch {torch}")
    for old in out.glob("*.whl"):  # wheels of an earlier run that this one did not fetch
        if old.name not in fetched:
            old.unlink()
    return sorted(out.glob("*.whl"))


def check_size(wheels: list[Path], what: str, limit_mib: float = LIMIT_MIB) -> float:
    """Print each wheel's size and the total (MiB); exit 1 past ``limit_mib``."""
    total = sum(w.stat().st_size for w in wheels) / 2**20
    for w in wheels:
        print(f"{w.stat().st_size / 2**20:7.2f} MiB  {w.name}")
    print(f"{total:7.2f} MiB  in all, {len(wheels)} wheels {what}")
    if total > limit_mib:
        print(f"device_wheels: {total:.1f} MiB is over the {limit_mib:g} MiB a device machine takes", file=sys.stderr)
        raise SystemExit(1)
    return total


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "device-wheels", help="folder of the wheels (default: %(default)s)")
    parser.add_argument("--python-version", default="3.12", help="the device machine's Python (default: %(default)s)")
    parser.add_argument("--torch", default="2.11.0", help="the device machine's torch (default: %(default)s)")
    args = parser.parse_args(argv)
    prepare(args.out, args.python_version, args.torch)


if __name__ == "__main__":
    main()
