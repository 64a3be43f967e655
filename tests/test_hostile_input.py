"""Trust under hostile input (issue 14): outputs never destroy data, CSV cells never run as formulas,
passwords never print, and bad input is one message with exit code 2, found before any work is done."""

from __future__ import annotations

import copy
import csv
import io

import optuna
import pytest

from trickstack.ablations.engine import ablate
from trickstack.ablations.spec import StudySpec

STUDY = "tiny"
SPEC = f"""[study]
name = "{STUDY}"
workload = "mnist1d"
budget = {{ flops = 5e8 }}
seeds = 1
design = "one-at-a-time"
tricks = ["label_smoothing"]
"""
HOSTILE = '=HYPERLINK("http://evil.example","x")'


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    """A finished two-run study in a SQLite file, plus one stored run whose parameter text is a formula."""
    path = tmp_path_factory.mktemp("hostile") / "victim.db"
    study = ablate(StudySpec.from_toml_text(SPEC, source="tiny.toml"), f"sqlite:///{path}").study
    trial = next(t for t in study.get_trials() if t.user_attrs.get("records") and t.user_attrs["arm"] != "baseline")
    attrs = copy.deepcopy(trial.user_attrs)
    attrs["job"] += "/hostile"
    attrs["records"][0]["tricks"][0]["params"]["smoothing"] = HOSTILE
    study.add_trial(optuna.trial.create_trial(params=trial.params, distributions=trial.distributions,
                                              value=trial.value, user_attrs=attrs))
    return path


def one_error(code: int, err: str) -> str:
    flat = " ".join(err.split())
    assert code == 2 and flat.count("error:") == 1 and "Traceback" not in err, err
    return flat


# ---- data loss -----------------------------------------------------------------------------------------


def test_export_never_writes_over_the_studys_own_storage_even_with_force(db, cli):
    before = db.read_bytes()
    for force in ([], ["--force"]):
        code, _, err = cli("export", STUDY, "--storage", f"sqlite:///{db}", "--format", "csv", "--out", str(db), *force)
        assert "is the study's own storage: it is never overwritten" in one_error(code, err)
    assert db.read_bytes() == before


def test_export_refuses_an_existing_file_without_force(db, cli, tmp_path):
    target = tmp_path / "runs.csv"
    target.write_text("precious\n")
    code, _, err = cli("export", STUDY, "--storage", f"sqlite:///{db}", "--out", str(target))
    assert f"--out: {target} exists: not overwritten; pass --force to write anyway" in one_error(code, err)
    assert target.read_text() == "precious\n"
    code, _, err = cli("export", STUDY, "--storage", f"sqlite:///{db}", "--out", str(target), "--force")
    assert code == 0, err
    assert target.read_text().startswith("trial,phase,arm,seed")


def test_report_refuses_to_replace_its_files_without_force(db, cli, tmp_path):
    args = ("report", STUDY, "--storage", f"sqlite:///{db}", "--format", "md", "--out", str(tmp_path))
    code, out, err = cli(*args)
    assert code == 0, err
    page = tmp_path / f"{STUDY}-report.md"
    page.write_text("edited by hand\n")
    code, _, err = cli(*args)
    assert f"{page} exists: not overwritten; pass --force to write anyway" in one_error(code, err)
    assert page.read_text() == "edited by hand\n"
    code, _, err = cli(*args, "--force")
    assert code == 0 and page.read_text() != "edited by hand\n", err


def test_report_csv_files_are_all_checked_before_any_is_written(db, cli, tmp_path):
    args = ("report", STUDY, "--storage", f"sqlite:///{db}", "--format", "csv", "--out", str(tmp_path))
    code, out, err = cli(*args)
    assert code == 0, err
    written = sorted(tmp_path.iterdir())
    written[-1].write_text("kept\n")
    for path in written[:-1]:
        path.unlink()
    code, _, err = cli(*args)
    assert "exists: not overwritten" in one_error(code, err)
    assert sorted(tmp_path.iterdir()) == [written[-1]] and written[-1].read_text() == "kept\n"


# ---- outputs checked before any work ---------------------------------------------------------------------


