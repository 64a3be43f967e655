"""Bad input is one message naming the culprit and exit code 2 (issue 14): no traceback, nothing trained
or created first, and nothing silently replaced by a default."""

from __future__ import annotations

import warnings

import pytest

from trickstack.core.errors import DataWarning, UserError

SPEC = """[study]
name = "{name}"
workload = "mnist1d"
budget = {{ flops = 5e8 }}
seeds = 1
design = "{design}"
tricks = ["label_smoothing", "ema"]
"""


def one_error(code: int, err: str) -> str:
    flat = " ".join(err.split())
    assert code == 2 and flat.count("error:") == 1 and "Traceback" not in err, err
    return flat


@pytest.fixture
def no_training(monkeypatch):
    """Any training or data loading fails the test: bad input must be refused before."""
    import trickstack.trial.runner
    from trickstack.workloads import get_workload

    monkeypatch.setattr(trickstack.trial.runner, "run_trial", lambda *a, **k: pytest.fail("trained before refusing"))
    workload = get_workload("mnist1d")
    saved = workload.__dict__.pop("splits", None)
    monkeypatch.setattr(type(workload), "load_splits", property(lambda self: pytest.fail("loaded data before refusing")),
                        raising=False)
    yield
    if saved is not None:
        workload.__dict__["splits"] = saved


def spec_file(tmp_path, name="s", design="factorial", extra="", replace=("", "")):
    path = tmp_path / "spec.toml"
    path.write_text(SPEC.format(name=name, design=design).replace(*replace) + extra)
    return path


# ---- numbers out of range -------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["1e400", "inf", "-inf", "nan"])
def test_an_int_parameter_set_to_an_infinite_number_is_one_message(cli, no_training, value):
    code, _, err = cli("run", "--tricks", "lookahead", "--set", f"lookahead.k={value}")
    assert f"--set lookahead.k: cannot read '{value}' as a int" in one_error(code, err)


@pytest.mark.parametrize("seed", ["-5", "99999999999999999999", "4294967296"])
def test_a_seed_composer_cannot_take_is_refused_before_the_data_loads(cli, no_training, seed):
    code, _, err = cli("run", "--seed", seed)
    assert f"--seed: seed {seed} is not an integer from 0 to 4294967295" in one_error(code, err)


def test_run_trial_checks_the_seed_first():
    from trickstack.trial.runner import run_trial

    with pytest.raises(UserError, match="seed -1 is not an integer"):
        run_trial("no-such-workload", seed=-1)


@pytest.mark.parametrize("design", ["shapley", "search"])
def test_a_negative_design_seed_is_refused_and_no_study_is_created(cli, tmp_path, design):
    path = spec_file(tmp_path, design=design, extra="")
    path.write_text(path.read_text().replace("seeds = 1\n", "seeds = 1\nseed = -1\n"))
    code, _, err = cli("ablate", str(path), "--storage", f"sqlite:///{tmp_path}/s.db")
    assert f"{path}: study.seed: Input should be greater than or equal to 0" in one_error(code, err)
    assert not (tmp_path / "s.db").exists()


# ---- files that are not what they should be -----------------------------------------------------------


def test_a_binary_spec_file_is_one_message(cli, tmp_path):
    path = tmp_path / "model.toml"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe")
    code, _, err = cli("ablate", str(path), "--dry-run")
    assert f"{path}: cannot read the study spec: not UTF-8 text" in one_error(code, err)


def journal_with_a_study(path):
    import optuna

    from trickstack.ablations.storage import open_storage

    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # its handler may hold an earlier test's closed stderr
    try:
        study = optuna.create_study(study_name="j", storage=open_storage(f"journal://{path}"))
        study.enqueue_trial({"a": 1})
        study.set_user_attr("k", "v")
    finally:
        optuna.logging.set_verbosity(verbosity)
    return path.read_bytes()


@pytest.mark.parametrize("damage,message", [
    ("folder", "is a folder: give a file in it"),
    ("under-a-file", "cannot make the folder"),
    ("text", "line 1 is not an Optuna journal entry"),
    ("binary", "line 1 is not an Optuna journal entry"),
    ("middle", "line 2 is not an Optuna journal entry"),
])
def test_a_journal_that_is_not_one_is_one_message(cli, tmp_path, damage, message):
    path = tmp_path / "study.log"
    good = journal_with_a_study(tmp_path / "good.log")
    if damage == "folder":
        path.mkdir()
    elif damage == "under-a-file":
        (tmp_path / "a-file").write_text("x")
        path = tmp_path / "a-file" / "study.log"
    elif damage == "text":
        path.write_text("To be, or not to be\nthat is the question\n")
    elif damage == "binary":
        path.write_bytes(b"\x00\x01\x02binary")
    else:
        lines = good.splitlines(keepends=True)
        path.write_bytes(lines[0] + b"{broken\n" + b"".join(lines[2:]))
    code, _, err = cli("status", "j", "--storage", f"journal://{path}")
    assert message in one_error(code, err) and str(path) in "".join(err.split())  # rich may wrap inside the path


def test_a_journal_cut_mid_write_warns_naming_the_file_and_line(cli, tmp_path):
    from trickstack.ablations.storage import open_storage

    path = tmp_path / "study.log"
    good = journal_with_a_study(path)
    path.write_bytes(good[:-20])  # the last operation (set_user_attr) lost its end
    with pytest.warns(DataWarning, match=rf"journal {path}: line 3 was cut off mid-write"):
        open_storage(f"journal://{path}")
    code, out, err = cli("status", "j", "--storage", f"journal://{path}")
    assert code == 0 and "warning: journal" in err and "line 3 was cut off" in " ".join(err.split()), err
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataWarning)  # an intact journal says nothing
        path.write_bytes(good)
        open_storage(f"journal://{path}")


