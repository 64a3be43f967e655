"""Alternating flip: each training image mirrored in every other epoch, not at random (ours, after airbench94)."""

from trickstack.algorithms.alternating_flip.alternating_flip import AlternatingFlip, alternate
from trickstack.tricks.registry import Citation, register_trick

__all__ = ["AlternatingFlip", "alternate"]


@register_trick(
    name="alternating_flip",
    year=2024,
    summary="Mirror each training image in every other epoch instead of at random",
    citation=Citation("94% on CIFAR-10 in 3.29 Seconds on a Single GPU (Jordan), alternating flip",
                      "https://arxiv.org/abs/2404.00498"),
    domains=("vision",),
    changes=("data",),
    requires=("flip_augment",),  # the workload's train loader flips images and has a `flip` mode
)
def alternating_flip() -> AlternatingFlip:
    return AlternatingFlip()
