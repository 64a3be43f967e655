"""The arms of an ablation study: which tricks are switched on in each run.

An arm is a frozenset of trick names; the baseline is the empty set. Each generator is pure and
deterministic, returns unique arms (baseline first where it is present), and refuses up front a
design with more than `MAX_ARMS` arms, so nobody materialises 2^20 arms by accident::

    >>> [arm_name(a) for a in generate("one-at-a-time", ["mixup", "ema"])]
    ['baseline', 'mixup', 'ema']
"""

from __future__ import annotations

import math
from itertools import combinations
from typing import Callable, Mapping, Sequence

import numpy as np
from pydoe import fracfact_by_res

from trickstack.core.errors import UserError, close_matches
from trickstack.core.stacks import Arm, arm_name

MAX_ARMS = 256  # each arm costs (seeds x tuning trials) training runs; beyond this, sample instead


def _unique(tricks: Sequence[str]) -> list[str]:
    tricks = list(tricks)
    duplicates = sorted({t for t in tricks if tricks.count(t) > 1})
    if duplicates:
        raise UserError(f"tricks must be distinct; listed more than once: {', '.join(duplicates)}")
    return tricks


def _refuse_oversize(design: str, k: int, count: int | None, hint: str = "") -> None:
    """``count=None`` means "more than MAX_ARMS, not worth computing exactly"."""
    if count is None or count > MAX_ARMS:
        size = f"more than {MAX_ARMS}" if count is None else f"{count:,}"
        raise UserError(
            f"design {design!r} over {k} tricks{hint} needs {size} arms, more than MAX_ARMS={MAX_ARMS}; "
            "use 'fractional' (a fraction of the factorial) or 'shapley' (sampled orders) instead"
        )


def _by_size(arms: Sequence[Arm], tricks: Sequence[str]) -> list[Arm]:
    """Baseline first, then by number of tricks, then in the order the tricks were given."""
    position = {t: i for i, t in enumerate(tricks)}
    return sorted(arms, key=lambda a: (len(a), sorted(position[t] for t in a)))


def one_at_a_time(tricks: Sequence[str]) -> list[Arm]:
    """The baseline and each trick alone: k+1 arms.

    >>> [arm_name(a) for a in one_at_a_time(["mixup", "ema"])]
    ['baseline', 'mixup', 'ema']
    """
    tricks = _unique(tricks)
    _refuse_oversize("one-at-a-time", len(tricks), len(tricks) + 1)
    return [frozenset()] + [frozenset({t}) for t in tricks]


def leave_one_out(tricks: Sequence[str]) -> list[Arm]:
    """The full stack and the full stack minus each trick: k+1 arms (Rainbow-style ablation).

    >>> [arm_name(a) for a in leave_one_out(["mixup", "ema"])]
    ['ema+mixup', 'ema', 'mixup']
    """
    tricks = _unique(tricks)
    _refuse_oversize("leave-one-out", len(tricks), len(tricks) + 1)
    full = frozenset(tricks)
    return [full] + [full - {t} for t in tricks]


def factorial(tricks: Sequence[str]) -> list[Arm]:
    """Every subset of the tricks: 2^k arms, smallest first.

    >>> [arm_name(a) for a in factorial(["mixup", "ema"])]
    ['baseline', 'mixup', 'ema', 'ema+mixup']
    """
    tricks = _unique(tricks)
    _refuse_oversize("factorial", len(tricks), 2 ** len(tricks))
    arms = [frozenset(c) for r in range(len(tricks) + 1) for c in combinations(tricks, r)]
    return _by_size(arms, tricks)


# Most factors a regular resolution-V design in 2^m runs can carry (the longest binary linear code
# with m parity checks and minimum distance 5; Draper & Mitchell 1968, Montgomery Table 8.14).
_MOST_AT_V = {1: 1, 2: 2, 3: 3, 4: 5, 5: 6, 6: 8, 7: 11, 8: 17}


