"""Parameter overrides that make each trick's claimed change visible in a tiny MNIST-1D run.

One entry per registered trick (cf. Composer's ``tests/algorithms/algorithm_settings.py``); the
contract tests train each trick at about 150 baseline steps (~4 epochs of 40 batches) with these
settings and fail when a registered trick has no entry.
"""

from __future__ import annotations

SETTINGS: dict[str, dict] = {
    "label_smoothing": {},
    "mixup": {},
    "ema": {"half_life": "10ba"},  # short enough to trail the weights visibly over 150 steps
    "sam": {"interval": 2},  # alternate SAM and plain steps: exercises the cost key
    "swa": {"start": 0.5, "update_every": 1},
    "gradient_clipping": {"threshold": 0.1},  # global gradient norm, below MNIST-1D's early norms
    "layer_freezing": {"freeze_start": 0.0},  # freezing acts at epoch ends: from epoch 2 of ~4
    "selective_backprop": {"start": 0.0, "end": 1.0},
    "lr_warmup": {"fraction": 0.2},
    "cosine_schedule": {"alpha_f": 0.1},
    "lookahead": {"k": 5},
}
