"""Statistics of paired runs: the comparison rules, paired tests, effects, Shapley values, power.

Depends on the core only: it reads tables of runs, never a study or a trainer.
"""
