"""Getting Tiny Shakespeare on a fresh machine: found locally, else downloaded with the standard library
into the cache and kept only when its sha256 is the published one. Tested up to the network boundary
(`shakespeare_char._urlopen` serves fake bytes or fails), never by downloading."""

from __future__ import annotations

import hashlib
import io
import urllib.error

import pytest
from shakespeare_fixture import real_corpus_or_skip

from trickstack.core.errors import UserError
from trickstack.workloads import shakespeare_char as sc

SERVED = b"A stand-in for the corpus: two short lines of text.\nIts digest plays the published one where a test says so.\n"


@pytest.fixture
def fresh_machine(tmp_path, monkeypatch):
    """No data dir, no ``../shared/data``, an empty cache: the corpus can only be downloaded."""
    monkeypatch.delenv(sc.DATA_DIR_ENV, raising=False)
    monkeypatch.setenv("TRICKSTACK_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(sc, "default_data_dir", lambda: tmp_path / "no-shared-data")
    return tmp_path / "cache"


def serve(monkeypatch, body: bytes) -> list:
    """Answer every download with ``body``; return the list of URLs asked for."""
    asked = []

    def fake_urlopen(url):
        asked.append(url)
        return io.BytesIO(body)

    monkeypatch.setattr(sc, "_urlopen", fake_urlopen)
    return asked


def test_the_served_file_with_the_published_digest_is_kept_in_the_cache_and_read(fresh_machine, monkeypatch):
    monkeypatch.setattr(sc, "SHA256", hashlib.sha256(SERVED).hexdigest())  # these bytes play the published file
    asked = serve(monkeypatch, SERVED)
    assert sc.read_text() == SERVED.decode()
    assert asked == [sc.URL]
    assert sorted(p.name for p in fresh_machine.iterdir()) == ["hf-datasets", sc.FILENAME]  # no partial file left
    assert (fresh_machine / sc.FILENAME).read_bytes() == SERVED
    assert sc.corpus_file() == fresh_machine / sc.FILENAME and asked == [sc.URL]  # found in the cache: no second download


def test_a_served_file_with_another_digest_is_refused_naming_both_and_not_kept(fresh_machine, monkeypatch):
    serve(monkeypatch, SERVED)  # the real published digest is not this text's
    with pytest.raises(UserError) as error:
        sc.corpus_file()
    assert hashlib.sha256(SERVED).hexdigest() in str(error.value) and sc.SHA256 in str(error.value)
    assert list(fresh_machine.iterdir()) == []  # neither the file nor its partial download


def test_a_network_error_says_where_to_put_the_file(fresh_machine, monkeypatch):
    def offline(url):
        raise urllib.error.URLError("[Errno -2] Name or service not known")

    monkeypatch.setattr(sc, "_urlopen", offline)
    with pytest.raises(UserError, match=rf"downloading {sc.URL} failed \(URLError.*put it at "
                                        rf"{fresh_machine / sc.FILENAME}, or set {sc.DATA_DIR_ENV}"):
        sc.corpus_file()
    assert list(fresh_machine.iterdir()) == []


def test_a_clone_without_shared_data_or_network_skips_the_real_corpus_tests_with_the_reason(fresh_machine, monkeypatch):
    monkeypatch.setattr(sc, "_urlopen", lambda url: (_ for _ in ()).throw(urllib.error.URLError("offline")))
    with pytest.raises(pytest.skip.Exception, match=rf"needs the real Tiny Shakespeare: .*{sc.DATA_DIR_ENV}"):
        real_corpus_or_skip()


def test_the_download_goes_through_the_standard_library(monkeypatch):
    """The real opener is urllib's (fsspec's HTTP filesystem needed aiohttp, which is not installed)."""
    opened = []
    monkeypatch.setattr(sc.urllib.request, "urlopen", lambda url, timeout: opened.append((url, timeout)) or io.BytesIO())
    sc._urlopen(sc.URL)
    assert opened == [(sc.URL, sc.DOWNLOAD_TIMEOUT)]


def test_the_real_corpus_served_is_kept_with_the_published_digest(tmp_path, monkeypatch):
    """The published digest and size are the real file's (read from ``../shared/data`` when it is there)."""
    real = sc.default_data_dir() / sc.FILENAME
    if not real.is_file():
        pytest.skip(f"no real corpus at {real} to serve")
    monkeypatch.setenv("TRICKSTACK_CACHE", str(tmp_path))
    serve(monkeypatch, real.read_bytes())
    path = sc.download()
    assert path == tmp_path / sc.FILENAME and path.stat().st_size == 1_115_394
