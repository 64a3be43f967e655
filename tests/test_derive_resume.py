"""An interrupted `recipe derive`, resumed, writes the same recipe and evidence as one that ran straight through,
byte for byte: interrupted during the search after k finished proposals (for several k), during the estimation
seeds' runs and during the follow-up runs. The runs' clock is frozen so that the files can be compared whole (a
record's ``created`` is the one thing a second run of the same job may not repeat)."""

from __future__ import annotations

import datetime as dt
import uuid

import optuna
import pytest

import trickstack.simulator.workload as simulated
from trickstack.ablations.storage import drop_memory
from trickstack.derive.derive import DeriveOptions, derive

TRUTH = {"baseline": 0.5, "seed_noise": 0.02, "run_noise": 0.002, "effects": {"label_smoothing": 0.05, "mixup": 0.01}}
TRICKS = ("cosine_schedule", "ema", "label_smoothing", "mixup", "swa")
TRIALS = 8


class Interrupt(Exception):
    pass


@pytest.fixture(autouse=True)
def frozen_clock(monkeypatch):
    monkeypatch.setattr(simulated, "now", lambda: dt.datetime(2024, 1, 2, tzinfo=dt.timezone.utc))


@pytest.fixture
def storages():
    urls = []

    def new() -> str:
        urls.append(f"memory://{uuid.uuid4().hex}")
        return urls[-1]
    yield new
    for url in urls:
        drop_memory(url)


def derive_into(root, storage, progress=None):
    return derive("synthetic", 2018, DeriveOptions(trials=TRIALS, tricks=TRICKS), truth=TRUTH, recipes=root,
                  storage=storage, progress=progress)


def stop_after(label: str, k: int):
    """A progress callback that interrupts the derivation once ``k`` runs of phase ``label`` have finished."""
    finished = []

    def progress(phase: str, done: int, total: int) -> None:
        if phase == label and done:
            finished.append(done)
            if len(finished) > k:
                raise Interrupt(f"{label} after {k}")
    return progress


def files(derived) -> tuple[str, str]:
    return derived.path.read_text(), derived.evidence.read_text()


@pytest.fixture(scope="module")
def straight(tmp_path_factory):
    root, url = tmp_path_factory.mktemp("straight"), f"memory://{uuid.uuid4().hex}"
    with pytest.MonkeyPatch.context() as m:
        m.setattr(simulated, "now", lambda: dt.datetime(2024, 1, 2, tzinfo=dt.timezone.utc))
        d = derive_into(root, url)
    drop_memory(url)
    return files(d), d


@pytest.mark.parametrize("label, k", [("search", 1), ("search", 3), ("search", 6), ("estimation", 3),
                                      ("attribution and negative results", 2)])
def test_a_resumed_derivation_writes_the_same_files(tmp_path, storages, straight, label, k):
    assert straight[1].accepted and straight[1].estimation_seeds  # every phase ran, the estimation too
    url = storages()
    with pytest.raises(Interrupt):
        derive_into(tmp_path, url, stop_after(label, k))
    resumed = derive_into(tmp_path, url)
    (recipe, evidence), d = straight
    assert resumed.candidate == d.candidate
    assert files(resumed) == (recipe, evidence)


def test_a_proposal_interrupted_while_drawn_is_asked_again_as_it_would_have_been(tmp_path, storages, straight,
                                                                                monkeypatch):
    drawn = optuna.Trial.suggest_float

    def interrupted(trial, name, *args, **kwargs):
        if name == "lr" and trial.number == 4 and not stopped:
            stopped.append(trial.number)
            raise Interrupt("while drawing")
        return drawn(trial, name, *args, **kwargs)

    stopped: list[int] = []
    monkeypatch.setattr(optuna.Trial, "suggest_float", interrupted)
    url = storages()
    with pytest.raises(Interrupt):
        derive_into(tmp_path, url)
    resumed = derive_into(tmp_path, url)
    assert stopped and files(resumed) == straight[0]
