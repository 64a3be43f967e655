"""Flag values turned into the library's types; errors get the flag's name."""

from __future__ import annotations

import re
from typing import Callable, Optional

from trickstack.core.budget import Budget, check_fraction
from trickstack.core.errors import UserError
from trickstack.core.system import check_precision
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


def precision_flag(text: Optional[str]) -> Optional[str]:
    """``--precision``: ``fp32`` or ``bf16`` (None: not given)."""
    try:
        return None if text is None else check_precision(text)
    except UserError as error:
        raise UserError(f"--precision {text}: {error}") from None


def study_system(spec, precision: Optional[str], compile: Optional[bool]):
    """``spec`` (a `StudySpec`) with ``--precision`` and ``--compile/--no-compile`` applied: a flag fills in a setting
    the spec leaves out; one that differs from the spec's own is an error naming both (a study trains alike)."""
    s = spec.study
    given = {"precision": (precision, f"--precision {precision}"),
             "compile": (compile, "--compile" if compile else "--no-compile")}
    update = {}
    for key, (value, flag) in given.items():
        if value is None:
            continue
        if key in s.model_fields_set and getattr(s, key) != value:
            raise UserError(f"{flag} differs from study.{key} = {getattr(s, key)!r} in {spec.source}: every run of a "
                            "study trains alike; change the spec or leave the flag out")
        update[key] = value
    return spec.model_copy(update={"study": s.model_copy(update=update)}) if update else spec


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
