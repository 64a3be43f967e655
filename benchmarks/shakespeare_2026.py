"""shakespeare-char: a 2026 stack of tricks against the baseline recipe at its reference budget,
over 5 paired seeds (mean, sd, paired gain, 95% CI, one-sided p; the issue's goal: at least 0.10
nats better, p < 0.01).

The stack is a candidate, not yet the output of a search (`trickstack recipe derive` will find and
record the best one): the modded-nanogpt-style architecture changes (RMSNorm, rotary positions,
QK-norm, ReLU², untied embeddings, zero-initialised residual projections) and a
warm-up-stable-decay schedule, at the baseline's nuisance values.

    python -m trickstack.benchmarks.shakespeare_2026 [--seeds 5] [--records runs.jsonl]
"""

from trickstack.benchmarks.stack import main

STACK_2026 = ("qk_norm", "relu2", "rmsnorm", "rope", "untied_embeddings", "wsd", "zero_init_residual")

if __name__ == "__main__":
    main(workload="shakespeare-char", stack=STACK_2026)
