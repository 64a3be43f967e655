"""trickstack: measure how small training tricks add up, honestly.

The public API is re-exported lazily so that ``import trickstack`` stays cheap; Composer (several
seconds to import) loads on first use of the registry or the runner.
"""

from importlib import import_module
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("trickstack")
except PackageNotFoundError:  # pragma: no cover - running from a source tree that is not installed
    __version__ = "0.0.0"

_EXPORTS = {
    "Budget": "trickstack.core.budget",
    "Param": "trickstack.core.params",
    "Citation": "trickstack.tricks.registry",
    "TrickInfo": "trickstack.tricks.registry",
    "register_trick": "trickstack.tricks.registry",
    "list_tricks": "trickstack.tricks.registry",
    "get_trick": "trickstack.tricks.registry",
    "Workload": "trickstack.workloads",
    "register_workload": "trickstack.workloads",
    "list_workloads": "trickstack.workloads",
    "get_workload": "trickstack.workloads",
    "run_trial": "trickstack.trial.runner",
    "RunRecord": "trickstack.core.records",
    "UserError": "trickstack.core.errors",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'trickstack' has no attribute {name!r}")
