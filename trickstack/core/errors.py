"""Errors a user can cause. The CLI turns them into one message and exit code 2."""

from __future__ import annotations

import difflib
from typing import Iterable


class UserError(Exception):
    """Bad input from the user: an unknown name, a value out of range, a malformed option.

    The message names the culprit; the CLI prints it without a traceback and exits with code 2.
    """


class DataWarning(UserWarning):
    """Something in the user's files was found damaged and skipped (a journal line cut off mid-write).

    The CLI prints it as one ``warning:`` line on standard error; a Python caller gets a normal warning.
    """


class MetricNotFinite(UserError):
    """A run trained without diverging (its loss stayed finite) but its eval metric is NaN or infinite: the
    workload's metric is broken, not the run. A diverged run is a result (``diverged=True``); this is not."""


class RegistryError(UserError):
    """A trick or workload cannot be found, or a name is registered twice."""


def close_matches(name: str, candidates: Iterable[str]) -> str:
    """Return ``" (did you mean: a, b?)"`` for names close to ``name``, or an empty string."""
    matches = difflib.get_close_matches(name, list(candidates), n=3, cutoff=0.5)
    return f" (did you mean: {', '.join(matches)}?)" if matches else ""
