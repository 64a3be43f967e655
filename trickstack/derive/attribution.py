"""What a derived recipe is made of: the attribution runs (its tricks' subsets, for Shapley values) and the
negative results (each trick not kept, added back on top of the recipe), and what they say."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Optional, Sequence

from trickstack.ablations.designs import factorial, shapley_arms
from trickstack.core.errors import UserError
from trickstack.core.records import ResolvedRecipe
from trickstack.core.stacks import arm_name
from trickstack.derive.config import Config, describe
from trickstack.derive.search import Runs
from trickstack.stats import analysis, rules
from trickstack.stats.compare import compare
from trickstack.stats.table import runs_table
from trickstack.tricks.registry import check_compatible, get_trick
from trickstack.workloads import Workload

FACTORIAL_UP_TO = 4  # attribution: all 2^k subsets of the recipe's tricks up to k = 4 (16 arms) ...
ORDERS = 4  # ... beyond, the prefixes of 4 random orders (sampled Shapley: about 2 + 4(k-1) arms)


def subsets(tricks: list[str], orders: int) -> tuple[list[frozenset], Optional[list]]:
    """The attribution arms of a recipe's tricks: every subset up to `FACTORIAL_UP_TO` tricks (orders
    None), else the prefixes of ``orders`` random orders (and the orders)."""
    if len(tricks) <= FACTORIAL_UP_TO:
        return factorial(tricks), None
    arms, drawn = shapley_arms(tricks, orders, seed=0)
    return arms, [list(o) for o in drawn]


def followups(wl: Workload, recipe: Config, prev: Optional[ResolvedRecipe], candidates: list[str], tried: list[Config],
               orders: int, system: Sequence[str] = ()) -> tuple[list[Config], dict[str, Config], dict[str, str]]:
    """Attribution subsets of ``recipe``; each trick not kept added back on top of it (the negative
    results: the tricks new since the previous recipe, and those it removed), by trick; and the tricks
    left out because they cannot be stacked on the recipe, with why."""
    tricks = sorted(recipe.arm)
    arms = [recipe.subset(sorted(s)) for s in subsets(tricks, orders)[0]]
    since = prev.year if prev else -math.inf
    prev_stack = {t.name: t.params for t in prev.tricks} if prev else {}
    negatives, skipped = {}, {}
    for t in candidates:
        if t in recipe.arm or not (get_trick(t).year > since or t in prev_stack):
            continue
        problem = check_compatible([*tricks, t], wl.provides, wl.name, wl.includes, system)
        if problem:
            skipped[t] = problem
            continue
        # its values: the previous recipe's, else those of the best configuration tried with it, else defaults
        with_it = next((c for c in tried if t in c.arm), None)
        if t in prev_stack:
            values = prev_stack[t]
        else:
            values = {k.split(".", 1)[1]: v for k, v in with_it.params.items() if k.startswith(f"{t}.")} if with_it else {}
        info = get_trick(t)
        keep = {p.name for p in info.params if p.searchable or values.get(p.name, p.default) != p.default}
        negatives[t] = recipe.plus(t, {k: v for k, v in {**info.defaults, **values}.items() if k in keep})
    return arms, negatives, skipped


@dataclass
class Found:
    """What the study found, for writing the recipe."""

    wl: Any
    year: int
    prev: Optional[ResolvedRecipe]
    config: Config  # the year's recipe
    candidate: Config  # the configuration tested against the previous recipe
    accepted: bool
    test: dict[str, float]
    runs: Runs
    seeds: list[int]
    orders: int
    negatives: dict[str, Config]
    skipped: dict[str, str]
    tried: int
    confirmation: Optional[dict] = None  # provenance.confirmation of a sequential confirmation
    estimation_seeds: list[int] = field(default_factory=list)  # fresh seeds run after the acceptance
    fresh: Optional[dict] = None  # the paired test on them (`trickstack.derive.search.estimation`)


def shapley_reasons(f: Found) -> dict[str, str]:
    """``"; Shapley +0.012 accuracy (95% CI ...) in the recipe"`` per trick, from the attribution runs."""
    tricks = sorted(f.config.arm)
    arms_of, orders = subsets(tricks, f.orders)
    arms = {arm_name(s): f.runs.of(f.config.subset(sorted(s)), f.seeds) for s in arms_of}
    try:
        table = runs_table(arms, tuple(tricks))
        values = (analysis.shapley_exact(table, tricks, f.wl.direction) if orders is None
                  else analysis.shapley_sampled(table, orders, f.wl.direction)).values
    except UserError:  # an arm with no finished run: the leaderboard page says why
        return {}
    return {r.trick: f"; Shapley {r.shapley:+.3g} {f.wl.metric} in the recipe (95% CI {r.ci_low:+.3g} to {r.ci_high:+.3g})"
            for r in values.itertuples() if math.isfinite(r.shapley) and math.isfinite(r.ci_low)}


def removed_reason(f: Found, name: str) -> str:
    """Why the recipe no longer has trick ``name`` of the previous one."""
    if name in f.skipped:
        return f"left out by the search: {f.skipped[name]}"
    c = compare(f.runs.of(f.negatives[name], f.seeds), f.runs.of(f.config, f.seeds), f.wl.direction)
    return (f"no longer helps: adding it back gives {c['gain']:+.3g} {f.wl.metric} (95% CI {c['low']:+.3g} to "
            f"{c['high']:+.3g}, {c['n_pairs']} paired seeds)")


def beating(f: Found) -> dict[str, dict[str, float]]:
    """The negative results that beat the recipe by the leaderboard's rule (`trickstack.stats.rules.passes`) on the
    evaluation seeds, by the stack described, with their paired test. The follow-up runs found them on the seeds
    the recipe was chosen on, after the choice: a stack to confirm on fresh seeds, never accepted from these."""
    out = {}
    for config in f.negatives.values():
        c = compare(f.runs.of(config, f.seeds), f.runs.of(f.config, f.seeds), f.wl.direction)
        if c["gain"] > 0 and rules.passes(c):
            out[describe(config)] = c
    return out
