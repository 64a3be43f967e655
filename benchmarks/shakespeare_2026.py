"""shakespeare-char: the 2026 integrated recipe (`recipes/shakespeare-char/2026.toml`, found by
`trickstack recipe derive` among the tricks known by 2026) against the baseline recipe at the
workload's reference budget, over 5 paired seeds: means, sd, paired gain, 95% CI and one-sided p
(the goal of the library issue: at least 0.10 nats better, p < 0.01).

The recipe was derived at a fraction of the reference budget (its provenance says which); this
measures whether its stack also wins at the full budget. ``--records`` shared with
`trickstack.benchmarks.shakespeare_baseline --records` reuses the baseline's runs.

    python -m trickstack.benchmarks.shakespeare_2026 [--seeds 5] [--records runs.jsonl]
"""

from trickstack.benchmarks.stack import main

if __name__ == "__main__":
    main(recipe="shakespeare-char/2026")
