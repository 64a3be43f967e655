"""A worker-process target that imports nothing of trickstack: it reports whether Composer was already
imported when the process began (see tests/test_engine_workers.py)."""

import sys


def composer_was_loaded(queue) -> None:
    queue.put("composer" in sys.modules and "trickstack.ablations.worker" in sys.modules)


def workload_was_loaded(queue, name: str) -> None:
    """Whether the workload ``name``'s data was in memory when the process began (loaded by the fork server)."""
    registry = sys.modules.get("trickstack.workloads")
    queue.put(registry is not None and "splits" in vars(registry._REGISTRY.get(name, object())))
