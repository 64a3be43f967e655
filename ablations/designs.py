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
from typing import Callable, Sequence

import numpy as np
from pyDOE3 import fracfact

from trickstack.errors import UserError, close_matches

Arm = frozenset[str]
MAX_ARMS = 256  # each arm costs (seeds x tuning trials) training runs; beyond this, sample instead
BASELINE = "baseline"


def arm_name(arm: Arm) -> str:
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


def _fraction(k: int, res: int) -> tuple[int, list[int]] | None:
    """The smallest regular 2^(k-p) design of resolution >= ``res`` that fits in MAX_ARMS, as
    (m, columns) with m = k-p base factors; None when even the best one needs more arms.

    Column j is a bitmask over the base factors: factor j is the product of those factors. The
    resolution is reached when no ``res-1`` or fewer columns multiply to a constant, i.e. when no
    column is the XOR of ``res-2`` or fewer others. Candidates are tried lowest order first; this
    greedy choice matches the smallest run counts of the standard tables (e.g. Montgomery,
    *Design and Analysis of Experiments*, Table 8.14) at resolutions III-V for k <= 15.

    Hand-rolled because pyDOE3's `fracfact_by_res` is wrong: at resolution V it refuses k=5 and
    returns resolution IV designs for k=7..12 (fixed upstream in the renamed package ``pydoe``).
    """
    for m in range(k.bit_length(), min(k, MAX_ARMS.bit_length() - 1) + 1):
        columns: list[int] = []
        reach = [{0} for _ in range(res - 1)]  # reach[j]: XORs of at most j chosen columns
        for v in sorted(range(1, 2**m), key=lambda v: (v.bit_count(), v)):  # base factors first
            if len(columns) == k:
                break
            if v not in reach[-1]:
                columns.append(v)
                for j in range(res - 2, 0, -1):
                    reach[j] |= {s ^ v for s in reach[j - 1]}
        if len(columns) == k:
            return m, columns
    return None


def fractional(tricks: Sequence[str], resolution: int = 5) -> list[Arm]:
    """The smallest regular two-level fraction of resolution >= ``resolution`` (default V: main
    effects and two-way interactions are aliased only with interactions of three or more tricks).
    Generator signs are chosen so that the baseline is always one of the arms. When no fraction
    reaches the resolution (k <= 4 at resolution V) this is the full factorial.

    >>> arms = fractional(list("abcde"))
    >>> len(arms), arm_name(arms[0]), resolution(design_matrix(arms, list("abcde")))
    (16, 'baseline', 5)
    """
    tricks = _unique(tricks)
    if resolution < 3:
        raise UserError(f"resolution must be at least 3 (main effects unaliased), got {resolution}")
    k = len(tricks)
    found = _fraction(k, resolution)
    _refuse_oversize("fractional", k, found and 2 ** found[0], f" at resolution {resolution}")
    m, columns = found
    if m == k:
        return factorial(tricks)
    letters = "abcdefghijklmnopqrstuvwxyz"
    words = ["".join(letters[i] for i in range(m) if c >> i & 1) for c in columns]
    # -(product) for an even-length word: then the all-off row, the baseline, is in the fraction.
    rows = fracfact(" ".join(w if len(w) % 2 else "-" + w for w in words)) > 0
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


def exclude_conflicting(arms: Sequence[Arm], provides: Sequence[str], workload: str) -> tuple[list[Arm], list[tuple[Arm, str]]]:
    """Split arms into those that can be stacked on the workload and those that cannot (with why).

    >>> kept, excluded = exclude_conflicting(factorial(["ema", "swa"]), ["classification"], "mnist1d")
    >>> [arm_name(a) for a in kept], excluded[0][1]
    (['baseline', 'ema', 'swa'], "tricks 'ema' and 'swa' conflict and cannot be stacked")
    """
    from trickstack.registry import check_compatible  # imports Composer: seconds, so only when needed

    kept: list[Arm] = []
    excluded: list[tuple[Arm, str]] = []
    for arm in arms:
        reason = check_compatible(sorted(arm), provides, workload)
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
    trickstack.errors.UserError: design 'factorial' over 20 tricks needs 1,048,576 arms, more than MAX_ARMS=256; use 'fractional' (a fraction of the factorial) or 'shapley' (sampled orders) instead
    """
    if design not in DESIGNS:
        raise UserError(f"unknown design {design!r}{close_matches(design, DESIGNS)}; known designs: {', '.join(DESIGNS)}")
    return DESIGNS[design](tricks, resolution=resolution, permutations=permutations, seed=seed)