@pytest.mark.parametrize("where,message", [
    ("missing/runs.csv", "no folder"),
    ("a-file/runs.csv", "no folder"),
    ("a-folder", "is a folder"),
])
def test_export_out_to_a_bad_place_is_one_message(db, cli, tmp_path, where, message):
    (tmp_path / "a-file").write_text("x")
    (tmp_path / "a-folder").mkdir()
    code, _, err = cli("export", STUDY, "--storage", f"sqlite:///{db}", "--out", str(tmp_path / where))
    assert message in one_error(code, err)


@pytest.mark.parametrize("command", [["report", STUDY, "--format", "md"], ["leaderboard"]])
def test_report_and_leaderboard_out_to_a_file_or_an_unwritable_place_is_one_message(db, cli, tmp_path, command):
    (tmp_path / "a-file").write_text("x")
    storage = ["--storage", f"sqlite:///{db}"] if command[0] == "report" else []
    for where, message in ((tmp_path / "a-file", "is a file, not a folder"),
                           (tmp_path / "a-file" / "sub", "cannot create"),
                           ("/proc/trickstack-out", "cannot create")):
        code, _, err = cli(*command, *storage, "--out", str(where))
        assert message in one_error(code, err), where


def test_leaderboard_writes_into_a_folder_holding_files_only_with_force(cli, tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    (site / "index.html").write_text("my own home page\n")
    code, _, err = cli("leaderboard", "--out", str(site))
    assert f"--out: {site} is not empty" in one_error(code, err) and "--force" in err
    assert (site / "index.html").read_text() == "my own home page\n"
    code, out, err = cli("leaderboard", "--out", str(site), "--force")
    assert code == 0 and "files written" in out, err


def test_run_out_to_a_file_is_refused_before_training(cli, tmp_path, monkeypatch):
    import trickstack.trial.runner

    monkeypatch.setattr(trickstack.trial.runner, "run_trial", lambda *a, **k: pytest.fail("trained before checking --out"))
    (tmp_path / "a-file").write_text("x")
    for where, message in ((tmp_path / "a-file", "is a file, not a folder"), ("/proc/trickstack-out", "cannot create")):
        code, _, err = cli("run", "--budget", "1e6", "--out", str(where))
        assert f"--out: {where}" in one_error(code, err) and message in err


# ---- injection in CSV ------------------------------------------------------------------------------------


def cells(text: str) -> list[str]:
    return [cell for row in csv.reader(io.StringIO(text)) for cell in row]


def formula_cells(text: str) -> list[str]:
    return [cell for cell in cells(text) if cell[:1] in ("=", "+", "-", "@", "\t", "\r")]


def test_export_csv_writes_no_live_formula(db, cli):
    code, out, err = cli("export", STUDY, "--storage", f"sqlite:///{db}", "--format", "csv")
    assert code == 0, err
    assert formula_cells(out) == [] and f"'{HOSTILE}" in list(csv.reader(io.StringIO(out)))[-1]


def test_report_csv_writes_no_live_formula(db, cli, tmp_path, monkeypatch):
    import trickstack.reports.files as files
    import trickstack.reports.render as render

    real = render.csv_tables
    hostile = lambda r: {k: t.assign(note=HOSTILE) for k, t in real(r).items()}  # noqa: E731
    monkeypatch.setattr(render, "csv_tables", hostile)  # standard output
    monkeypatch.setattr(files, "csv_tables", hostile)  # one file per table
    code, out, err = cli("report", STUDY, "--storage", f"sqlite:///{db}", "--format", "csv")
    assert code == 0 and formula_cells(out) == [] and f"'{HOSTILE}" in cells(out), err
    code, _, err = cli("report", STUDY, "--storage", f"sqlite:///{db}", "--format", "csv", "--out", str(tmp_path))
    assert code == 0, err
    for path in tmp_path.iterdir():
        text = path.read_text()
        assert formula_cells(text) == [] and f"'{HOSTILE}" in cells(text), path


def test_negative_numbers_stay_numbers_in_csv():
    import pandas as pd

    from trickstack.ablations.export import tidy_csv

    assert tidy_csv(pd.DataFrame({"gain": [-0.5], "arm": ["-ema"]})) == "gain,arm\n-0.5,'-ema\n"


# ---- credentials -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("command", [["status", "x"], ["export", "x"], ["report", "x"], ["worker", "x"]])
def test_a_storage_password_is_never_printed(cli, command):
    code, out, err = cli(*command, "--storage", "postgresql://u:sekrit@127.0.0.1:1/db")
    flat = one_error(code, err)
    assert "sekrit" not in out + err and "postgresql://u:***@127.0.0.1:1/db" in flat


def test_shown_url_masks_the_password_of_any_rdb_url():
    from trickstack.ablations.storage import shown_url

    assert shown_url("postgresql+psycopg://u:p%40ss@db.example:5432/studies?sslmode=require") == \
        "postgresql+psycopg://u:***@db.example:5432/studies?sslmode=require"
    assert shown_url("sqlite:///study.db") == "sqlite:///study.db" and shown_url(None) == ""
    assert shown_url("journal:///runs/study.log") == "journal:///runs/study.log"


def test_an_empty_storage_is_refused_not_replaced_by_the_default(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # where the default storage would be created
    code, _, err = cli("status", "x", "--storage", "")
    assert "storage is empty" in one_error(code, err)


# ---- runaway studies -------------------------------------------------------------------------------------

EIGHT = '["label_smoothing", "ema", "mixup", "cosine_schedule", "lr_warmup", "gradient_clipping", "z_loss", "logit_softcap"]'


def test_a_runaway_study_is_planned_then_refused_without_yes(cli, tmp_path, monkeypatch):
    import trickstack.ablations.engine as engine

    class Started(Exception):
        """Raised in place of queueing: this test trains nothing."""

    def start(spec, storage, workers, progress, **options):  # options: device, deterministic
        raise Started(spec.study.name)

    monkeypatch.setattr(engine, "ablate", start)
    path = tmp_path / "huge.toml"
    path.write_text(f'[study]\nname = "huge"\nworkload = "mnist1d"\nbudget = {{ flops = 5e8 }}\nseeds = 1000\n'
                    f'design = "factorial"\ntricks = {EIGHT}\n')
    db = tmp_path / "huge.db"
    code, out, err = cli("ablate", str(path), "--storage", f"sqlite:///{db}")
    flat = one_error(code, err)
    assert "256 arms" in err and "256000 training runs" in err  # the plan comes first
    assert "256000 training runs (more than 10000)" in flat and "nothing was queued" in flat and "--yes" in flat
    assert not db.exists()  # refused before the study was created
    with pytest.raises(Started, match="huge"):
        cli("ablate", str(path), "--storage", f"sqlite:///{db}", "--yes")


def test_ctrl_c_while_queueing_leaves_no_queued_job_behind(tmp_path, monkeypatch):
    import trickstack.ablations.engine as engine
    from trickstack.ablations.jobs import job_states

    spec = StudySpec.from_toml_text(SPEC.replace("seeds = 1", "seeds = 3"), source="tiny.toml")
    real, calls = engine.enqueue, []

    def interrupted(study, job, order):
        calls.append(job.key)
        if len(calls) == 4:
            raise KeyboardInterrupt
        real(study, job, order)

    monkeypatch.setattr(engine, "enqueue", interrupted)
    url = f"sqlite:///{tmp_path}/q.db"
    with pytest.raises(KeyboardInterrupt):
        ablate(spec, url)
    study = optuna.load_study(study_name=STUDY, storage=url)
    assert study.get_trials(states=(optuna.trial.TrialState.WAITING,)) == []
    assert sum(bool(t.user_attrs.get("withdrawn")) for t in study.get_trials()) == 3
    monkeypatch.setattr(engine, "enqueue", real)
    again = ablate(spec, url).study  # the next ablate queues them again and finishes
    assert sorted(k for k, s in job_states(again).items() if s == optuna.trial.TrialState.COMPLETE) == sorted(
        f"eval/{arm}/{seed}" for arm in ("baseline", "label_smoothing") for seed in range(3))
