"""A lean path through Composer 0.32.1's training step for a single process, with the same behaviour.

``Trainer._train_batch`` (with ``_train_microbatches`` and ``_train_microbatch``, which it calls through the
optimizer's closure) serves every setting Composer supports: automatic microbatching with its OOM retries across
ranks, DDP's gradient sync, FSDP's hooks, gradient scaling, XLA. In a single process with none of those, most of
its per-step work is idle: a ``try`` loop for OOM retries, a tensor, a no-op collective and an ``.item()`` to sum
the batch size over one rank, a copy of the batch kept for training metrics that a trial does not compute, and
eight tensor operations to log the loss, each a full dispatch through torch however small the tensor. The lean
path (`_train_batch`) makes the same events, the same calls of the model, its loss and the optimizer (its
closure included, as SAM calls it twice), the same state and the same logged values, bit for bit, without them:

- the batch size summed over one rank is the count itself (an ``int``: the original's int64 tensor gives it
  back unchanged); any other count goes through the original's tensor;
- the batch is copied for training metrics only when the model has any (checked again after the backward pass,
  where the original uses the copy: metrics added meanwhile get a copy of the batch then);
- for a loss that is one tensor, of a microbatch that is the whole batch (a scale of exactly 1.0), without
  ``create_graph``: the original sums the loss's mean into a new float32 zero, multiplies that by 1.0 and calls
  ``backward`` on it, and logs a detached clone of it times 1.0; the lean path calls ``backward`` on the mean
  and logs the mean, detached. The gradient reaching the mean is exactly 1.0 both ways, and the logged float32
  sum is the same number (adding a zero and multiplying by 1.0 are exact). Any other loss (a dict, a tuple, a
  microbatch of part of the batch) takes the original's bookkeeping, copied here.

``Trainer._iter_dataloader`` in a single process: the original keeps an "iteration finished" flag as a tensor on
the device, all-reduces it over one rank (a no-op) and reads it back with ``.item()`` before every batch, a
synchronization with the GPU at every step; the lean generator keeps the same loop with a Python flag.

Either path is taken only where its conditions hold (see `_plain_single_process`), and only for a `Trainer`
whose step methods are Composer's own; otherwise Composer's code runs. Like the patches in
`trickstack.trial.composer_patches`, which applies these, each is applied only when the source of every function
it reproduces hashes to the value it was written against. ``tests/test_composer_step.py`` compares trials,
events, logged values and weights with and without it.
"""

from __future__ import annotations

import itertools
from typing import Any, Sequence

import composer.trainer.trainer as trainer_module
import torch
from composer.core import Event
from composer.core.precision import Precision
from composer.distributed.shared_utils import generate_oom_hook
from composer.trainer.trainer import Trainer, TrainerMode
from composer.utils import dist as composer_dist
from torch.nn.parallel import DistributedDataParallel

from trickstack.trial.patching import Patch

_original_train_batch = Trainer._train_batch
_original_train_microbatches = Trainer._train_microbatches
_original_train_microbatch = Trainer._train_microbatch
_original_iter_dataloader = Trainer._iter_dataloader
_INT64 = range(-(2**63), 2**63)


def _single_process() -> bool:
    """No process group and a world size of one: every collective of `composer.utils.dist` returns at once."""
    return (not (torch.distributed.is_available() and torch.distributed.is_initialized())
            and composer_dist.get_world_size() == 1)


def _own_step_methods(trainer: Trainer) -> bool:
    """The trainer is a `Trainer` whose step methods are Composer's: not a subclass, none set on the instance."""
    own = trainer.__dict__
    return type(trainer) is Trainer and not any(name in own for name in _STEP_METHODS)


_STEP_METHODS = frozenset(("_train_microbatches", "_train_microbatch", "_use_closures", "_eval_train_metrics"))


def _plain_single_process(trainer: Trainer, use_grad_scaling: bool) -> bool:
    """Where the lean step does what the original does: one process, no gradient scaling, no automatic
    microbatching, no DDP or XLA, the optimizer's closure used (any precision but AMP_FP16)."""
    state = trainer.state
    return (not use_grad_scaling and not state.auto_microbatching and state.precision != Precision.AMP_FP16
            and state.device.dist_backend != "xla" and not isinstance(state.model, DistributedDataParallel)
            and _single_process() and _own_step_methods(trainer))


