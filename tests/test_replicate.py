"""Fresh-seed replications (issue 23): `trickstack replicate` runs a recipe, its previous recipe and the baseline
on seeds its derivation never used, resumes like a study, and writes a sealed file that the leaderboard reads,
checks and shows beside the claim."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

import pytest
import tomlkit
from leaderboard_fixtures import TRUTH, make_recipes

from trickstack.ablations.storage import drop_memory
from trickstack.core.budget import Budget
from trickstack.core.errors import UserError
from trickstack.derive.derive import DeriveOptions, derive
from trickstack.derive.replicate import parse_seeds, replicate
from trickstack.leaderboard import board as lb
from trickstack.leaderboard import replications as reps
from trickstack.leaderboard.site import write_site
from trickstack.recipes.replication import load_replication, manifests


@pytest.fixture
def storage():
    url = f"memory://{uuid.uuid4().hex}"
    yield url
    drop_memory(url)


@pytest.fixture(scope="module")
def replicated(tmp_path_factory):
    """The fixtures' synthetic recipes, synthetic/2018 replicated on seeds 100..109."""
    root = make_recipes(tmp_path_factory.mktemp("recipes"))
    url = f"memory://{uuid.uuid4().hex}"
    try:
        r = replicate(root / "synthetic" / "2018.toml", range(100, 110), storage=url, truth=TRUTH)
    finally:
        drop_memory(url)
    return root, r


def copy(root: Path, to: Path) -> Path:
    shutil.copytree(root, to)
    return to


def edit(path: Path, **changes) -> None:
    doc = tomlkit.parse(path.read_text())
    doc["replication"].update(changes)
    path.write_text(tomlkit.dumps(doc))


def test_a_replication_runs_the_claims_comparison_on_fresh_seeds_and_writes_a_sealed_file(replicated):
    root, r = replicated
    assert r.name == "synthetic/2018" and r.reference == "synthetic/2016" and r.seeds == list(range(100, 110))
    assert r.test["n_pairs"] == 10 and r.test["low"] > 0  # the planted gain (+0.01) shows on fresh seeds too
    m = load_replication(r.manifest_path)
    assert r.manifest_path.parent == root / "synthetic" / "2018.replications" and m.evidence == r.runs_path.name
    assert m.recipe == "synthetic/2018" and m.seeds == r.seeds and len(m.evidence_sha256) == 64
    lines = r.runs_path.read_text().splitlines()
    assert len(lines) == 30  # the recipe, synthetic/2016 and the baseline, 10 seeds each


def test_a_replication_resumes_without_training_again_and_writes_the_same_bytes(tmp_path, storage, monkeypatch):
    root = make_recipes(tmp_path / "recipes", years=(2016,))
    truth = {**TRUTH, "effects": {"label_smoothing": 0.03, "cosine_schedule": 0.01}, "interactions": {}}  # 2016's tricks
    first = replicate(root / "synthetic" / "2016.toml", range(100, 106), storage=storage, truth=truth)
    before = first.runs_path.read_bytes()
    from trickstack.ablations import worker

    def no_training(*args, **kwargs):
        raise AssertionError("a finished replication trained again")

    monkeypatch.setattr(worker, "run_job", no_training)
    again = replicate(root / "synthetic" / "2016.toml", range(100, 106), storage=storage, truth=truth)
    assert again.runs_path.read_bytes() == before and again.test == first.test


@pytest.mark.parametrize("seeds, message", [
    ("3:13", "seeds 3, 4, 5 were used by the derivation of synthetic/2018"),
    ("1000:1010", "seeds 1000 were used by the derivation"),  # the search's seed
    ("100:103", "3 seed(s); a replication needs at least 5"),
    ("a:b", "give START:STOP"),
    ("100,100,101,102,103", "each seed once"),
])
def test_seeds_the_derivation_used_or_too_few_are_refused(cli, tmp_path, seeds, message):
    root = make_recipes(tmp_path / "recipes", years=(2016, 2018))
    code, out, err = cli("replicate", str(root / "synthetic" / "2018.toml"), "--seeds", seeds)
    flat = " ".join(err.split())
    assert code == 2 and flat.count("error:") == 1 and message in flat, err
    assert not (root / "synthetic" / "2018.replications").exists()


