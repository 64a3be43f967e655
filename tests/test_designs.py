"""Ablation designs: arm counts, uniqueness, resolution of the fractions, Shapley prefixes, refusals."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import trickstack.ablations.designs as designs
from trickstack.ablations.designs import (
    MAX_ARMS,
    design_matrix,
    exclude_conflicting,
    factorial,
    fractional,
    generate,
    greedy_candidates,
    leave_one_out,
    one_at_a_time,
    resolution,
    shapley_arms,
)
from trickstack.core.errors import UserError
from trickstack.core.stacks import arm_name, parse_arm

NAME = st.text("abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=8).filter(lambda s: s != "baseline")


def tricks(max_size):
    return st.lists(NAME, unique=True, max_size=max_size)


def names(k):
    return [f"t{i}" for i in range(k)]


def check_arms(arms, given_tricks):
    """Arms are unique and use only the given tricks."""
    assert len(set(arms)) == len(arms)
    assert all(isinstance(a, frozenset) and a <= set(given_tricks) for a in arms)


@given(tricks(8), st.data())
def test_arm_name_round_trips(ts, data):
    arm = frozenset(data.draw(st.lists(st.sampled_from(ts), unique=True)) if ts else [])
    assert parse_arm(arm_name(arm)) == arm
    assert (arm_name(arm) == "baseline") == (not arm)


@pytest.mark.parametrize("bad", ["", "a++b", "a+a", "+a", "a+baseline"])
def test_parse_arm_rejects_malformed_names(bad):
    with pytest.raises(UserError, match="malformed arm name"):
        parse_arm(bad)


@given(tricks(12))
def test_one_at_a_time_and_leave_one_out(ts):
    k = len(ts)
    oat, loo = one_at_a_time(ts), leave_one_out(ts)
    assert len(oat) == len(loo) == k + 1
    check_arms(oat, ts)
    check_arms(loo, ts)
    assert oat[0] == frozenset() and sorted(len(a) for a in oat[1:]) == [1] * k
    assert loo[0] == frozenset(ts) and all(len(a) == k - 1 for a in loo[1:])


@given(tricks(8))
def test_factorial_is_every_subset_smallest_first(ts):
    arms = factorial(ts)
    assert len(arms) == 2 ** len(ts)
    check_arms(arms, ts)
    assert arms[0] == frozenset() and arms[-1] == frozenset(ts)
    assert [len(a) for a in arms] == sorted(len(a) for a in arms)


# Runs of the smallest resolution-V fraction, from the standard tables (Montgomery, Table 8.14);
# k <= 4 has no resolution-V fraction, so it is the full factorial.
RUNS_AT_V = {1: 2, 2: 4, 3: 8, 4: 16, 5: 16, 6: 32, 7: 64, 8: 64, 9: 128, 10: 128, 11: 128, 12: 256}


@pytest.mark.parametrize("k", sorted(RUNS_AT_V))
def test_fractional_reaches_resolution_five_in_the_fewest_runs(k):
    ts = names(k)
    arms = fractional(ts)
    check_arms(arms, ts)
    assert len(arms) == RUNS_AT_V[k]
    assert len(arms) & (len(arms) - 1) == 0  # a power of two
    matrix = design_matrix(arms, ts)
    assert resolution(matrix) >= 5
    if len(arms) < 2**k:  # a true fraction: every trick on in exactly half the arms
        assert np.all(matrix.sum(axis=0) == 0)
        assert resolution(matrix) < math.inf
    else:
        assert resolution(matrix) == math.inf
    assert arms[0] == frozenset()  # the baseline is always run


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 12), st.sampled_from([3, 4]))
def test_fractional_at_resolution_three_and_four_matches_the_known_optimum(k, res):
    # Known exactly: 2^m runs hold 2^m - 1 factors at resolution III and 2^(m-1) at resolution IV.
    capacity = (lambda m: 2**m - 1) if res == 3 else (lambda m: 2 ** (m - 1))
    m = next(m for m in range(1, k + 1) if capacity(m) >= k or m == k)
    arms = fractional(names(k), resolution=res)
    check_arms(arms, names(k))
    assert len(arms) == 2**m
    assert resolution(design_matrix(arms, names(k))) >= res


@pytest.mark.parametrize("res", [6, 7])
@pytest.mark.parametrize("k", range(1, 10))
def test_fractional_at_higher_resolutions_keeps_the_baseline(k, res):
    arms = fractional(names(k), resolution=res)
    check_arms(arms, names(k))
    assert resolution(design_matrix(arms, names(k))) >= res
    assert arms[0] == frozenset()


@pytest.mark.parametrize("res", [3, 4, 5, 6])
def test_fractional_size_check_matches_what_fits(res):
    # The up-front refusal is exact through resolution VI: the last k it lets through fits in
    # MAX_ARMS runs, the next is refused.
    most = designs._most_factors(MAX_ARMS.bit_length() - 1, res)
    assert len(fractional(names(most), resolution=res)) <= MAX_ARMS
    with pytest.raises(UserError, match=f"over {most + 1} tricks at resolution {res} needs more than {MAX_ARMS}"):
        fractional(names(most + 1), resolution=res)


def test_oversize_fractional_is_refused_before_it_is_built(monkeypatch):
    def no_building(*args):
        raise AssertionError("the fraction was being built")

    monkeypatch.setattr(designs, "fracfact_by_res", no_building)
    for k, res in [(20, 5), (18, 5), (300, 3), (129, 4), (13, 6), (40, 9)]:
        with pytest.raises(UserError, match=f"over {k} tricks at resolution {res} needs more than {MAX_ARMS} arms"):
            fractional(names(k), resolution=res)


def test_fractional_rejects_resolution_below_three():
    with pytest.raises(UserError, match="at least 3"):
        fractional(names(4), resolution=2)


@pytest.mark.parametrize(
    "columns, expected",
    [
        (["a", "b"], math.inf),  # full factorial
        (["a", "b", "ab"], 3),
        (["a", "b", "-ab"], 3),  # a word whose product is constantly -1 counts too
        (["a", "b", "c", "abc"], 4),
        (["a", "b", "c", "d", "abcd"], 5),
        (["a", "b", "c", "d", "ab", "cd"], 3),  # I = abe = cdf = abcdef: the shortest word decides
        (["a", "b", "c", "d", "abc", "bcd"], 4),
    ],
)
def test_resolution_of_known_designs(columns, expected):
    from pydoe import fracfact

    assert resolution(fracfact(" ".join(columns))) == expected


def test_resolution_sees_a_constant_column():
    assert resolution(np.array([[1, -1], [1, 1]])) == 1


@settings(max_examples=60, deadline=None)
@given(tricks(8), st.integers(1, 10), st.integers(0, 2**32 - 1))
def test_shapley_arms_are_the_prefixes_of_the_orders(ts, permutations, seed):
    k = len(ts)
    arms, orders = shapley_arms(ts, permutations, seed)
    check_arms(arms, ts)
    assert len(orders) == permutations and all(sorted(o) == sorted(ts) for o in orders)
    prefixes = {frozenset(o[:i]) for o in orders for i in range(k + 1)}
    assert set(arms) == prefixes  # every prefix, and nothing else
    assert arms[0] == frozenset() and frozenset(ts) in arms
    assert k + 1 <= len(arms) <= min(2**k, 2 + permutations * max(k - 1, 0)) or k == 0
    assert shapley_arms(ts, permutations, seed) == (arms, orders)  # seeded: reproducible


def test_shapley_seeds_give_different_orders():
    assert shapley_arms(names(6), 4, seed=0)[1] != shapley_arms(names(6), 4, seed=1)[1]


def test_shapley_needs_a_permutation():
    with pytest.raises(UserError, match="permutations"):
        shapley_arms(names(3), 0, seed=0)


@given(tricks(10), st.data())
def test_greedy_candidates_add_one_remaining_trick(ts, data):
    current = frozenset(data.draw(st.lists(st.sampled_from(ts), unique=True)) if ts else [])
    remaining = [t for t in ts if t not in current]
    candidates = greedy_candidates(current, remaining)
    assert len(candidates) == len(remaining)
    check_arms(candidates, ts)
    assert all(c > current and len(c) == len(current) + 1 for c in candidates)


def test_greedy_candidates_refuse_a_trick_already_on():
    with pytest.raises(UserError, match="already in the current arm 'ema'"):
        greedy_candidates(frozenset({"ema"}), ["ema", "mixup"])


def test_conflicting_and_unsupported_arms_are_excluded_with_the_reason():
    arms = factorial(["ema", "swa", "mixup"])  # ema and swa conflict in the registry
    kept, excluded = exclude_conflicting(arms, ["classification"], "mnist1d")
    assert [arm_name(a) for a, _ in excluded] == ["ema+swa", "ema+mixup+swa"]
    assert all("'ema' and 'swa' conflict" in reason for _, reason in excluded)
    assert len(kept) == 6 and all(not {"ema", "swa"} <= a for a in kept)

    kept, excluded = exclude_conflicting(arms, [], "regression")  # mixup requires classification
    assert [arm_name(a) for a in kept] == ["baseline", "ema", "swa"]
    assert "requires classification" in dict(excluded)[frozenset({"mixup"})]


def test_generate_dispatches_to_each_design():
    ts = names(5)
    assert generate("one-at-a-time", ts) == one_at_a_time(ts)
    assert generate("leave-one-out", ts) == leave_one_out(ts)
    assert generate("factorial", ts) == factorial(ts)
    assert generate("fractional", ts, resolution=3) == fractional(ts, 3)
    assert generate("shapley", ts, permutations=3, seed=7) == shapley_arms(ts, 3, 7)[0]


def test_generate_names_the_known_designs():
    with pytest.raises(UserError) as error:
        generate("factorail", names(3))
    message = str(error.value)
    assert "did you mean: factorial" in message
    for design in ("one-at-a-time", "leave-one-out", "factorial", "fractional", "shapley"):
        assert design in message


def test_oversize_factorial_is_refused_before_it_is_built(monkeypatch):
    def no_enumeration(*args):
        raise AssertionError("the arms were being built")

    monkeypatch.setattr(designs, "combinations", no_enumeration)
    with pytest.raises(UserError) as error:
        generate("factorial", names(20))
    message = str(error.value)
    assert "1,048,576 arms" in message and f"MAX_ARMS={MAX_ARMS}" in message
    assert "'fractional'" in message and "'shapley'" in message


@pytest.mark.parametrize(
    "design, k, options, size",
    [
        ("fractional", 20, {}, "more than 256"),  # resolution V over 20 tricks needs 512 runs
        ("shapley", 20, {"permutations": 50}, "952"),
        ("one-at-a-time", 300, {}, "301"),
        ("leave-one-out", 300, {}, "301"),
    ],
)
def test_other_oversize_designs_are_refused(design, k, options, size):
    with pytest.raises(UserError, match=f"over {k} tricks.* needs {size} arms"):
        generate(design, names(k), **options)


def test_largest_designs_that_fit_are_built():
    assert len(generate("factorial", names(8))) == MAX_ARMS
    assert len(generate("fractional", names(15))) == MAX_ARMS  # 2^(15-7), resolution V
    assert len(generate("fractional", names(17))) == MAX_ARMS  # 2^(17-9), the most that fit at V


@pytest.mark.parametrize("design", ["one-at-a-time", "leave-one-out", "factorial", "fractional", "shapley"])
def test_duplicate_tricks_are_refused(design):
    with pytest.raises(UserError, match="listed more than once: ema"):
        generate(design, ["ema", "mixup", "ema"])


def test_design_matrix_codes_arms_and_refuses_strangers():
    matrix = design_matrix([frozenset(), frozenset({"b"}), frozenset({"a", "b"})], ["a", "b"])
    assert matrix.tolist() == [[-1, -1], [-1, 1], [1, 1]]
    assert design_matrix([], ["a", "b"]).shape == (0, 2)
    with pytest.raises(UserError, match="outside the design: c"):
        design_matrix([frozenset({"a", "c"})], ["a", "b"])
