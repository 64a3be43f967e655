"""Trust under hostile data and cache variables (issue 21): a ``$TRICKSTACK_DATA_DIR`` whose
``tinyshakespeare.txt`` is empty, binary, too short or another text, and a ``$TRICKSTACK_CACHE`` that is a
file or read-only, are one message naming the file or the variable, exit code 2, before anything trains."""

from __future__ import annotations

import pytest
from shakespeare_fixture import ALPHABET
from test_hostile_input import one_error

from trickstack.workloads import get_workload
from trickstack.workloads import shakespeare_char as sc

CORPORA = {
    "empty": (b"", "is empty"),
    "binary": (bytes(range(256)) * 40, "is not UTF-8 text"),
    "short": (ALPHABET.encode() * 2, f"holds only {2 * len(ALPHABET)} characters"),
    "another text": ((ALPHABET + "0123456789()[]{}<>").encode() * 100, f"has {len(ALPHABET) + 18} distinct characters"),
}


@pytest.fixture
def fresh_data():
    """Each workload reads its data again in the test (cached splits dropped before and after)."""
    workloads = [get_workload(name) for name in ("shakespeare-char", "mnist1d")]
    saved = [w.__dict__.pop("splits", None) for w in workloads]
    yield
    for w, splits in zip(workloads, saved):
        w.__dict__.pop("splits", None)
        if splits is not None:
            w.__dict__["splits"] = splits


@pytest.mark.parametrize("kind", list(CORPORA))
def test_a_bad_corpus_in_the_data_dir_is_one_message_naming_the_file(cli, tmp_path, monkeypatch, fresh_data, kind):
    data, message = CORPORA[kind]
    (tmp_path / "data").mkdir()
    corpus = tmp_path / "data" / sc.FILENAME
    corpus.write_bytes(data)
    monkeypatch.setenv(sc.DATA_DIR_ENV, str(tmp_path / "data"))
    monkeypatch.setenv("TRICKSTACK_CACHE", str(tmp_path / "cache"))
    code, _, err = cli("run", "--workload", "shakespeare-char", "--budget", "0.01x")  # past the budget check, if cached
    flat = one_error(code, err)
    assert message in flat and str(corpus) in flat.replace(" ", ""), flat


def ablate_spec(tmp_path) -> str:
    spec = tmp_path / "tiny.toml"
    spec.write_text('[study]\nname = "tiny"\nworkload = "mnist1d"\nbudget = { flops = 5e8 }\nseeds = 1\n'
                    'design = "one-at-a-time"\ntricks = ["label_smoothing"]\n')
    return str(spec)


@pytest.mark.parametrize("command", ["run", "ablate"])
def test_a_cache_variable_naming_a_file_is_one_message(cli, tmp_path, monkeypatch, fresh_data, command):
    (tmp_path / "a-file").write_text("not a folder\n")
    monkeypatch.setenv("TRICKSTACK_CACHE", str(tmp_path / "a-file"))
    args = ["run", "--budget", "0.01x"] if command == "run" else [
        "ablate", ablate_spec(tmp_path), "--storage", f"sqlite:///{tmp_path / 's.db'}"]
    code, _, err = cli(*args)
    flat = one_error(code, err)
    assert "TRICKSTACK_CACHE" in flat and "is a file, not a folder" in flat and "--budget" not in flat, flat


@pytest.mark.parametrize("command", ["run", "ablate"])
def test_a_read_only_cache_is_one_message(cli, tmp_path, monkeypatch, fresh_data, disk, command):
    disk.read_only()
    try:
        monkeypatch.setenv("TRICKSTACK_CACHE", str(disk.path / "cache"))
        args = ["run", "--budget", "0.01x"] if command == "run" else [
            "ablate", ablate_spec(tmp_path), "--storage", f"sqlite:///{tmp_path / 's.db'}"]
        code, _, err = cli(*args)
        flat = one_error(code, err)
        assert "TRICKSTACK_CACHE" in flat and "Read-only file system" in flat, flat
    finally:
        disk.writable()

