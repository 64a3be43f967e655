"""Parameter overrides that make each trick's claimed change visible in a tiny MNIST-1D run.

One entry per registered trick (cf. Composer's ``tests/algorithms/algorithm_settings.py``); the
contract tests train each trick on every workload it supports for a few dozen to ~120 baseline steps
(``CONTRACT_STEPS`` in trickstack.testing.contract) with these settings, and fail when a trick has no entry.
`PER_WORKLOAD` overrides an entry on one workload where the shared setting would not show the change.
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
    "adamw": {},  # decay 0.1 shows at step 0: the baselines have no decoupled decay
    "lion": {},
    "muon": {},
    "schedule_free": {"warmup": 0.2},  # the warm-up shows in the learning rate; evaluation is at x
    # Module surgery at INIT (shakespeare-char only): every change shows in the structure or the initial weights.
    "rmsnorm": {},
    "rope": {},
    "qk_norm": {},
    "relu2": {},
    "swiglu": {},
    "zero_init_residual": {},
    "untied_embeddings": {},
    "z_loss": {"coefficient": 1e-3},  # any coefficient changes the loss at step 0
    "logit_softcap": {"cap": 5.0},  # binds within ~60 steps on mnist1d (its logits reach |30| by then)
    "wsd": {"warmup": 0.1, "decay": 0.3},  # warm-up shows at step 0, the decay over the last ~36 steps
    # Composer's image algorithms (digits; surgery shows in the structure, augmentations at step 0).
    "blurpool": {},
    "colout": {},
    "cutmix": {},
    "cutout": {},
    "factorize": {},  # digits and shakespeare-char; declared a no-op on mnist1d
    "progressive_resizing": {"delay_fraction": 0.2},  # the side grows within ~120 steps: several cost keys
    "seq_length_warmup": {},  # 8 characters at step 0 (the contract run is 30 steps)
    "squeeze_excite": {},
    "weight_standardization": {},
    # airbench94's ingredients (cifar10-tiny): evaluation, the flips at step 0, initial weights.
    "flip_tta": {},
    "alternating_flip": {},
    "whitening_init": {},
    "identity_init": {},
}


PER_WORKLOAD: dict[tuple[str, str], dict] = {}


def settings_for(trick: str, workload: str) -> dict:
    return {**SETTINGS[trick], **PER_WORKLOAD.get((trick, workload), {})}
