"""Each year's confirmation on seeds of its own (issue 23): runs are deterministic, so re-running the previous
recipe on the seeds that got it accepted reproduces those very runs and carries their luck into the next year."""

from __future__ import annotations

import html
import uuid

import pytest
from leaderboard_fixtures import make_recipes
from test_recipe_derive import HARMFUL, STRONG, run

from trickstack.ablations.engine import ablate
from trickstack.ablations.export import tidy
from trickstack.ablations.spec import StudySpec
from trickstack.ablations.storage import drop_memory
from trickstack.core.errors import UserError
from trickstack.leaderboard import board as lb
from trickstack.leaderboard.site import render_rules
from trickstack.leaderboard.tables import reused_seed_lines


@pytest.fixture
def storage():
    url = f"memory://{uuid.uuid4().hex}"
    yield url
    drop_memory(url)


def test_each_year_is_confirmed_on_seeds_no_earlier_year_used(tmp_path, storage):
    first = run(tmp_path / "recipes", 2016, STRONG, storage)
    second = run(tmp_path / "recipes", 2018, HARMFUL, f"{storage}-2018")
    drop_memory(f"{storage}-2018")
    assert first.accepted and first.estimation_seeds  # an accepted year also ran fresh seeds after its acceptance
    assert first.seeds[0] == 0 and second.seeds[0] == max(first.seeds + first.estimation_seeds) + 1
    assert not set(first.seeds + first.estimation_seeds) & set(second.seeds)
    board = lb.build(tmp_path / "recipes").boards["synthetic"]
    assert reused_seed_lines(board.entries[-1]) == []  # nothing to say: its seeds are its own
    assert "every earlier year's evaluation and estimation seeds" in html.unescape(render_rules(lb.build(tmp_path / "recipes")))


def test_a_year_confirmed_on_its_previous_recipes_seeds_says_so(tmp_path):
    board = lb.build(make_recipes(tmp_path / "recipes", years=(2016, 2018))).boards["synthetic"]
    (line,) = reused_seed_lines(board.entries[-1])
    assert line.startswith("evaluation seeds 0, 1, 2, 3, 4, 5 were also synthetic/2016's") and "very runs" in line


SPEC = """[study]
name = "offset"
workload = "synthetic"
budget = { flops = 1e9 }
seeds = 2
first_seed = 50
design = "one-at-a-time"
tricks = ["ema"]
[synthetic]
effects = { ema = 0.01 }
"""


def test_a_study_evaluates_on_its_first_seed_and_after(storage):
    study = ablate(StudySpec.from_toml_text(SPEC, source="offset.toml"), storage).study
    assert sorted(set(tidy(study).query("phase == \"eval\"").seed)) == [50, 51]
    with pytest.raises(UserError, match="study.first_seed"):
        ablate(StudySpec.from_toml_text(SPEC.replace("first_seed = 50", "first_seed = 60"), source="offset.toml"), storage)
    with pytest.raises(UserError, match="first_seed"):
        StudySpec.from_toml_text(SPEC.replace("first_seed = 50", "first_seed = 2000000"), source="offset.toml")
