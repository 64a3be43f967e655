"""A generated few-KB stand-in for Tiny Shakespeare: tests never read the real corpus."""

from __future__ import annotations

import contextlib
import random
from pathlib import Path

ALPHABET = "\n !',.:;?ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"  # 62 characters, all <= 65
N_CHARS = 6000


def write_text(directory: Path) -> str:
    """Write a random text where every character of `ALPHABET` occurs to ``directory/tinyshakespeare.txt``."""
    from trickstack.workloads.shakespeare_char import FILENAME

    rng = random.Random(0)
    text = ALPHABET + "".join(rng.choice(ALPHABET) for _ in range(N_CHARS - len(ALPHABET)))
    directory.mkdir(parents=True, exist_ok=True)
    (directory / FILENAME).write_text(text)
    return text


def use_text(monkeypatch, root: Path) -> str:
    """Write the text under ``root/data`` and point the workload (and datasets' cache) there."""
    from trickstack.workloads.shakespeare_char import DATA_DIR_ENV

    text = write_text(root / "data")
    monkeypatch.setenv(DATA_DIR_ENV, str(root / "data"))
    monkeypatch.setenv("TRICKSTACK_CACHE", str(root / "cache"))  # datasets' cache, out of the home dir
    return text


@contextlib.contextmanager
def generated_corpus(root: Path):
    """shakespeare-char reads the generated text inside the block; its cached splits are dropped after."""
    import pytest

    from trickstack.workloads import get_workload

    workload = get_workload("shakespeare-char")
    saved = workload.__dict__.pop("splits", None)
    with pytest.MonkeyPatch.context() as monkeypatch:
        use_text(monkeypatch, root)
        yield
    workload.__dict__.pop("splits", None)
    if saved is not None:
        workload.__dict__["splits"] = saved


def real_corpus_or_skip():
    """The real Tiny Shakespeare's path, found (data dir, ``../shared/data``, cache) or downloaded now;
    when it can be neither, the calling test is skipped with the reason (a fresh clone without network)."""
    import pytest

    from trickstack.core.errors import UserError
    from trickstack.workloads.shakespeare_char import corpus_file

    try:
        return corpus_file()
    except UserError as error:
        pytest.skip(f"needs the real Tiny Shakespeare: {error}")