def test_a_last_line_another_process_is_still_writing_is_not_taken_for_a_cut_one(tmp_path):
    import threading

    from trickstack.ablations.storage import open_storage

    path = tmp_path / "study.log"
    good = journal_with_a_study(path)
    path.write_bytes(good[:-1])  # the writer has not written the end of line yet ...
    finish = threading.Timer(0.05, lambda: path.write_bytes(good))  # ... and does a moment later
    finish.start()
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataWarning)
        open_storage(f"journal://{path}")
    finish.join()


def test_a_study_name_too_long_for_a_file_name_is_refused_up_front(cli, tmp_path):
    path = spec_file(tmp_path, name="n" * 300)
    code, _, err = cli("ablate", str(path), "--dry-run")
    assert f"{path}: study.name: String should have at most 100 characters" in one_error(code, err)


# ---- silently accepted before ---------------------------------------------------------------------------


@pytest.mark.parametrize("args,message", [
    (["run", "--workload", ""], "unknown workload ''"),
    (["status", "x", "--storage", ""], "storage is empty"),
    (["worker", "x", "--poll", "-1"], "--poll -1: give the seconds between looks, a finite number >= 0"),
    (["worker", "x", "--poll", "inf"], "--poll inf"),
])
def test_empty_or_impossible_options_are_refused_not_defaulted(cli, no_training, tmp_path, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)  # the default storage would be created here
    code, _, err = cli(*args)
    assert message in one_error(code, err)
    assert list(tmp_path.iterdir()) == []


def test_a_set_key_given_twice_names_it(cli, no_training):
    code, _, err = cli("run", "--set", "lr=1e-3", "--set", "lr=2e-3")
    assert "--set lr is set twice" in one_error(code, err)


@pytest.mark.parametrize("key,value,message", [
    ("seeds", "true", "study.seeds: Input should be a valid integer"),
    ("seeds", "2.0", "study.seeds: Input should be a valid integer"),
    ("permutations", "true", "study.permutations: Input should be a valid integer"),
])
def test_a_count_that_is_not_an_integer_is_refused(cli, tmp_path, key, value, message):
    line = f"seeds = 1\n{key} = {value}\n" if key != "seeds" else f"seeds = {value}\n"
    path = spec_file(tmp_path, design="shapley", replace=("seeds = 1\n", line))
    code, _, err = cli("ablate", str(path), "--dry-run")
    assert f"{path}: {message}" in one_error(code, err)


@pytest.mark.parametrize("value", ["inf", "nan"])
def test_an_infinite_budget_in_a_spec_names_the_file_and_key(cli, tmp_path, value):
    path = spec_file(tmp_path, replace=("flops = 5e8", f"flops = {value}"))
    code, _, err = cli("ablate", str(path), "--dry-run")
    assert f"{path}: study.budget.flops: Input should be a finite number" in one_error(code, err)


@pytest.mark.parametrize("args,message", [
    (["--budget", "1e400x"], "--budget 1e400x: a fraction of the reference budget must be a positive, finite number"),
    (["--budget", "0.02x", "--budget-unit", "seconds"], "--budget 0.02x: a fraction of the reference budget is for "
                                                         "FLOPs only"),
    (["--budget", "1e400"], "--budget 1e400: budget must be a positive, finite number of flops, got inf"),
])
def test_budget_messages_say_what_is_wrong(cli, no_training, args, message):
    code, _, err = cli("run", *args)
    assert message in one_error(code, err)


def test_a_fraction_too_large_for_a_float_is_one_message(cli):
    code, _, err = cli("run", "--budget", "1e300x")  # the reference budget is measured first: data loads
    assert "--budget 1e300x: 1e+300 times the reference budget is not a finite number of flops" in one_error(code, err)


def test_a_changed_budget_is_refused_showing_the_budget_not_a_python_repr(tmp_path):
    import optuna

    from trickstack.ablations.engine import open_study
    from trickstack.ablations.spec import StudySpec

    url = f"sqlite:///{tmp_path}/s.db"
    open_study(StudySpec.from_toml_text(SPEC.format(name="b", design="factorial").replace("5e8", "2e9"), "a.toml"), url, 1)
    changed = StudySpec.from_toml_text(SPEC.format(name="b", design="factorial"), "b.toml")
    with pytest.raises(UserError) as error:
        open_study(changed, url, 1)
    assert str(error.value) == "b.toml: study 'b' exists with a different study.budget (2e+09 flops); use a new study name"
    assert optuna.load_study(study_name="b", storage=url).user_attrs["spec"]["study"]["budget"]["flops"] == 2e9


def _open_at_once(barrier, url, results):
    import optuna

    from trickstack.ablations.storage import open_storage

    barrier.wait()
    try:
        optuna.create_study(study_name="first", storage=open_storage(url), load_if_exists=True)
        results.put("ok")
    except BaseException as error:  # noqa: BLE001 - reported to the parent
        results.put(f"{type(error).__name__}: {error}")


def test_processes_opening_a_new_sqlite_file_at_once_all_succeed(tmp_path):
    """Two first-ever `ablate`s on one new SQLite file: before, one failed ("table ... already exists")."""
    import multiprocessing

    context = multiprocessing.get_context("fork")
    for round_ in range(4):
        url = f"sqlite:///{tmp_path}/new{round_}.db"
        barrier, results = context.Barrier(3), context.Queue()
        processes = [context.Process(target=_open_at_once, args=(barrier, url, results)) for _ in range(3)]
        for p in processes:
            p.start()
        for p in processes:
            p.join(60)
        assert [results.get(timeout=5) for _ in processes] == ["ok"] * 3, url