def test_a_carried_forward_or_hand_written_recipe_is_not_replicated(tmp_path):
    root = make_recipes(tmp_path / "recipes")
    with pytest.raises(UserError, match="carried forward .*replicate that one"):
        replicate(root / "synthetic" / "2019.toml", range(100, 110))
    hand = tmp_path / "hand" / "synthetic" / "2016.toml"
    hand.parent.mkdir(parents=True)
    hand.write_text('[recipe]\nworkload = "synthetic"\nyear = 2016\nsummary = "s"\n')
    with pytest.raises(UserError, match="hand-written recipe .* no derivation to replicate"):
        replicate(hand, range(100, 110))


def test_parse_seeds():
    assert parse_seeds("100:105") == [100, 101, 102, 103, 104] and parse_seeds("1,2,3,4,9") == [1, 2, 3, 4, 9]


def test_the_leaderboard_shows_the_replication_beside_the_claim(replicated, tmp_path):
    root, r = replicated
    board = lb.build(root).boards["synthetic"]
    row = board.table.set_index("entry").loc["synthetic/2018"]
    assert row.replications == 1 and row.replicated_n_pairs == 10
    assert row.replicated_gain == pytest.approx(r.test["gain"]) and row.replicated_verdict == reps.REPLICATED
    assert row.replicated_ratio == pytest.approx(r.test["gain"] / row.gain_prev)
    assert board.table.set_index("entry").loc["synthetic/2016"].replications == 0
    written = write_site(lb.build(root), tmp_path / "site")
    index = (tmp_path / "site" / "index.html").read_text()
    assert "replicated on fresh seeds" in index and f"{r.test['gain']:+.4f}" in index and "not replicated yet" in index
    assert any(p.name == r.runs_path.name for p in written)  # the replication's runs are published with the site


def test_several_replications_are_pooled_a_seed_counted_once(replicated, tmp_path):
    root = copy(replicated[0], tmp_path / "recipes")
    manifest = manifests(root / "synthetic" / "2018.toml")[0]
    runs = manifest.with_name(load_replication(manifest).evidence)
    second = manifest.with_name("2027-01-01-elsewhere.toml")
    shutil.copyfile(manifest, second)
    shutil.copyfile(runs, second.with_suffix(".runs.jsonl"))
    edit(second, evidence=second.with_suffix(".runs.jsonl").name)
    row = lb.build(root).boards["synthetic"].table.set_index("entry").loc["synthetic/2018"]
    assert row.replications == 2 and row.replicated_n_pairs == 10  # the same seeds twice: counted once
    assert row.replicated_spread_low == row.replicated_spread_high == pytest.approx(row.replicated_gain)


def test_a_replication_whose_interval_excludes_the_claim_is_marked(replicated, tmp_path):
    root = copy(replicated[0], tmp_path / "recipes")
    board = lb.build(root).boards["synthetic"]
    row = board.table.set_index("entry").loc["synthetic/2018"].to_dict()
    entry = next(e for e in board.entries if e.name == "synthetic/2018")
    assert reps.pooled(entry.replications, row["replicated_high"] + 1.0, "maximize")["replicated_verdict"] == reps.EXCLUDES_CLAIM
    assert reps.pooled(entry.replications, row["replicated_gain"], "minimize")["replicated_verdict"] == reps.NOT_SIGNIFICANT
    from trickstack.leaderboard.tables import replicated_cell

    marked = {**row, **reps.pooled(entry.replications, row["replicated_high"] + 1.0, "maximize"), "status": "new best"}
    assert replicated_cell(marked).startswith("✗ not replicated: the fresh-seed interval excludes the claimed gain")


def _damage_runs(folder: Path) -> None:
    runs = next(folder.glob("*.runs.jsonl"))
    runs.write_text(runs.read_text().replace('"seed":100', '"seed":100 ', 1))


