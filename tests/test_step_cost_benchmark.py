"""`python -m trickstack.benchmarks.step_cost` in a tiny mode: it prints microseconds per step of the hand-written
loop, of trickstack and their difference for each tensor count asked (the figures, not their values)."""

from __future__ import annotations

import re

from trickstack.benchmarks import interference, step_cost, step_parts


def test_the_benchmark_prints_a_row_of_figures_per_tensor_count(capsys):
    step_cost.main(["--tensors", "2", "30", "--steps", "3", "--repeats", "1"])
    out = capsys.readouterr().out
    number = r" *(-?\d+\.\d)"
    rows = {int(m[0]): m[1:] for m in re.findall(rf"^ +(\d+){number * 8}$", out, re.M)}
    assert sorted(rows) == [2, 30], out
    for figures in rows.values():
        hand_wall, hand_cpu, ours_wall, ours_cpu, diff_wall, diff_cpu, _, _ = map(float, figures)
        assert hand_wall > 0 and ours_wall > 0 and abs(diff_wall - (ours_wall - hand_wall)) < 0.11
        assert abs(diff_cpu - (ours_cpu - hand_cpu)) < 0.11
    assert "3 steps of 32, median of 1" in out and f"at most {step_cost.GOAL_US} us" in out


def test_the_model_has_the_tensors_asked_for():
    for n in (1, 10, 1000):
        model = step_cost.workload(n).build_model()
        assert len(list(model.parameters())) == n


def test_the_breakdown_accounts_for_each_loop_step(capsys):
    step_cost.main(["--tensors", "3", "--steps", "4", "--repeats", "1", "--breakdown"])
    out = capsys.readouterr().out.split("3 tensors: microseconds per step by part")[1]
    rows = {m[0]: tuple(map(float, m[1:])) for m in re.findall(r"^ *(\S.*?) +(-?\d+\.\d) +(-?\d+\.\d) +(-?\d+\.\d)$", out, re.M)}
    parts = [part for part, _, _ in step_parts.PARTS] + [step_parts.REST]
    assert list(rows) == [*parts, "step"], out
    for part in ("forward", "loss", "backward", "SGD update", "zero_grad"):  # both loops train, through the same calls
        assert rows[part][0] > 0 and rows[part][1] > 0, part
    assert rows["events"][0] == 0 < rows["events"][1]  # the hand-written loop runs no Composer event
    assert rows[step_parts.REST][0] > 0 and rows[step_parts.REST][1] > 0  # the parts are disjoint: none counted twice
    assert all(abs(h + d - t) < 0.11 for h, t, d in rows.values())


def test_the_interference_benchmark_prints_a_row_per_amount_of_added_work(capsys):
    interference.main(["--tensors", "2", "--work", "0", "50", "--steps", "5", "--repeats", "1"])
    out = capsys.readouterr().out
    rows = {int(m[0]): tuple(map(float, m[1:])) for m in re.findall(r"^ +(\d+) +(\d+\.\d) +(\d+\.\d) +(\d+\.\d)$", out, re.M)}
    assert sorted(rows) == [0, 50], out
    assert rows[50][0] > rows[0][0]  # walking 50 dicts takes longer than walking none
    assert all(forward > 0 and backward > 0 for _, forward, backward in rows.values())
