"""A real small disk for tests of full and read-only file systems: a tmpfs mounted in the test's folder.

Mounting needs root. Outside CI a test without it is skipped, saying so; under ``CI=true`` (CI runs as
root on this machine kind) it fails instead.
"""

from __future__ import annotations

import errno
import os
import subprocess
from pathlib import Path

import pytest


class Disk:
    """A tmpfs of its own at ``path``: `fill` leaves no free block, `free` gives them back, `read_only` and
    `writable` remount it."""

    def __init__(self, path: Path):
        self.path = path
        self.filler = path / "filler"

    def fill(self) -> None:
        block = b"\0" * 4096
        with open(self.filler, "ab", buffering=0) as file:
            try:
                while True:
                    file.write(block)
            except OSError as error:
                assert error.errno == errno.ENOSPC, error
        with pytest.raises(OSError):  # full: not even a new file's first block fits
            (self.path / "probe").write_bytes(block)

    def free(self) -> None:
        self.filler.unlink()
        (self.path / "probe").unlink(missing_ok=True)

    def read_only(self) -> None:
        done = _mount("-o", "remount,ro", str(self.path))
        assert done.returncode == 0, done.stderr

    def writable(self) -> None:
        done = _mount("-o", "remount,rw", str(self.path))
        assert done.returncode == 0, done.stderr


def _mount(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["mount", *args], capture_output=True, text=True)


@pytest.fixture
def disk(tmp_path):
    """A 4 MiB file system at ``tmp_path/disk``, unmounted after the test."""
    path = tmp_path / "disk"
    path.mkdir()
    mounted = _mount("-t", "tmpfs", "-o", "size=4m", "tmpfs", str(path))
    if mounted.returncode:
        why = f"cannot mount a tmpfs to fill ({mounted.stderr.strip() or mounted.returncode}); it needs root"
        if os.environ.get("CI") == "true":
            pytest.fail(why + ", and CI runs as root")
        pytest.skip(why)
    yield Disk(path)
    subprocess.run(["umount", "-l", str(path)], check=True)