def _train_batch(self: Trainer, use_grad_scaling: bool) -> dict[str, torch.Tensor]:
    """`Trainer._train_batch` in a single process (`_plain_single_process`): no OOM retry loop; else the original."""
    if not _plain_single_process(self, use_grad_scaling):
        return _original_train_batch(self, use_grad_scaling)
    state = self.state
    assert self._train_data_spec is not None, 'The train data spec should be set on __init__ or fit()'
    device_batch = state.batch
    original_microbatch_size = state.device_train_microbatch_size
    if state.train_metrics is not None:  # pyright: ignore[reportUnnecessaryComparison]
        for metric in state.train_metrics.values():
            metric.reset()
    total_loss_dict = {'loss/train/total': state.device.tensor_to_device(torch.zeros(size=(1,)))}
    assert state.scaler is not None
    assert state.device_train_microbatch_size is not None
    microbatches = self._train_data_spec.split_batch(device_batch, state.device_train_microbatch_size)
    for optimizer in state.optimizers:
        optimizer.step(closure=lambda loss_dict=total_loss_dict, **kwargs: _train_microbatches(
            self, microbatches, loss_dict, **kwargs).item())
    if original_microbatch_size != state.device_train_microbatch_size:  # an algorithm changed it meanwhile
        trainer_module.log.info('Automicrobatching changed the microbatch size from '
                                f'{original_microbatch_size} -> {state.device_train_microbatch_size}.')
    self.num_consecutive_non_OOM_batches += 1
    if torch.cuda.is_available():
        self.cumulative_alloc_retries = torch.cuda.memory_stats()['num_alloc_retries']
    self.logger.log_metrics({'trainer/device_train_microbatch_size': state.device_train_microbatch_size})
    self.first_train_batch_complete = True
    return total_loss_dict


def _summed_batch_size(self: Trainer, microbatches: Sequence[Any]) -> float:
    """The original's batch size over all ranks, divided by the world size, in one process."""
    spec = self._train_data_spec
    assert spec is not None
    if self.accumulate_train_batch_on_tokens:
        size = sum([spec.get_num_tokens_in_batch(b, token_type='loss_generating') for b in microbatches])
    else:
        size = sum([spec.get_num_samples_in_batch(b) for b in microbatches])
    if type(size) is int and size in _INT64:  # torch.tensor(size) is int64 and .item() gives it back
        return size / 1
    summed = self.state.device.tensor_to_device(torch.tensor(size))  # anything else as the original converts it
    return summed.item() / 1


def _train_microbatches(self: Trainer, microbatches: Sequence[Any], total_loss_dict: dict[str, torch.Tensor],
                        ddp_sync: bool = True) -> torch.Tensor:
    """`Trainer._train_microbatches` for `_train_batch`'s lean path (no DDP, so no ``no_sync`` context)."""
    state, engine = self.state, self.engine
    assert self._train_data_spec is not None
    engine.run_event(Event.BEFORE_TRAIN_BATCH)
    assert state.optimizers is not None
    assert state.scaler is not None
    for optimizer in state.optimizers:
        try:
            optimizer.zero_grad(set_to_none=True)
        except TypeError:
            optimizer.zero_grad()
    current_batch_size = _summed_batch_size(self, microbatches)
    current_batch = state.batch
    for microbatch_idx, state.batch in enumerate(microbatches):
        state.batch = state.device.batch_to_device(state.batch)
        state.batch = self._train_data_spec.microbatch_transforms(state.batch)
        is_final_microbatch = microbatch_idx + 1 == len(microbatches)
        microbatch_loss_dict = _train_microbatch(self, current_batch_size, is_final_microbatch)
        for k, microbatch_loss in microbatch_loss_dict.items():
            loss_key = f'loss/train/{k}'
            if loss_key not in total_loss_dict:
                total_loss_dict[loss_key] = state.device.tensor_to_device(torch.zeros(size=(1,)))
            total_loss_dict[loss_key] += microbatch_loss
    state.batch = current_batch
    engine.run_event(Event.AFTER_TRAIN_BATCH)
    return total_loss_dict['loss/train/total']


def _has_train_metrics(self: Trainer) -> bool:
    return self.state.train_metrics is not None and len(self.state.train_metrics) != 0  # pyright: ignore


