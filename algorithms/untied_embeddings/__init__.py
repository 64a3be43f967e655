"""Untied embeddings: the output layer gets its own weight instead of sharing the input embedding's (ours)."""

from trickstack.algorithms.untied_embeddings.untied_embeddings import (
    UntiedEmbeddings,
    untie_embeddings,
)
from trickstack.tricks.registry import Citation, register_trick
from trickstack.tricks.surgery import GPT_BLOCKS

__all__ = ["UntiedEmbeddings", "untie_embeddings"]


@register_trick(
    name="untied_embeddings",
    year=2017,
    summary="Give the output layer its own weight instead of tying it to the input embedding (undoes weight tying)",
    citation=Citation("Using the Output Embedding to Improve Language Models (Press & Wolf), the tying undone",
                      "https://arxiv.org/abs/1608.05859"),
    domains=("language",),
    changes=("model",),
    requires=(GPT_BLOCKS,),
)
def untied_embeddings() -> UntiedEmbeddings:
    return UntiedEmbeddings()
