"""Flag values turned into the library's types; errors get the flag's name."""

from __future__ import annotations

import re
from typing import Callable, Optional

from trickstack.core.budget import Budget, check_fraction
from trickstack.core.errors import UserError
from trickstack.trial.devices import resolve_device
from trickstack.trial.runner import parse_overrides
from trickstack.trial.trackers import Tracker

FRACTION = re.compile(r"(?P<x>[0-9.eE+-]+)x")  # "--budget 0.25x": a fraction of the reference budget


def budget_flag(text: Optional[str], unit: str, reference: Callable[[], Budget]) -> Optional[Budget]:
    """``--budget``: ``None`` (none given), ``"0.25x"`` (a fraction of the reference budget, in FLOPs) or an
    amount of ``unit``.

    >>> budget_flag("0.25x", "flops", lambda: Budget("flops", 4e10)), budget_flag("3e9", "flops", lambda: None)
    (Budget(unit='flops', value=10000000000.0), Budget(unit='flops', value=3000000000.0))
    """
    if text is None:
        return None
    match = FRACTION.fullmatch(text.strip())
    try:
        if match is None:
            return Budget.parse(text, unit)
        if unit != "flops":
            raise UserError(f"a fraction of the reference budget is for FLOPs only (the reference budget is a FLOP "
                            f"count); with --budget-unit {unit} give a number of {unit}")
        try:
            fraction = float(match["x"])
        except ValueError:
            raise UserError(f"cannot read {match['x']!r} as a fraction, e.g. 0.25x") from None
        check_fraction(fraction)  # before the reference budget is measured (it loads the data)
    except UserError as error:
        raise UserError(f"--budget {text}: {error}") from None
    measured = reference()  # its errors are the workload's (its data, its cache), not the flag's
    try:
        return measured.scaled(fraction)
    except UserError as error:
        raise UserError(f"--budget {text}: {error}") from None


def set_flags(pairs: list[str], workload, stack: list[str], where: str) -> dict:
    """``--set`` pairs as validated overrides of ``stack`` (named ``where`` in messages)."""
    try:
        return parse_overrides(pairs, workload, stack, where)
    except UserError as error:
        raise UserError(f"--set {error}") from None


def tracker_flags(texts: list[str]) -> tuple[Tracker, ...]:
    """``--tracker`` values, each parsed and its package checked now (before any training); errors name the flag."""
    trackers = []
    for text in texts:
        try:
            tracker = Tracker.parse(text)
            tracker.require()
        except UserError as error:
            raise UserError(f"--tracker {text}: {error}") from None
        trackers.append(tracker)
    return tuple(trackers)


def device_flag(text: str, resolve: bool = False) -> str:
    """``--device``: checked against this machine now (a device it lacks is an error naming the flag);
    returned as given, so ``auto`` and ``cuda`` can still spread a study's workers over several GPUs, or
    with ``resolve`` as the one device it means (``cpu``, ``cuda:N``, ``mps``)."""
    try:
        resolved = resolve_device(text)
    except UserError as error:
        raise UserError(f"--device {text}: {error}") from None
    return resolved if resolve else text
