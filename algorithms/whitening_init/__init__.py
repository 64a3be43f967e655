"""Whitening initialisation: the first convolution whitens the training images' patches, frozen (ours, after airbench94)."""

from trickstack.algorithms.whitening_init.whitening_init import WhiteningInit, whitening_weights
from trickstack.tricks.registry import Citation, register_trick

__all__ = ["WhiteningInit", "whitening_weights"]


@register_trick(
    name="whitening_init",
    year=2009,
    summary="Set the first convolution to whiten the training images' patches (covariance eigenvectors), then freeze it",
    citation=Citation("Learning Multiple Layers of Features from Tiny Images (Krizhevsky), ZCA whitening of CIFAR",
                      "https://www.cs.toronto.edu/~kriz/learning-features-2009-TR.pdf"),
    domains=("vision",),
    changes=("model",),  # the first layer's initial weights, and that they no longer train
    requires=("airbench_net", "train_images"),
)
def whitening_init() -> WhiteningInit:
    return WhiteningInit()
