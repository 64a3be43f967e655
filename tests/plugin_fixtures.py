"""Fake entry points of the group ``trickstack.tricks``, so tests install plugins without pip.

    def test_x(plugins):
        plugins(FakeEntryPoint("my_trick", "my_pkg:TRICK", lambda: TRICK_INFO))
        get_trick("my_trick")
"""

import pytest

from trickstack.tricks import registry
from trickstack.tricks.registry import list_tricks


class FakeDist:
    def __init__(self, name: str, version: str):
        self.name, self.version = name, version


class FakeEntryPoint:
    """What `importlib.metadata.entry_points` yields: a name, a value, its distribution and `load()`."""

    def __init__(self, name: str, value: str, load, dist: FakeDist = FakeDist("acme-tricks", "1.2.3")):
        self.name, self.value, self.dist, self._load = name, value, dist, load
        self.group = registry.ENTRY_POINT_GROUP

    def load(self):
        return self._load()


@pytest.fixture
def plugins(monkeypatch):
    """Install fake entry points: ``plugins(ep, ...)``; the registry reloads them, built-ins kept."""
    list_tricks()  # the real registry is loaded first, so restoring it afterwards leaves it whole
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    monkeypatch.setattr(registry, "_FAILED", {}, raising=False)
    monkeypatch.setattr(registry, "_CLASHES", {}, raising=False)
    monkeypatch.setattr(registry, "_loaded", False)

    def install(*eps):
        monkeypatch.setattr(registry, "entry_points", lambda group: [ep for ep in eps if ep.group == group])

    return install
