"""The report's wall-clock section: per arm the median training seconds of its finished evaluation runs and
the ratio to the baseline's median, with the hardware from the runs' provenance -- all read from the records."""

import io
import json
import statistics

import pandas as pd
import pytest

from trickstack.reports.files import FORMATS, write
from trickstack.reports.model import StudyInfo
from trickstack.reports.sections import report_from_table
from trickstack.stats.table import runs_table

CPU = "Test CPU 9000"


def record(seed: int, tricks: list[str], train_seconds: float, value, threads: int = 4) -> dict:
    return {"seed": seed, "tricks": [{"name": t, "params": {}} for t in tricks], "nuisance": {"lr": 1e-3},
            "metrics": {"eval_metric": "accuracy", "eval_value": value, "train_loss": 0.5},
            "diverged": value is None, "flops": 1e9, "steps": 10, "budget": {"unit": "flops", "value": 1e9},
            "train_seconds": train_seconds, "eval_seconds": 0.25,
            "provenance": {"cpu": CPU, "torch_threads": threads}}


def records() -> dict[str, list[dict]]:
    return {
        "baseline": [record(0, [], 2.0, 0.80), record(1, [], 3.0, 0.81), record(2, [], 10.0, 0.79)],
        # seed 2 diverged early (0.1 s): left out of the median, which is over the finished runs
        "ema": [record(0, ["ema"], 5.0, 0.82), record(1, ["ema"], 7.0, 0.83), record(2, ["ema"], 0.1, None)],
    }


def wall_clock(table: pd.DataFrame):
    return report_from_table(table, StudyInfo("timed", "one-at-a-time", ["ema"])).sections["wall_clock"]


def test_medians_and_ratio_come_from_the_records():
    recs = records()
    section = wall_clock(runs_table(recs, ["ema"]))
    got = section.table.set_index("arm")
    finished = {arm: [r["train_seconds"] for r in rs if not r["diverged"]] for arm, rs in recs.items()}
    base = statistics.median(finished["baseline"])
    for arm, seconds in finished.items():
        assert got.loc[arm, "n"] == len(seconds)
        assert got.loc[arm, "median_train_seconds"] == statistics.median(seconds)
        assert got.loc[arm, "ratio_to_baseline"] == statistics.median(seconds) / base
    assert got.loc["ema", "ratio_to_baseline"] == 2.0  # median(5, 7) / median(2, 3, 10)
    assert section.values["hardware"] == f"{CPU}, 4 torch thread(s)"


def test_mixed_hardware_is_said_and_no_baseline_means_no_ratio():
    recs = records()
    recs["ema"][0] = record(0, ["ema"], 5.0, 0.82, threads=8)
    section = wall_clock(runs_table(recs, ["ema"]))
    assert "different hardware" in " ".join(section.notes) and "8 torch thread(s)" in section.values["hardware"]
    only_ema = wall_clock(runs_table({"ema": recs["ema"]}, ["ema"]))
    assert only_ema.table.ratio_to_baseline.isna().all() and "no ratio" in " ".join(only_ema.notes)


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_shows_the_section(fmt, tmp_path):
    report = report_from_table(runs_table(records(), ["ema"]), StudyInfo("timed", "one-at-a-time", ["ema"]))
    text, paths = write(report, fmt, tmp_path if fmt == "html" else None)
    text = paths[0].read_text() if fmt == "html" else text
    if fmt == "json":
        rows = json.loads(text)["sections"]["wall_clock"]["rows"]
        assert {r["arm"]: r["ratio_to_baseline"] for r in rows} == {"baseline": 1.0, "ema": 2.0}
    elif fmt == "csv":
        rows = pd.read_csv(io.StringIO(text)).query("section == 'wall_clock' and arm == arm")
        assert dict(zip(rows.arm, rows.ratio_to_baseline)) == {"baseline": 1.0, "ema": 2.0} and CPU in text
    else:
        assert "Wall-clock time per run" in text and CPU in text
