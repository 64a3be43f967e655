"""A stack of tricks as an arm of a study, and its one name.

An arm is the set of tricks that are on; its name is ``"baseline"`` for the empty set, else the
sorted trick names joined by ``+``. Every table, study and page names arms this way, through
`arm_name` and `parse_arm` only.
"""

from __future__ import annotations

from typing import Iterable

from trickstack.core.errors import UserError

Arm = frozenset[str]
BASELINE = "baseline"


def arm_name(arm: Iterable[str]) -> str:
    """A stable, human-readable name: ``"baseline"`` or the sorted tricks joined by ``+``.

    >>> arm_name(frozenset()), arm_name(frozenset({"swa", "mixup"}))
    ('baseline', 'mixup+swa')
    """
    return "+".join(sorted(arm)) or BASELINE


def parse_arm(name: str) -> Arm:
    """The inverse of `arm_name`.

    >>> sorted(parse_arm("mixup+swa")), parse_arm("baseline")
    (['mixup', 'swa'], frozenset())
    """
    if name == BASELINE:
        return frozenset()
    parts = name.split("+")
    if "" in parts or len(set(parts)) != len(parts) or BASELINE in parts:
        raise UserError(f"malformed arm name {name!r}: expected 'baseline' or distinct trick names joined by '+'")
    return frozenset(parts)
