"""Trust on a hostile disk (issue 21): a full disk or a read-only file system under a study's storage or a
command's output is one message naming the file or folder, exit code 2; a failed write leaves what was there
before, and the same command run again, once space is freed, succeeds.

The disk is real: a small tmpfs mounted for the test (`disk_fixture`).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from leaderboard_fixtures import make_recipes
from test_hostile_input import one_error

SYNTHETIC = """[study]
name = "{name}"
workload = "synthetic"
budget = {{ flops = 1e9 }}
seeds = {seeds}
design = "one-at-a-time"
tricks = ["label_smoothing", "ema"]

[synthetic]
baseline = 0.5
effects = {{ label_smoothing = 0.05 }}
seed_noise = 0.01
run_noise = 0.002
"""


def leftovers(folder: Path) -> list[str]:
    """Temporary files or staging folders a failed write left behind (none may be)."""
    return [p.name for p in folder.rglob("*") if p.name.endswith(".tmp") or ".staging-" in p.name]


def write_spec(where: Path, name: str, seeds: int = 2) -> Path:
    spec = where / f"{name}.toml"
    spec.write_text(SYNTHETIC.format(name=name, seeds=seeds))
    return spec


def study_trials(url: str, name: str) -> int:
    import optuna

    from trickstack.ablations.storage import open_storage

    return len(optuna.load_study(study_name=name, storage=open_storage(url)).get_trials())


# ---- a study's storage ------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["sqlite", "journal"])
def test_ablate_on_a_full_disk_is_one_message_and_runs_again_once_space_is_freed(cli, tmp_path, disk, kind):
    url = f"sqlite:///{disk.path / 'studies.db'}" if kind == "sqlite" else f"journal://{disk.path / 'studies.log'}"
    code, _, err = cli("ablate", str(write_spec(tmp_path, "first")), "--storage", url)
    assert code == 0, err
    disk.fill()
    code, _, err = cli("ablate", str(write_spec(tmp_path, "second")), "--storage", url)
    flat = one_error(code, err)
    assert "the disk is full" in flat and str(disk.path / "studies") in flat.replace(" ", "")
    disk.free()
    code, _, err = cli("ablate", str(write_spec(tmp_path, "second")), "--storage", url)
    assert code == 0 and "finished" in err + _, err
    assert study_trials(url, "first") == 6  # 3 arms x 2 seeds, untouched


def test_resuming_a_journal_study_on_a_full_disk_leaves_the_journal_whole(cli, tmp_path, disk):
    url = f"journal://{disk.path / 'studies.log'}"
    code, _, err = cli("ablate", str(write_spec(tmp_path, "grow", seeds=2)), "--storage", url)
    assert code == 0, err
    disk.fill()
    code, _, err = cli("ablate", str(write_spec(tmp_path, "grow", seeds=40)), "--storage", url)  # more seeds
    assert "the disk is full" in one_error(code, err)
    assert (disk.path / "studies.log").read_bytes().endswith(b"\n")  # no entry cut off mid-line
    disk.free()
    code, out, err = cli("ablate", str(write_spec(tmp_path, "grow", seeds=40)), "--storage", url)
    assert code == 0 and "warning" not in err, err
    assert study_trials(url, "grow") == 3 * 40


@pytest.mark.parametrize("kind", ["sqlite", "journal"])
def test_a_read_only_storage_is_one_message_naming_it(cli, tmp_path, disk, kind):
    name = "studies.db" if kind == "sqlite" else "studies.log"
    url = f"sqlite:///{disk.path / name}" if kind == "sqlite" else f"journal://{disk.path / name}"
    made = url.replace(str(disk.path), str(tmp_path))  # made off the disk: no file held open there
    code, _, err = cli("ablate", str(write_spec(tmp_path, "first")), "--storage", made)
    assert code == 0, err
    shutil.copy(tmp_path / name, disk.path / name)
    disk.read_only()
    try:
        code, _, err = cli("ablate", str(write_spec(tmp_path, "second")), "--storage", url)
        flat = one_error(code, err)
        assert "read-only" in flat and str(disk.path / "studies") in flat.replace(" ", "")
    finally:
        disk.writable()
    code, _, err = cli("ablate", str(write_spec(tmp_path, "second")), "--storage", url)
    assert code == 0, err


# ---- a command's outputs ----------------------------------------------------------------------------------


@pytest.fixture
def study(cli, tmp_path) -> str:
    """A finished synthetic study in a SQLite file off the small disk; its storage URL."""
    url = f"sqlite:///{tmp_path / 'study.db'}"
    code, _, err = cli("ablate", str(write_spec(tmp_path, "done")), "--storage", url)
    assert code == 0, err
    return url


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_export_on_a_full_disk_leaves_the_previous_file(cli, disk, study, fmt):
    target = disk.path / f"runs.{fmt}"
    target.write_text("previous export\n")
    args = ("export", "done", "--storage", study, "--format", fmt, "--out", str(target), "--force")
    disk.fill()
    code, _, err = cli(*args)
    flat = one_error(code, err)
    assert f"{target}:cannotwriteit:thediskisfull" in flat.replace(" ", "")  # a long path wraps anywhere
    assert target.read_text() == "previous export\n" and not leftovers(disk.path)
    disk.free()
    code, _, err = cli(*args)
    assert code == 0 and target.read_bytes() != b"previous export\n", err


@pytest.mark.parametrize("fmt", ["html", "csv"])
def test_report_on_a_full_disk_leaves_the_previous_files(cli, disk, study, fmt):
    folder = disk.path / "report"
    args = ("report", "done", "--storage", study, "--format", fmt, "--out", str(folder), "--force")
    code, _, err = cli(*args)
    assert code == 0, err
    before = {p: p.read_bytes() for p in folder.iterdir()}
    for path in before:
        path.write_text("edited\n")
    disk.fill()
    code, _, err = cli(*args)
    flat = one_error(code, err)
    assert "the disk is full" in flat and str(folder) in flat.replace(" ", "")
    assert all(p.read_text() == "edited\n" for p in before) and not leftovers(disk.path)
    assert sorted(folder.iterdir()) == sorted(before)
    disk.free()
    code, _, err = cli(*args)
    assert code == 0 and {p: p.read_bytes() for p in folder.iterdir()} == before, err


def test_leaderboard_on_a_full_disk_leaves_the_previous_site(cli, tmp_path, disk):
    recipes = make_recipes(tmp_path / "recipes", years=(2016,))
    site = disk.path / "site"
    args = ("leaderboard", "--recipes", str(recipes), "--out", str(site), "--force")
    code, _, err = cli(*args)
    assert code == 0, err
    (site / "index.html").write_text("the previous site\n")
    before = {p: p.read_bytes() for p in site.rglob("*") if p.is_file()}
    disk.fill()
    code, _, err = cli(*args)
    flat = one_error(code, err)
    assert "the disk is full" in flat and str(site) in flat.replace(" ", "")
    assert {p: p.read_bytes() for p in site.rglob("*") if p.is_file()} == before and not leftovers(disk.path)
    disk.free()
    code, _, err = cli(*args)
    assert code == 0 and (site / "index.html").read_text() != "the previous site\n", err


def test_a_new_site_on_a_full_disk_leaves_no_folder(cli, tmp_path, disk):
    recipes = make_recipes(tmp_path / "recipes", years=(2016,))
    site = disk.path / "site"
    disk.fill()
    code, _, err = cli("leaderboard", "--recipes", str(recipes), "--out", str(site))
    assert "the disk is full" in one_error(code, err)
    assert not site.exists() and not leftovers(disk.path)


def test_recipe_derive_on_a_full_disk_leaves_no_half_recipe_and_runs_again(cli, tmp_path, disk):
    from trickstack.ablations.storage import drop_memory
    from trickstack.leaderboard.board import build

    truth = tmp_path / "truth.toml"
    truth.write_text('[synthetic]\nbaseline = 0.5\neffects = { label_smoothing = 0.05 }\nseed_noise = 0.02\n'
                     'run_noise = 0.002\n')
    recipes = disk.path / "recipes"
    args = ("recipe", "derive", "--workload", "synthetic", "--year", "2016", "--synthetic", str(truth),
            "--recipes", str(recipes), "--storage", f"memory://{tmp_path.name}", "--trials", "6",
            "--tricks", "label_smoothing,cosine_schedule")
    (recipes / "synthetic").mkdir(parents=True)
    disk.fill()
    code, _, err = cli(*args)
    flat = one_error(code, err)
    assert "the disk is full" in flat and str(recipes / "synthetic") in flat.replace(" ", "")
    assert list((recipes / "synthetic").iterdir()) == []  # neither a half recipe nor half its evidence
    disk.free()
    code, out, err = cli(*args)  # not refused as existing: resumes the study and writes both
    assert code == 0 and "written" in out, err
    assert sorted(p.name for p in (recipes / "synthetic").iterdir()) == ["2016.runs.jsonl", "2016.toml"]
    assert build(recipes).boards["synthetic"].entries  # the leaderboard reads the folder
    drop_memory(f"memory://{tmp_path.name}")


def test_an_appended_run_record_that_does_not_fit_is_cut_back(disk):
    from trickstack.core.evidence import append_run, read_runs
    from trickstack.core.outputs import WriteFailed
    from trickstack.simulator.workload import simulate_run

    path = disk.path / "runs.jsonl"
    records = [simulate_run({"baseline": 0.5}, "synthetic", [], seed, overrides={}) for seed in range(2)]
    append_run(path, records[0])
    before = path.read_bytes()
    disk.fill()
    padded = records[1].model_copy(update={"workload": "synthetic" + " " * 8000})  # more than a block
    with pytest.raises(WriteFailed, match="the disk is full"):
        append_run(path, padded)
    assert path.read_bytes() == before
    disk.free()
    append_run(path, records[1])
    assert [r.seed for r in read_runs(path)] == [0, 1]


def test_an_atomic_write_that_must_not_replace_leaves_the_file_and_no_temporary(tmp_path):
    from trickstack.core.outputs import write_file

    target = tmp_path / "x.txt"
    write_file(target, "one")
    with pytest.raises(FileExistsError):
        write_file(target, "two", overwrite=False)
    assert target.read_text() == "one" and sorted(p.name for p in tmp_path.iterdir()) == ["x.txt"]


def test_local_workers_that_cannot_write_stop_the_study_with_their_one_message(tmp_path, disk):
    """Queued jobs, then the journal turns read-only: every local worker stops on its first write. The
    coordinator says why once and stops (it used to start new workers, which stopped the same way, forever)."""
    from trickstack.ablations.engine import _run_workers, jobs_for, open_study, plan_arms
    from trickstack.ablations.jobs import enqueue
    from trickstack.ablations.spec import StudySpec
    from trickstack.core.errors import UserError

    spec = StudySpec.load(write_spec(tmp_path, "queued"))
    ctx = open_study(spec, f"journal://{disk.path / 'studies.log'}", workers=2)
    jobs = jobs_for(ctx, plan_arms(spec)[0])[1]()
    for job in jobs:
        enqueue(ctx.study, job, ctx.order)
    disk.read_only()
    try:
        with pytest.raises(UserError, match=r"journal .*studies.log: cannot write to it: it is read-only"):
            _run_workers(ctx, {job.key for job in jobs}, "evaluation")
    finally:
        disk.writable()