def _most_factors(m: int, res: int) -> int:
    """How many factors a regular two-level design in 2^m runs can carry at resolution >= ``res``:
    exact at resolutions III to VI while m <= 8, an upper bound otherwise. Cheap, so an oversize
    fraction is refused before it is built.

    >>> [_most_factors(8, res) for res in (3, 4, 5, 6)]
    [255, 128, 17, 12]
    """
    if m < 1:
        return 0
    if res <= 3:
        return 2**m - 1  # saturated: every non-zero column of GF(2)^m
    if res == 4:
        return 2 ** (m - 1)  # fold-over of the saturated resolution III design
    if res == 5 and m in _MOST_AT_V:
        return _MOST_AT_V[m]
    if res % 2 == 0:  # an even resolution is the odd one below plus one parity column
        return _most_factors(m - 1, res - 1) + 1
    t = (res - 1) // 2  # sphere packing: the sums of <= t columns are distinct, so fit in 2^m
    n = m
    while sum(math.comb(n + 1, j) for j in range(t + 1)) <= 2**m:
        n += 1
    return n


def fractional(tricks: Sequence[str], resolution: int = 5) -> list[Arm]:
    """The smallest regular two-level fraction of resolution >= ``resolution`` (default V: main
    effects and two-way interactions are aliased only with interactions of three or more tricks).
    Column signs are chosen so that the baseline is always one of the arms. When no fraction
    reaches the resolution (k <= 4 at resolution V) this is the full factorial.

    The fraction comes from `pydoe.fracfact_by_res`, which checks the resolution of the whole
    defining relation and uses the fewest runs (Montgomery, Table 8.14).

    >>> arms = fractional(list("abcde"))
    >>> len(arms), arm_name(arms[0]), resolution(design_matrix(arms, list("abcde")))
    (16, 'baseline', 5)
    """
    tricks = _unique(tricks)
    if resolution < 3:
        raise UserError(f"resolution must be at least 3 (main effects unaliased), got {resolution}")
    k = len(tricks)
    hint = f" at resolution {resolution}"
    if k > _most_factors(MAX_ARMS.bit_length() - 1, resolution):
        _refuse_oversize("fractional", k, None, hint)
    if k < 2:  # fracfact_by_res wants two factors; one or none is its own full factorial
        return factorial(tricks)
    try:
        matrix = fracfact_by_res(k, resolution)
    except ValueError:  # pydoe gave up searching: only far beyond the sizes that fit
        matrix = None
    if matrix is None or len(matrix) > MAX_ARMS:  # the bound above is not exact at resolution VII+
        _refuse_oversize("fractional", k, None, hint)
    # Flipping a column's sign keeps the design and its resolution (a word's product only changes
    # sign); flipping every column that is on in the first row makes that row the baseline.
    rows = matrix * -matrix[0] > 0
    return _by_size([frozenset(t for t, on in zip(tricks, row) if on) for row in rows], tricks)


def design_matrix(arms: Sequence[Arm], tricks: Sequence[str]) -> np.ndarray:
    """The ±1 coded design: one row per arm, one column per trick (+1 = on).

    >>> design_matrix([frozenset(), frozenset({"ema"})], ["mixup", "ema"])
    array([[-1, -1],
           [-1,  1]])
    """
    tricks = _unique(tricks)
    unknown = sorted(set().union(*arms) - set(tricks)) if arms else []
    if unknown:
        raise UserError(f"arms use tricks outside the design: {', '.join(unknown)}")
    return np.array([[1 if t in arm else -1 for t in tricks] for arm in arms], dtype=int).reshape(len(arms), len(tricks))


def resolution(matrix: np.ndarray) -> float:
    """The resolution of a two-level design: the size of the smallest set of columns whose
    elementwise product is the same (+1 or -1) in every row; ``math.inf`` when there is none
    (a full factorial). Brute force, meant for checking designs of up to ~15 columns.

    >>> resolution(design_matrix(factorial(["a", "b"]), ["a", "b"]))
    inf
    >>> resolution(np.array([[-1, -1, 1], [-1, 1, -1], [1, -1, -1], [1, 1, 1]]))  # c = ab
    3
    """
    matrix = np.asarray(matrix)
    for r in range(1, matrix.shape[1] + 1):
        for cols in combinations(range(matrix.shape[1]), r):
            product = matrix[:, cols].prod(axis=1)
            if np.all(product == product[0]):
                return r
    return math.inf


