"""Built-in tricks, one folder each (``algorithms/<name>/``, imported as ``trickstack.algorithms.<name>``).

Every folder has the same shape: ``__init__.py`` registers the trick with its metadata and a
factory that builds a Composer `Algorithm`; tricks that Composer ships are wrapped, not rewritten;
tricks of our own keep their pure function and `Algorithm` class in ``<name>.py``; ``README.md``
says what it does, the paper, suggested hyperparameters and known interactions.

The registry imports exactly the folders listed here (no star-import side effects); a test fails
when a folder is missing from this list or the list names a missing folder.
"""

BUILTIN = (
    "label_smoothing",
    "mixup",
    "ema",
    "sam",
    "swa",
    "gradient_clipping",
    "layer_freezing",
    "selective_backprop",
    "lr_warmup",
    "cosine_schedule",
    "lookahead",
    "adamw",
    "lion",
    "muon",
    "schedule_free",
    "rmsnorm",
    "rope",
    "qk_norm",
    "relu2",
    "swiglu",
    "zero_init_residual",
    "untied_embeddings",
    "z_loss",
    "logit_softcap",
    "wsd",
    # airbench94's ingredients that are not its baseline (trickstack.workloads.cifar10)
    "flip_tta",
    "alternating_flip",
    "whitening_init",
    "identity_init",
    # Composer's vision and sequence algorithms (the ones that cannot act here: algorithms/unusable.py)
    "blurpool",
    "colout",
    "cutmix",
    "cutout",
    "factorize",
    "progressive_resizing",
    "seq_length_warmup",
    "squeeze_excite",
    "weight_standardization",
)