@pytest.mark.parametrize("damage, message", [
    (_damage_runs, "the replication was edited after it was written"),
    (lambda f: edit(next(f.glob("*.toml")), budget={"unit": "flops", "value": 2e9}), "replicated at 2e+09 flops"),
    (lambda f: edit(next(f.glob("*.toml")), recipe="synthetic/2016"), "a replication of synthetic/2016 among those of"),
    (lambda f: edit(next(f.glob("*.toml")), seeds=[0, 1, 2, 3, 4, 100, 101, 102, 103, 104, 105, 106, 107, 108, 109]),
     "seeds 0, 1, 2, 3, 4 were used by the derivation of synthetic/2018"),
    (lambda f: edit(next(f.glob("*.toml")), seeds=[100, 101, 102, 103, 104]), "a run of seed 105"),
    (lambda f: edit(next(f.glob("*.toml")), bogus=1), "bogus: Extra inputs are not permitted"),
])
def test_a_bad_or_tampered_replication_is_refused_naming_the_file(replicated, cli, tmp_path, damage, message):
    root = copy(replicated[0], tmp_path / "recipes")
    damage(root / "synthetic" / "2018.replications")
    code, _, err = cli("leaderboard", "--recipes", str(root), "--out", str(tmp_path / "site"))
    flat = " ".join(err.split())
    assert code == 2 and flat.count("error:") == 1 and message in flat and "2018.replications" in flat, err
    assert not (tmp_path / "site").exists()


def test_a_time_track_replication_timed_on_other_hardware_is_refused(tmp_path, storage):
    truth = {"baseline": 0.5, "seed_noise": 0.02, "run_noise": 0.002, "effects": {"label_smoothing": 0.05}}
    url = f"memory://{uuid.uuid4().hex}"
    try:
        d = derive("synthetic", 2016, DeriveOptions(budget=Budget("seconds", 5.0), track="seconds", trials=4,
                                                    tricks=("label_smoothing",)), truth=truth, storage=url,
                   recipes=tmp_path)
    finally:
        drop_memory(url)
    assert d.accepted
    r = replicate(d.path, range(100, 110), storage=storage, truth=truth)
    assert lb.build(tmp_path).boards["synthetic/seconds"].table.set_index("entry").loc["synthetic/seconds/2016"].replications == 1
    edit(r.manifest_path, hardware="NVIDIA H200 (GPU)")
    with pytest.raises(UserError, match=r"timed on NVIDIA H200 \(GPU\), but synthetic/seconds/2016 was timed on"):
        lb.build(tmp_path)


def test_a_replication_of_other_seeds_on_the_same_day_and_hardware_is_never_replaced(tmp_path, storage):
    root = make_recipes(tmp_path / "recipes", years=(2016,))
    truth = {**TRUTH, "effects": {"label_smoothing": 0.03, "cosine_schedule": 0.01}, "interactions": {}}
    first = replicate(root / "synthetic" / "2016.toml", range(100, 105), storage=storage, truth=truth)
    before = first.runs_path.read_bytes(), first.manifest_path.read_bytes()
    second = replicate(root / "synthetic" / "2016.toml", range(200, 205), storage=storage, truth=truth)
    third = replicate(root / "synthetic" / "2016.toml", range(300, 305), storage=storage, truth=truth)
    assert (first.runs_path.read_bytes(), first.manifest_path.read_bytes()) == before  # kept as it was
    assert second.manifest_path.name == first.manifest_path.name.replace(".toml", "-2.toml")  # numbered, after
    assert third.manifest_path.name == first.manifest_path.name.replace(".toml", "-3.toml")  # its training
    assert sorted(load_replication(m).seeds[0] for m in manifests(root / "synthetic" / "2016.toml")) == [100, 200, 300]
    again = replicate(root / "synthetic" / "2016.toml", range(200, 205), storage=storage, truth=truth)
    assert again.manifest_path == second.manifest_path  # the same seeds again: resumed into their own file
    row = lb.build(root).boards["synthetic"].table.set_index("entry").loc["synthetic/2016"]
    assert row.replications == 3 and row.replicated_n_pairs == 15