def _train_microbatch(self: Trainer, current_batch_size: float, is_final_microbatch: bool) -> dict[str, torch.Tensor]:
    """`Trainer._train_microbatch` for the lean path: no gradient scaling, no DDP sync context, no OOM check."""
    state, engine = self.state, self.engine
    assert state.scaler is not None
    assert self._train_data_spec is not None
    device_batch = trainer_module.deepcopy(state.batch) if _has_train_metrics(self) else None
    if self.accumulate_train_batch_on_tokens:
        microbatch_size = self._train_data_spec.get_num_tokens_in_batch(state.batch, token_type='loss_generating')
    else:
        microbatch_size = self._train_data_spec.get_num_samples_in_batch(state.batch)
    engine.run_event(Event.BEFORE_FORWARD)
    with trainer_module.get_precision_context(state.precision, state.precision_config):
        state.outputs = state.model(state.batch)
    engine.run_event(Event.AFTER_FORWARD)
    engine.run_event(Event.BEFORE_LOSS)
    with trainer_module.get_precision_context(state.precision, state.precision_config):
        state.loss = self._original_model.loss(state.outputs, state.batch)
    assert state.loss is not None
    engine.run_event(Event.AFTER_LOSS)
    engine.run_event(Event.BEFORE_BACKWARD)
    scale = microbatch_size / current_batch_size
    if type(state.loss) is torch.Tensor and scale == 1.0 and not self._backwards_create_graph:
        mean = state.loss.mean()
        microbatch_loss_dict = {'total': mean.detach()}
        mean.backward()
    else:
        microbatch_loss_dict = _backward_as_composer(self, scale)
    engine.run_event(Event.AFTER_BACKWARD)
    if _has_train_metrics(self):
        state.train_metrics = self._ensure_metrics_device_and_dtype(state.train_metrics)
        self._eval_train_metrics(device_batch if device_batch is not None else trainer_module.deepcopy(state.batch))
    return microbatch_loss_dict


def _backward_as_composer(self: Trainer, scale: float) -> dict[str, torch.Tensor]:
    """The original's loss bookkeeping and backward pass, without gradient scaling: the losses summed into a
    float32 total, each logged as a detached clone's mean times ``scale``, the total times ``scale`` backward."""
    state = self.state
    microbatch_loss_dict: dict[str, Any] = {}
    if isinstance(state.loss, dict) and ('total' in state.loss):
        microbatch_loss = state.loss['total']
        microbatch_loss_dict = state.loss.copy()
    else:
        microbatch_loss = state.device.tensor_to_device(torch.zeros(size=(1,)))
        for loss in trainer_module.ensure_tuple(state.loss):
            assert isinstance(loss, torch.Tensor)
            microbatch_loss.add_(loss.mean())
        if isinstance(state.loss, dict):
            microbatch_loss_dict = state.loss.copy()
        elif len(trainer_module.ensure_tuple(state.loss)) > 1:
            microbatch_loss_dict = {f'loss{i}': loss for i, loss in enumerate(trainer_module.ensure_tuple(state.loss))}
        microbatch_loss_dict['total'] = microbatch_loss
    for k, loss in microbatch_loss_dict.items():
        microbatch_loss_dict[k] = loss.detach().clone().mean() * scale
    microbatch_loss.mul_(scale)
    microbatch_loss.backward(create_graph=self._backwards_create_graph)
    return microbatch_loss_dict


def _iter_dataloader(self: Trainer, trainer_mode: TrainerMode):
    """`Trainer._iter_dataloader` in a single process: the same batches and events, with the "finished" flag
    a Python bool instead of a device tensor all-reduced over one rank and read back before every batch."""
    if not _single_process():
        yield from _original_iter_dataloader(self, trainer_mode)
        return
    assert self.state.dataloader is not None, 'the dataloader should be set before calling this method'
    if self.state.dataloader_len is None:
        dataloader_iter = iter(self.state.dataloader)
    else:
        dataloader_iter = itertools.islice(self.state.dataloader, int(self.state.dataloader_len))
    training = trainer_mode == TrainerMode.TRAIN
    while True:
        try:
            if training:
                self.engine.run_event(Event.BEFORE_DATALOADER)
            batch = next(dataloader_iter)
        except StopIteration:
            if training:
                self.engine.run_marker_only_event(Event.AFTER_DATALOADER)
            return
        yield batch


STEP_PATCHES = (
    Patch(Trainer, "_train_batch", _original_train_batch, _train_batch,
          (_original_train_batch, _original_train_microbatches, _original_train_microbatch, generate_oom_hook,
           Trainer._use_closures, composer_dist.all_reduce),
          "d7fbc57426ad03da533b0a6b558ca13ba919f831889d96f90245c8d9fa2d4e3b"),
    Patch(Trainer, "_iter_dataloader", _original_iter_dataloader, _iter_dataloader,
          (_original_iter_dataloader, composer_dist.all_reduce),
          "7493ab6b210d0414bdd5f23bc4b6d263b7dff5c8221914d63538736ab6a5f202"),
)
