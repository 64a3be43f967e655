"""`python -m trickstack.benchmarks.step_cost` in a tiny mode: it prints microseconds per step of the hand-written
loop, of trickstack and their difference for each tensor count asked (the figures, not their values)."""

from __future__ import annotations

import re

from trickstack.benchmarks import step_cost


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
