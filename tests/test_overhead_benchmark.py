"""`python -m trickstack.benchmarks.overhead` on a machine without a workload's data: a default workload is
skipped with the reason printed (before any timing), a named one is an error, not a traceback."""

from __future__ import annotations

import sys

import pytest

from trickstack.benchmarks import overhead
from trickstack.core.errors import UserError


class NoData:
    cpu_variant = None
    batch_size = 8

    @property
    def splits(self):
        raise UserError("nodata: cannot load the data from nowhere; set NODATA=DIR")


@pytest.fixture
def only_nodata(monkeypatch):
    monkeypatch.setattr(overhead, "list_workloads", lambda: ["nodata"])
    monkeypatch.setattr(overhead, "get_workload", lambda name: NoData())
    monkeypatch.setattr(overhead, "measure", lambda *a: pytest.fail("timed a workload without data"))
    monkeypatch.setattr(overhead.reproducibility, "configure_deterministic_mode", lambda: None)
    monkeypatch.setattr(overhead, "apply_patches", lambda: [])



def test_a_default_workload_without_its_data_is_skipped_saying_why(only_nodata, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["overhead"])
    overhead.main()
    assert "nodata: skipped: nodata: cannot load the data from nowhere; set NODATA=DIR" in capsys.readouterr().out


def test_a_named_workload_without_its_data_is_an_error(only_nodata, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["overhead", "--workloads", "nodata"])
    with pytest.raises(SystemExit, match="error: nodata: cannot load the data from nowhere"):
        overhead.main()
