"""A recipe names files (``recipe.base``, ``provenance.evidence``) only inside its own recipes folder, and only
regular files: ``base = "/dev/urandom"`` made ``recipe check`` read for ever (issue 21)."""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path

import pytest
from leaderboard_fixtures import make_recipes
from test_recipes import R2016, R2018, squash, write

from trickstack.core.errors import UserError
from trickstack.recipes.recipe import linked_file, load_recipe, recipes_folder, recipes_root, resolve


@contextlib.contextmanager
def deadline(seconds: int):
    """Fail the test, rather than hang the suite, if the block has not finished in ``seconds``."""
    def expired(*_):
        raise TimeoutError(f"still running after {seconds} s: the command reads a file that never ends")
    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def one_error(code: int, err: str) -> str:
    flat = squash(err)
    assert code == 2 and flat.count("error:") == 1 and "Traceback" not in err, err
    return flat


@pytest.fixture
def recipes(tmp_path) -> Path:
    write(tmp_path, "mnist1d/2016.toml", R2016)
    return tmp_path / "mnist1d"


def test_the_recipes_folder_is_above_the_workloads_folder_or_the_files_own(tmp_path):
    assert recipes_folder(tmp_path / "mnist1d" / "2019.toml", "mnist1d") == tmp_path.resolve()
    assert recipes_folder(tmp_path / "mnist1d" / "seconds" / "2026.toml", "mnist1d", "seconds") == tmp_path.resolve()
    assert recipes_folder(tmp_path / "loose" / "mine.toml", "mnist1d") == (tmp_path / "loose").resolve()


@pytest.mark.parametrize("base", ["/dev/urandom", "/etc/hostname", "../../outside.toml"])
def test_a_base_outside_the_recipes_folder_is_refused_at_once(recipes, cli, base):
    write(recipes.parent.parent, "outside.toml", R2016)
    path = write(recipes, "2018.toml", R2018.replace('base = "2016"', f'base = "{base}"'))
    with deadline(20):
        code, out, err = cli("recipe", "check", str(path))
    flat = one_error(code, err)
    assert squash(f"{path}: recipe.base = '{base}'") in flat and "outsidetherecipesfolder" in flat, err


def test_a_base_that_is_a_link_out_of_the_folder_is_refused(recipes, cli, tmp_path_factory):
    elsewhere = write(tmp_path_factory.mktemp("elsewhere"), "2015.toml", R2016.replace("2016", "2015"))
    (recipes / "2015.toml").symlink_to(elsewhere)
    path = write(recipes, "2018.toml", R2018.replace('base = "2016"', 'base = "2015"'))
    code, _, err = cli("recipe", "check", str(path))
    assert "outsidetherecipesfolder" in one_error(code, err)


@pytest.mark.parametrize("kind", ["fifo", "folder"])
def test_a_base_that_is_not_a_regular_file_is_refused(recipes, cli, kind):
    target = recipes / "2015.toml"
    os.mkfifo(target) if kind == "fifo" else target.mkdir()
    path = write(recipes, "2018.toml", R2018.replace('base = "2016"', 'base = "2015"'))
    with deadline(20):  # a pipe nobody writes to blocks its reader for ever
        code, _, err = cli("recipe", "check", str(path))
    flat = one_error(code, err)
    assert squash(f"{path}: recipe.base = '2015'") in flat and "notaregularfile" in flat, err


def test_a_base_inside_the_folder_or_shipped_still_resolves(recipes, tmp_path):
    path = write(recipes, "2018.toml", R2018)
    assert resolve(load_recipe(path)).stack == ["label_smoothing", "mixup"]
    shipped = sorted(p for p in (recipes_root() / "mnist1d").glob("*.toml"))[0]
    own = write(tmp_path / "mine" / "mnist1d", f"{int(shipped.stem) + 1}.toml",
                R2016.replace("2016", str(int(shipped.stem) + 1)).replace("summary", f'base = "{shipped.stem}"\nsummary'))
    assert linked_file(own, "mnist1d", "flops", str(shipped), "recipe.base") == shipped  # the shipped recipes are allowed


@pytest.mark.parametrize("evidence", ["/dev/zero", "../../../../../../../../etc/passwd"])
def test_evidence_outside_the_recipes_folder_is_refused_by_seal_and_leaderboard(cli, tmp_path, evidence):
    root = make_recipes(tmp_path / "recipes", years=(2016,))
    recipe = root / "synthetic" / "2016.toml"
    recipe.write_text(recipe.read_text().replace('evidence = "2016.runs.jsonl"', f'evidence = "{evidence}"'))
    with deadline(20):
        for args in (["recipe", "seal", str(recipe)],
                     ["leaderboard", "--recipes", str(root), "--out", str(tmp_path / "site")]):
            code, _, err = cli(*args)
            flat = one_error(code, err)
            assert squash(f"provenance.evidence = '{evidence}'") in flat and "outsidetherecipesfolder" in flat, err
    assert not (tmp_path / "site").exists()


def test_a_spec_that_is_a_pipe_is_refused_not_waited_on(cli, tmp_path):
    spec = tmp_path / "spec.toml"
    os.mkfifo(spec)
    with deadline(20):
        code, _, err = cli("ablate", str(spec), "--storage", f"sqlite:///{tmp_path / 's.db'}")
    assert "notaregularfile" in one_error(code, err)


def test_the_library_error_names_the_key_not_a_flag(recipes):
    with pytest.raises(UserError, match=r"recipe\.base = '/dev/urandom'"):
        linked_file(recipes / "2018.toml", "mnist1d", "flops", "/dev/urandom", "recipe.base")