def shapley_arms(tricks: Sequence[str], permutations: int, seed: int) -> tuple[list[Arm], list[tuple[str, ...]]]:
    """Arms for Monte-Carlo Shapley values: every prefix of ``permutations`` random orders.

    A trick's Shapley value is its mean gain when added after the tricks before it in a random
    order. Arms shared by several orders appear once, so each is trained once and reused.

    >>> arms, orders = shapley_arms(["mixup", "ema", "swa"], permutations=2, seed=0)
    >>> len(orders), arm_name(arms[0]), len(arms) <= 2 + 2 * (3 - 1)
    (2, 'baseline', True)
    """
    tricks = _unique(tricks)
    if permutations < 1:
        raise UserError(f"permutations must be at least 1, got {permutations}")
    k = len(tricks)
    bound = min(2 ** k, 2 + permutations * max(k - 1, 0)) if k else 1  # baseline, full stack, middles
    _refuse_oversize("shapley", k, bound, f" with {permutations} permutations")
    rng = np.random.default_rng(seed)
    orders = [tuple(tricks[i] for i in rng.permutation(k)) for _ in range(permutations)]
    arms = dict.fromkeys(frozenset(order[:i]) for order in orders for i in range(k + 1))
    return list(arms), orders


def greedy_candidates(current: Arm, remaining: Sequence[str]) -> list[Arm]:
    """The next step of a greedy (forward-selection) study: the current arm plus each remaining trick.

    >>> [arm_name(a) for a in greedy_candidates(frozenset({"ema"}), ["mixup", "sam"])]
    ['ema+mixup', 'ema+sam']
    """
    remaining = _unique(remaining)
    already = sorted(set(current) & set(remaining))
    if already:
        raise UserError(f"tricks already in the current arm {arm_name(current)!r}: {', '.join(already)}")
    return [frozenset(current) | {t} for t in remaining]


def exclude_conflicting(
    arms: Sequence[Arm], provides: Sequence[str], workload: str, includes: Mapping[str, str] | None = None,
    system: Sequence[str] = (),
) -> tuple[list[Arm], list[tuple[Arm, str]]]:
    """Split arms into those that can be stacked on the workload and those that cannot (with why), under the
    study's ``system`` settings (`trickstack.core.system.settings`).

    >>> kept, excluded = exclude_conflicting(factorial(["ema", "swa"]), ["classification"], "mnist1d")
    >>> [arm_name(a) for a in kept], excluded[0][1]
    (['baseline', 'ema', 'swa'], "tricks 'ema' and 'swa' conflict and cannot be stacked")
    """
    from trickstack.tricks.registry import (
        check_compatible,  # imports Composer: seconds, so only when needed
    )

    kept: list[Arm] = []
    excluded: list[tuple[Arm, str]] = []
    for arm in arms:
        reason = check_compatible(sorted(arm), provides, workload, includes, system)
        if reason is None:
            kept.append(arm)
        else:
            excluded.append((arm, reason))
    return kept, excluded


DESIGNS: dict[str, Callable[..., list[Arm]]] = {
    "one-at-a-time": lambda tricks, **_: one_at_a_time(tricks),
    "leave-one-out": lambda tricks, **_: leave_one_out(tricks),
    "factorial": lambda tricks, **_: factorial(tricks),
    "fractional": lambda tricks, resolution, **_: fractional(tricks, resolution),
    "shapley": lambda tricks, permutations, seed, **_: shapley_arms(tricks, permutations, seed)[0],
}


def generate(design: str, tricks: Sequence[str], *, resolution: int = 5, permutations: int = 8, seed: int = 0) -> list[Arm]:
    """The arms of a static design, by name; each design checks its size before building.

    >>> len(generate("fractional", list("abcdefgh")))
    64
    >>> generate("factorial", [f"t{i}" for i in range(20)])
    Traceback (most recent call last):
    ...
    trickstack.core.errors.UserError: design 'factorial' over 20 tricks needs 1,048,576 arms, more than MAX_ARMS=256; ...
    """
    if design not in DESIGNS:
        raise UserError(f"unknown design {design!r}{close_matches(design, DESIGNS)}; known designs: {', '.join(DESIGNS)}")
    return DESIGNS[design](tricks, resolution=resolution, permutations=permutations, seed=seed)
