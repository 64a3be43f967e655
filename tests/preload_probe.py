"""A worker-process target that imports nothing of trickstack: it reports whether Composer was already
imported when the process began (see tests/test_engine_workers.py)."""

import sys


def composer_was_loaded(queue) -> None:
    queue.put("composer" in sys.modules and "trickstack.ablations.worker" in sys.modules)
