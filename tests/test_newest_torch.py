"""The set-up of CI's second environment over the newest torch (`make test-newest-torch`): its list of tests names
files that exist, and its overrides admit the torch it installs, which Composer's own pin refuses."""

from __future__ import annotations

import importlib.metadata as md
import re
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parent.parent


def _makefile(name: str) -> str:
    return re.search(rf"^{name} := (\S+)$", (ROOT / "Makefile").read_text(), re.M).group(1)


def test_every_listed_test_file_exists():
    listed = [line for line in (ROOT / "tests" / "newest_torch.txt").read_text().splitlines()
              if line and not line.startswith("#")]
    assert listed and all((ROOT / path.split("::")[0]).is_file() for path in listed), listed


def test_the_overrides_lift_composers_pins_to_the_newest_torch():
    overrides = {}
    for line in (ROOT / "overrides-newer-torch.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            req = Requirement(line)
            overrides[req.name] = req
    composer = {r.name: r for r in map(Requirement, md.requires("mosaicml")) if r.marker is None}
    for name, newest in (("torch", _makefile("NEWEST_TORCH")), ("torchvision", _makefile("NEWEST_TORCHVISION"))):
        assert newest not in composer[name].specifier  # Composer's pin refuses it: the override is needed
        assert overrides[name].specifier.contains(newest) and overrides[name].specifier.contains(md.version(name).split("+")[0])
