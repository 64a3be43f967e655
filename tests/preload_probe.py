"""A worker-process target that imports nothing of trickstack: it reports whether Composer was already
imported when the process began (see tests/test_engine_workers.py)."""

import sys


def composer_was_loaded(queue) -> None:
    queue.put("composer" in sys.modules and "trickstack.ablations.worker" in sys.modules)


def workload_was_loaded(queue, name: str) -> None:
    """Whether the workload ``name``'s data was in memory when the process began (loaded by the fork server)."""
    registry = sys.modules.get("trickstack.workloads")
    queue.put(registry is not None and "splits" in vars(registry._REGISTRY.get(name, object())))


def trainer_env_was_read(queue) -> None:
    """Whether Composer's version and commit hash, which every Trainer logs, and the records' provenance were
    read, and Composer's speed patches applied, by the fork server."""
    patches, records = sys.modules.get("trickstack.trial.composer_patches"), sys.modules.get("trickstack.core.records")
    queue.put(patches is not None and sorted(patches._env_items) == ["composer_commit_hash", "composer_version"]
              and records is not None and records._static_provenance.cache_info().currsize == 1
              and patches.PATCHES[0].owner.__dict__[patches.PATCHES[0].name] is patches.PATCHES[0].replacement)


def collector_frozen(queue) -> None:
    """Whether the fork server froze its objects out of the collector's walks (see trickstack.ablations.preload)."""
    import gc

    queue.put(gc.get_freeze_count() > 100_000)
