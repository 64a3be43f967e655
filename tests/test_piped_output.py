"""Output through a pipe or into a file (issue 21): tables keep every column instead of being cut to 80 columns,
and a search's progress counts its runs k of N instead of "0/1, 1/1" for every proposal."""

from __future__ import annotations

import re

from trickstack.tricks.registry import get_trick, list_tricks
from trickstack.workloads import list_workloads


def test_tricks_list_piped_keeps_every_column_and_value(cli):
    code, out, err = cli("tricks", "list")
    assert code == 0, err
    header = next(line for line in out.splitlines() if " name " in line)
    for column in ["year", "domains", "changes", *list_workloads()]:
        assert f" {column} " in header, (column, header)
    for name in list_tricks():
        info = get_trick(name)
        row = next(line for line in out.splitlines() if line.startswith(f"│ {name} "))
        cells = [c.strip() for c in row.strip("│").split("│")]
        assert cells[1] == str(info.year) and cells[2] == ", ".join(info.domains) and cells[3] == ", ".join(info.changes), row


def test_a_long_error_piped_is_one_line(cli, tmp_path):
    missing = tmp_path / ("a-long-folder-name-" * 6) / "spec.toml"
    code, _, err = cli("ablate", str(missing))
    assert code == 2 and len(err.strip().splitlines()) == 1 and str(missing) in err, err


def test_search_progress_counts_runs_of_the_whole_search(cli, tmp_path):
    spec = tmp_path / "search.toml"
    spec.write_text('[study]\nname = "piped-search"\nworkload = "synthetic"\nbudget = { flops = 1e9 }\nseeds = 2\n'
                    'design = "search"\nsearch_trials = 4\nsearch_seeds = 2\ntricks = ["label_smoothing", "ema", "mixup"]\n'
                    '[synthetic]\neffects = { ema = 0.02 }\nseed_noise = 0.01\n')
    code, _, err = cli("ablate", str(spec), "--storage", f"sqlite:///{tmp_path / 's.db'}")
    assert code == 0, err
    counts = [(int(d), int(t)) for d, t in re.findall(r"search (\d+)/(\d+)", err)]
    assert counts and all(total == 4 * 2 for _, total in counts), err
    done = [d for d, _ in counts]
    assert done == sorted(done) and done[-1] == 8 and len(set(done)) > 2, err
