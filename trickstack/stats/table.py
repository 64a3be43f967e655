"""The runs table: one row per training run, the single table every statistic of trickstack reads.

Built here and nowhere else, from run records (`trickstack.core.records.RunRecord`, or the same as a
JSON dict, as a study stores them). Its columns, in order:

=================  ============================================================================
``trial``          the Optuna trial (job) that ran it; only for runs of a study
``phase``          ``eval`` (evidence), or the phase of a study job that tuned or searched
``arm``            the stack's name (`trickstack.core.stacks.arm_name`)
``seed``           the paired seed: same initialisation and data order in every arm
``on.<trick>``     whether each trick of the study is on
``<trick>.<p>``    the resolved value of each parameter of the tricks on (studies only)
``nuisance.<n>``   the nuisance values the run used (learning rate, ...)
``metric``         the evaluation metric's name; ``value``: its final value (None if diverged)
``train_loss``     last training loss
``diverged``       the loss became NaN or infinite; the run has no value
``flops``, ``steps``, ``budget``, ``budget_unit``, ``train_seconds``, ``eval_seconds``: what it spent
``cpu``, ``torch_threads``  the hardware it ran on (from its provenance; None for a record without one)
=================  ============================================================================

>>> from trickstack.core.records import RunRecord
>>> runs_table({}).empty
True
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping, Optional, Sequence, Union

import pandas as pd

from trickstack.core.records import RunRecord

Record = Union[RunRecord, Mapping[str, Any]]


def row(record: Record, arm: str, phase: str = "eval", tricks: Sequence[str] = (), trial: Optional[int] = None,
        params: bool = False) -> dict[str, Any]:
    """One row of the runs table for ``record``; ``tricks`` are the study's (one ``on.`` column each),
    ``params`` adds the ``<trick>.<param>`` columns."""
    r = record.model_dump(mode="json") if isinstance(record, RunRecord) else record
    on = {t["name"] for t in r["tricks"]}
    out: dict[str, Any] = {} if trial is None else {"trial": trial}
    out.update({"phase": phase, "arm": arm, "seed": r["seed"]})
    out.update({f"on.{t}": t in on for t in tricks})
    if params:
        for t in r["tricks"]:
            out.update({f"{t['name']}.{k}": v for k, v in t["params"].items()})
    out.update({f"nuisance.{k}": v for k, v in r["nuisance"].items()})
    m = r["metrics"]
    out.update({"metric": m["eval_metric"], "value": m["eval_value"], "train_loss": m["train_loss"],
                "diverged": r["diverged"], "flops": r["flops"], "steps": r["steps"],
                "budget": r["budget"]["value"], "budget_unit": r["budget"]["unit"],
                "train_seconds": r["train_seconds"], "eval_seconds": r["eval_seconds"]})
    provenance = r.get("provenance") or {}
    out.update({"cpu": provenance.get("cpu"), "torch_threads": provenance.get("torch_threads")})
    return out


def runs_table(arms: Mapping[str, Iterable[Record]], tricks: Sequence[str] = ()) -> pd.DataFrame:
    """The evaluation runs of several arms (``arm name -> records``) as the runs table."""
    return pd.DataFrame([row(r, arm, tricks=tricks) for arm, records in arms.items() for r in records])
