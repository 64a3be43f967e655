"""Flip test-time augmentation: average the logits of each test image and its mirror (ours, after airbench94)."""

from trickstack.algorithms.flip_tta.flip_tta import FlipTTA, MirrorAveraged, mirrored_mean
from trickstack.tricks.registry import Citation, register_trick

__all__ = ["FlipTTA", "MirrorAveraged", "mirrored_mean"]


@register_trick(
    name="flip_tta",
    year=2012,
    summary="Evaluate the mean logits of each image and its left-right mirror",
    citation=Citation("ImageNet Classification with Deep Convolutional Neural Networks (Krizhevsky et al.), "
                      "test-time reflections", "https://papers.nips.cc/paper/4824"),
    domains=("vision",),
    changes=("evaluation",),
    requires=("images2d", "hflip_invariant"),  # a mirrored image must keep its label
)
def flip_tta() -> FlipTTA:
    return FlipTTA()
