"""Untied embeddings: give the output layer its own weight instead of the input embedding's.

The baseline ties them (Press & Wolf, 2017; nanoGPT and GPT-2 do too): the logits are
``h @ wte.weight.T``. `untie_embeddings` gives every layer of a ``gpt_blocks`` network that shares
``wte.weight`` (the ``lm_head``) a new parameter drawn like GPT-2's matrices, N(0, ``init_std``),
from its own random stream. From then on the two matrices get different gradients: the input
embedding only in the rows of the characters of the batch, the output one in every row.
"""

from __future__ import annotations

from typing import Optional, Sequence

import torch
from composer.core import Algorithm, Event, State
from composer.loggers import Logger
from torch import nn

from trickstack.core.errors import UserError
from trickstack.tricks.surgery import find_gpt, trick_generator, update_optimizers


def untie_embeddings(gpt: nn.Module, generator: Optional[torch.Generator] = None,
                     optimizers: Optional[Sequence[torch.optim.Optimizer]] = None) -> nn.Parameter:
    """Give the layers sharing ``gpt.wte.weight`` one new weight of their own, N(0, ``gpt.init_std``); return it.

    >>> from trickstack.workloads.shakespeare_char import GPT
    >>> gpt = GPT(vocab=5, context=4, layers=1, heads=1, width=4)
    >>> gpt.lm_head.weight is gpt.wte.weight, untie_embeddings(gpt) is gpt.lm_head.weight is not gpt.wte.weight
    (True, True)
    """
    tied = gpt.wte.weight
    # Searched for rather than read from gpt.lm_head: another trick may have wrapped the head (logit_softcap).
    sharing = [m for m in gpt.modules() if m is not gpt.wte and getattr(m, "weight", None) is tied]
    if not sharing:
        raise UserError("untied_embeddings: no layer shares the input embedding's weight; the embeddings are already untied")
    weight = nn.Parameter(torch.empty_like(tied))
    with torch.no_grad():
        weight.normal_(0.0, gpt.init_std, generator=generator)
    for module in sharing:
        module.weight = weight
    update_optimizers(optimizers, [], [weight], like=tied)  # beside the embedding: weight decay as a matrix
    return weight


class UntiedEmbeddings(Algorithm):
    """At INIT, unties the output layer of the ``gpt_blocks`` network from its input embedding."""

    def match(self, event: Event, state: State) -> bool:
        return event == Event.INIT

    def apply(self, event: Event, state: State, logger: Logger) -> None:
        gpt = find_gpt(state.model, "untied_embeddings")
        untie_embeddings(gpt, trick_generator(state.seed, "untied_embeddings"), state.optimizers)
