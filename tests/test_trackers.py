"""--tracker: each trial also a run in TensorBoard and MLflow, read back with their own readers (TensorBoard's
event accumulator; an MLflow client on a local SQLite tracking store); a run's record is the same bit for bit
with trackers as without; bad --tracker values and a missing package are one message and exit 2.

TensorBoard and MLflow come with the test extra; without them these tests skip, saying so, except under
CI=true, where they fail. W&B (--tracker wandb-offline:DIR) is not tested here (see README, Trackers).
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import os
import sys
from pathlib import Path

import pytest

from trickstack.trial.trackers import Tracker

BUDGET = "1e9"  # FLOPs: about 54 MNIST-1D steps, under a second of training
RUN = ("run", "--workload", "mnist1d", "--tricks", "label_smoothing", "--seed", "3", "--budget", BUDGET,
       "--set", "lr=0.003", "--device", "cpu", "--json")


def needs(module: str, extra: str) -> None:
    if importlib.util.find_spec(module) is None:
        why = f"{module} is not installed (pip install 'trickstack[{extra}]'; the test extra has it)"
        if os.environ.get("CI") == "true":
            pytest.fail(why + ", and CI installs the test extra")
        pytest.skip(why)


@pytest.fixture(autouse=True)
def one_thread(monkeypatch):
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)  # on a busy two-core machine two threads per run are many times slower
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # worker processes
    yield
    torch.set_num_threads(before)


def scalars(folder: Path) -> dict[str, list]:
    """Every scalar series of one TensorBoard run folder, by tag: [(step, value), ...]."""
    from tensorboard.backend.event_processing import event_accumulator

    events = event_accumulator.EventAccumulator(str(folder))
    events.Reload()
    return {tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]}


def tensorboard_hparams(folder: Path) -> dict:
    """The hyperparameters of a TensorBoard run (its HParams session), read from the events under ``folder``."""
    from tensorboard.backend.event_processing import event_accumulator
    from tensorboard.plugins.hparams import plugin_data_pb2

    [session] = [p for p in folder.iterdir() if p.is_dir()]  # add_hparams writes into a sub-folder of the run
    events = event_accumulator.EventAccumulator(str(session))
    events.Reload()
    content = events.PluginTagToContent("hparams")["_hparams_/session_start_info"]
    info = plugin_data_pb2.HParamsPluginData.FromString(content).session_start_info
    return {name: value.WhichOneof("kind") and getattr(value, value.WhichOneof("kind"))
            for name, value in info.hparams.items()}


@pytest.fixture(scope="module")
def tracked(tmp_path_factory):
    """One `trickstack run` without trackers and the same run with TensorBoard and MLflow: (plain record,
    tracked record, TensorBoard folder, MLflow URI)."""
    needs("tensorboard", "tensorboard")
    needs("mlflow", "mlflow")
    from trickstack.cli.app import main

    folder = tmp_path_factory.mktemp("trackers")
    uri = f"sqlite:///{folder}/mlflow.db"

    def run(*args: str) -> dict:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr("sys.argv", ["trickstack", *args])
            out = io.StringIO()
            with contextlib.redirect_stdout(out):
                try:
                    main()
                except SystemExit as exit:
                    assert exit.code in (0, None), f"trickstack {' '.join(args)} exited {exit.code}"
        return json.loads(out.getvalue())

    plain = run(*RUN)
    hook = sys.excepthook
    with_trackers = run(*RUN, "--tracker", f"tensorboard:{folder}/tb", "--tracker", f"mlflow:{uri}")
    assert sys.excepthook is hook, "the MLflow logger left its exception hook behind (a worker's trials would pile them up)"
    return plain, with_trackers, folder / "tb", uri


def test_a_tracked_run_has_the_same_record(tracked):
    plain, with_trackers, _, _ = tracked
    for key in ("metrics", "flops", "steps", "samples", "diverged", "tricks", "nuisance", "seed", "budget"):
        assert with_trackers[key] == plain[key], f"{key} differs with trackers"


def test_tensorboard_holds_the_curve_the_metric_and_the_hyperparameters(tracked):
    _, record, tb, _ = tracked
    [project] = list(tb.iterdir())
    assert project.name == "trickstack"  # a run outside any study
    [run] = list(project.iterdir())
    assert run.name.startswith("label_smoothing-seed3-")
    series = scalars(run)
    loss = series["loss/train/total"]
    assert [step for step, _ in loss] == list(range(record["steps"]))  # one point per training batch, from batch 0
    assert loss[-1][1] == pytest.approx(record["metrics"]["train_loss"], rel=1e-6)  # stored as float32
    [(_, accuracy)] = series["metrics/eval/MulticlassAccuracy"]
    assert accuracy == pytest.approx(record["metrics"]["eval_value"], rel=1e-6)
    hparams = tensorboard_hparams(run)
    assert {k: hparams[k] for k in ("workload", "arm", "tricks", "seed", "budget")} == {
        "workload": "mnist1d", "arm": "label_smoothing", "tricks": "label_smoothing", "seed": "3", "budget": "1e+09 flops"}
    assert hparams["lr"] == pytest.approx(0.003)  # exact: Composer's own logger would show 0.0030
    assert hparams["label_smoothing.smoothing"] == pytest.approx(record["tricks"][0]["params"]["smoothing"])


def test_a_diverged_run_keeps_its_tags_in_tensorboard(tmp_path, small_budget):
    needs("tensorboard", "tensorboard")
    import torch
    from composer.core import Callback

    from trickstack.trial.runner import run_trial

    class PoisonWeights(Callback):  # a NaN weight at step 5: the loss is NaN, the run ends without evaluation
        def batch_start(self, state, logger):
            if int(state.timestamp.batch) == 5:
                with torch.no_grad():
                    next(state.model.parameters()).fill_(float("nan"))

    record = run_trial("mnist1d", [], seed=0, budget=small_budget, callbacks=[PoisonWeights()],
                       trackers=[Tracker.parse(f"tensorboard:{tmp_path}")])
    assert record.diverged and record.metrics.eval_value is None
    [run] = list((tmp_path / "trickstack").iterdir())
    assert len(scalars(run)["loss/train/total"]) == record.steps
    hparams = tensorboard_hparams(run)
    assert (hparams["arm"], hparams["seed"], hparams["lr"]) == ("baseline", "0", record.nuisance["lr"])


def test_mlflow_holds_the_run_its_tags_params_and_curve(tracked):
    import mlflow

    _, record, _, uri = tracked
    client = mlflow.MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("trickstack")
    [run] = client.search_runs([experiment.experiment_id])
    assert run.info.status == "FINISHED" and run.info.run_name.startswith("label_smoothing-seed3-")
    tags = run.data.tags
    assert {k: tags[k] for k in ("workload", "arm", "tricks", "seed", "budget")} == {
        "workload": "mnist1d", "arm": "label_smoothing", "tricks": "label_smoothing", "seed": "3", "budget": "1e+09 flops"}
    params = run.data.params
    assert float(params["lr"]) == 0.003 and float(params["weight_decay"]) == record["nuisance"]["weight_decay"]
    assert float(params["label_smoothing.smoothing"]) == record["tricks"][0]["params"]["smoothing"]
    loss = client.get_metric_history(run.info.run_id, "loss/train/total")
    steps = [m.step for m in loss]
    assert steps == sorted(steps) and steps[-1] == record["steps"] - 1 and len(steps) > record["steps"] // 2
    assert loss[-1].value == record["metrics"]["train_loss"]
    assert run.data.metrics["metrics/eval/MulticlassAccuracy"] == record["metrics"]["eval_value"]


def test_ablate_with_workers_tags_each_trial_with_its_study_and_arm(tmp_path, cli):
    needs("tensorboard", "tensorboard")
    needs("mlflow", "mlflow")
    import mlflow
    import optuna

    spec = tmp_path / "tracked.toml"
    spec.write_text('[study]\nname = "tracked"\nworkload = "mnist1d"\nbudget = { flops = 1e9 }\nseeds = 1\n'
                    'design = "one-at-a-time"\ntricks = ["label_smoothing"]\n')
    uri, storage = f"sqlite:///{tmp_path}/mlflow.db", f"journal:///{tmp_path}/study.journal"
    code, _, err = cli("ablate", str(spec), "--storage", storage, "--workers", "2", "--device", "cpu",
                       "--tracker", f"mlflow:{uri}", "--tracker", f"tensorboard:{tmp_path}/tb")
    assert code == 0, err
    study = optuna.load_study(study_name="tracked", storage=optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(f"{tmp_path}/study.journal")))
    trained = sorted((t.user_attrs["arm"], t.params["seed"]) for t in study.get_trials(deepcopy=False)
                     if t.state == optuna.trial.TrialState.COMPLETE and "job" in t.user_attrs)
    failed = [t.user_attrs.get("error") for t in study.get_trials(deepcopy=False) if t.state == optuna.trial.TrialState.FAIL]
    assert failed == [], "a worker's trial failed (two workers making the MLflow tables or experiment at once?)"
    assert [arm for arm, _ in trained] == ["baseline", "label_smoothing"]

    client = mlflow.MlflowClient(tracking_uri=uri)
    runs = client.search_runs([client.get_experiment_by_name("tracked").experiment_id])
    assert sorted((r.data.tags["arm"], int(r.data.tags["seed"])) for r in runs) == trained
    assert {(r.data.tags["study"], r.data.tags["phase"], r.info.status) for r in runs} == {("tracked", "eval", "FINISHED")}
    assert {r.data.tags["tricks"] for r in runs} == {"none", "label_smoothing"}
    folders = sorted(p.name.split("-seed")[0] for p in (tmp_path / "tb" / "tracked").iterdir())
    assert folders == ["baseline", "label_smoothing"]


@pytest.mark.parametrize("value,names", [
    ("foo:bar", ["unknown tracker 'foo'", "tensorboard:DIR", "mlflow:URI", "wandb-offline:DIR"]),
    ("tensorboard", ["needs a folder", "tensorboard:DIR"]),
    ("mlflow:", ["needs a tracking URI", "mlflow:URI"]),
    ("tensorboard:{file}", ["the tensorboard folder is a file"]),
])
def test_a_bad_tracker_is_one_message_naming_the_flag(cli, monkeypatch, tmp_path, value, names):
    import trickstack.trial.runner

    (tmp_path / "file").write_text("not a folder")
    value = value.format(file=tmp_path / "file")
    monkeypatch.setattr(trickstack.trial.runner, "run_trial", lambda *a, **k: pytest.fail("trained before refusing"))
    code, out, err = cli("run", "--budget", BUDGET, "--device", "cpu", "--tracker", value)
    message = " ".join(err.split())
    assert code == 2 and out == "" and message.startswith(f"error: --tracker {value}:"), err
    assert all(name in message for name in names), err


@pytest.mark.parametrize("kind,module,extra", [("tensorboard:tb", "tensorboard", "tensorboard"),
                                               ("mlflow:sqlite:///m.db", "mlflow", "mlflow"),
                                               ("wandb-offline:wb", "wandb", "wandb")])
def test_a_missing_package_names_the_extra_to_install(cli, monkeypatch, kind, module, extra):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == module else real(name, *a))
    code, _, err = cli("worker", "some-study", "--storage", "sqlite:///nowhere.db", "--device", "cpu",
                       "--tracker", kind)
    message = " ".join(err.split())
    assert code == 2 and f"--tracker {kind}: tracker" in message and f"pip install 'trickstack[{extra}]'" in message, err
    assert len(err.strip().splitlines()) <= 2, err  # one message (rich may wrap it)


class Reached(Exception):
    """Raised by a recorder in place of the library call a command makes: what it was given is in ``args``."""


def test_recipe_derive_passes_its_trackers_to_the_study(cli, monkeypatch, tmp_path):
    needs("tensorboard", "tensorboard")
    import trickstack.derive.derive

    def recorder(*args, **kwargs):
        raise Reached(kwargs["trackers"])

    monkeypatch.setattr(trickstack.derive.derive, "ablate", recorder)
    with pytest.raises(Reached) as reached:
        cli("recipe", "derive", "--workload", "mnist1d", "--year", "2017", "--recipes", str(tmp_path / "recipes"),
            "--storage", f"sqlite:///{tmp_path}/s.db", "--device", "cpu", "--tracker", f"tensorboard:{tmp_path}/tb")
    [tracker] = reached.value.args[0]
    assert (tracker.kind, tracker.target) == ("tensorboard", str(tmp_path / "tb"))


def test_replicate_passes_its_trackers_to_its_study(cli, monkeypatch, tmp_path):
    needs("tensorboard", "tensorboard")
    import trickstack.derive.replicate

    def recorder(ctx, *args, **kwargs):
        raise Reached(ctx.trackers)

    monkeypatch.setattr(trickstack.derive.replicate, "run", recorder)
    with pytest.raises(Reached) as reached:
        cli("replicate", "mnist1d/2019", "--seeds", "100:105", "--storage", f"sqlite:///{tmp_path}/s.db",
            "--device", "cpu", "--tracker", f"tensorboard:{tmp_path}/tb")
    [tracker] = reached.value.args[0]
    assert (tracker.kind, tracker.target) == ("tensorboard", str(tmp_path / "tb"))


def test_the_worker_command_trains_with_its_own_trackers(cli, monkeypatch, tmp_path):
    needs("mlflow", "mlflow")
    import optuna

    import trickstack.ablations.worker

    url = f"sqlite:///{tmp_path}/s.db"
    optuna.create_study(study_name="elsewhere", storage=url)

    def recorder(*args, **kwargs):
        raise Reached(kwargs["trackers"])

    monkeypatch.setattr(trickstack.ablations.worker, "work", recorder)
    with pytest.raises(Reached) as reached:
        cli("worker", "elsewhere", "--storage", url, "--device", "cpu", "--tracker", "mlflow:sqlite:///elsewhere.db")
    assert reached.value.args[0] == (Tracker("mlflow", "sqlite:///elsewhere.db"),)
