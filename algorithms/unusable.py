"""Composer algorithms that cannot act on any shipped workload, each with the reason.

Every `Algorithm` in ``composer.algorithms.__all__`` (mosaicml 0.32) is either wrapped by a
registered trick (``algorithms/<name>/``) or listed here; ``tests/test_composer_catalogue.py``
fails when one is neither, so a Composer upgrade that adds an algorithm is noticed. ``trickstack
tricks list --all`` and the README's tricks section show this list. The reasons were checked by
running each algorithm on the workloads (see the test for the ones checked automatically).

>>> UNUSABLE["ghost_batchnorm"].composer_class
'GhostBatchNorm'
"""

from __future__ import annotations

from typing import NamedTuple


class Unusable(NamedTuple):
    composer_class: str  # the class's name in composer.algorithms
    reason: str  # why it cannot act on mnist1d, digits or shakespeare-char


_PIL_TRANSFORM = ("inserts a PIL-image transform into a torchvision VisionDataset's transforms at FIT_START; "
                  "trickstack's workloads serve whole batches of in-memory tensors")

UNUSABLE: dict[str, Unusable] = {
    "alibi": Unusable("Alibi", "needs a Hugging Face BERT, RoBERTa or GPT-2 model: its surgery replaces those "
                               "classes' attention modules (and imports transformers, Composer's nlp extra, which "
                               "trickstack does not install); the char GPT is trickstack's own"),
    "augmix": Unusable("AugMix", _PIL_TRANSFORM),
    "channels_last": Unusable("ChannelsLast", "only changes the memory layout (NHWC) for faster GPU convolution "
                                              "kernels: on CPU it changes no data, target, loss, weight or schedule, "
                                              "only the rounding of floating-point sums"),
    "gated_linear_units": Unusable("GatedLinearUnits", "needs a Hugging Face BERT model: it replaces transformers' "
                                                       "BertIntermediate and BertOutput modules (transformers is not "
                                                       "installed; the swiglu trick gates the char GPT's MLP)"),
    "ghost_batchnorm": Unusable("GhostBatchNorm", "needs BatchNorm layers; no shipped workload has them"),
    "gyro_dropout": Unusable("GyroDropout", "needs torch.nn.Dropout layers on (batch, features) activations; no "
                                            "shipped workload has dropout (the char GPT follows nanoGPT's CPU run, "
                                            "dropout 0)"),
    "low_precision_groupnorm": Unusable("LowPrecisionGroupNorm", "acts only on GroupNorm layers under AMP fp16/bf16 "
                                                                 "mixed precision; trickstack trains in fp32 on CPU "
                                                                 "and no workload has GroupNorm"),
    "low_precision_layernorm": Unusable("LowPrecisionLayerNorm", "acts only under AMP fp16/bf16 mixed precision; "
                                                                 "trickstack trains in fp32 on CPU, where Composer "
                                                                 "leaves LayerNorm as it is"),
    "no_op_model": Unusable("NoOpModel", "Composer's own test algorithm: it replaces the model by a dummy to "
                                         "profile data loading, and trains nothing"),
    "randaugment": Unusable("RandAugment", _PIL_TRANSFORM),
    "stochastic_depth": Unusable("StochasticDepth", "needs torchvision ResNet Bottleneck blocks, its only supported "
                                                    "target layer; no shipped workload has them"),
}
