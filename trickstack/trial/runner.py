"""One honest trial: train one stack of tricks on one workload with one seed under one budget.

>>> from trickstack.trial.runner import run_trial
>>> record = run_trial("mnist1d", ["label_smoothing"], seed=0, budget=Budget("flops", 5e8))  # doctest: +SKIP
>>> record.metrics.eval_value  # doctest: +SKIP
0.43

Training is Composer's `Trainer`; tricks act only through their Composer algorithms' hooks. The
runner adds two callbacks: `BudgetController` (spends the budget, detects divergence) and,
optionally, a progress bar.
"""

from __future__ import annotations

import logging
import math
import time
import warnings
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Optional, Sequence, Union

from composer import Trainer
from composer.core import Callback, Evaluator
from composer.utils import reproducibility

from trickstack.core.budget import Budget
from trickstack.core.errors import MetricNotFinite, UserError
from trickstack.core.records import (
    BudgetRecord,
    FlopCheck,
    FlopMismatch,
    Metrics,
    ResolvedRecipe,
    RunRecord,
    TrickRecord,
    now,
    provenance,
)
from trickstack.core.stacks import arm_name
from trickstack.core.system import check_precision, settings
from trickstack.trial.clocks import device_clock
from trickstack.trial.composer_patches import apply_patches
from trickstack.trial.curves import CurveRecorder
from trickstack.trial.devices import accelerator, composer_device, resolve_device, set_deterministic
from trickstack.trial.flops import AUDIT_WINDOW, BudgetController, count_flops
from trickstack.trial.precision import autocast_forward, compile_config
from trickstack.trial.trackers import Tracker, hyperparameters, log_hyperparameters, run_loggers, run_tags
from trickstack.tricks.registry import TrickInfo, check_compatible, get_trick
from trickstack.workloads import Workload, get_workload
from trickstack.workloads.data import batched_loader


@dataclass(frozen=True)
class ResolvedTrick:
    info: TrickInfo
    params: dict[str, Any]


def split_overrides(overrides: Mapping[str, Any] | None) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    """``{"ema.half_life": "50ba", "lr": 3e-3}`` -> ``({"ema": {"half_life": "50ba"}}, {"lr": 3e-3})``."""
    per_trick: dict[str, dict[str, Any]] = {}
    nuisance: dict[str, Any] = {}
    for key, value in (overrides or {}).items():
        if "." in key:
            trick, param = key.split(".", 1)
            per_trick.setdefault(trick, {})[param] = value
        else:
            nuisance[key] = value
    return per_trick, nuisance


def parse_overrides(pairs: Iterable[str], workload: Workload, stack: Sequence[str], where: str = "the stack") -> dict[str, Any]:
    """``["ema.half_life=50ba", "lr=3e-3"]`` -> typed, validated overrides of ``stack``'s tricks and the
    workload's nuisance values; ``where`` names the stack in messages. A key given twice is refused."""
    overrides: dict[str, Any] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or not key or not text:
            raise UserError(f"expected KEY=VALUE (e.g. ema.half_life=50ba or lr=3e-3), got {pair!r}")
        if key in overrides:
            raise UserError(f"{key} is set twice")
        if "." in key:
            trick, param = key.split(".", 1)
            if trick not in stack:
                raise UserError(f"{key}: trick {trick!r} is not in {where} ({', '.join(stack) or 'empty'})")
            overrides[key] = get_trick(trick).param(param).parse(text, owner=trick)
        else:
            overrides[key] = workload.nuisance_param(key).parse(text, owner=workload.name)
    return overrides


def resolve_stack(workload: Workload, stack: Iterable[str], overrides: Mapping[str, Any] | None = None,
                  system: Iterable[str] = ()) -> list[ResolvedTrick]:
    """Look up, validate and order the tricks of a stack; raise `UserError` on any problem. ``system``: the
    settings the stack trains under (`trickstack.core.system.settings`), which some tricks cannot run under."""
    names = list(stack)
    infos = [get_trick(name) for name in names]
    problem = check_compatible(names, workload.provides, workload.name, workload.includes, system)
    if problem:
        raise UserError(problem)
    per_trick, _ = split_overrides(overrides)
    for name in per_trick:
        if name not in names:
            raise UserError(f"an override names trick {name!r}, which is not in the stack ({', '.join(names) or 'empty'})")
    # One canonical order (by name), so a stack is the same experiment however its tricks were listed.
    return [ResolvedTrick(info, info.resolve(per_trick.get(info.name))) for info in sorted(infos, key=lambda i: i.name)]


class FlopAuditError(RuntimeError):
    """A step's measured FLOPs differ from the cost cached for its signature: the run's spend is not
    trusted. ``record`` is the run's record, its ``flops_check.mismatches`` saying where."""

    def __init__(self, message: str, record: RunRecord):
        super().__init__(message)
        self.record = record


_BASELINE_STEP_FLOPS: dict[str, int] = {}


def baseline_step_flops(workload: Workload) -> int:
    """FLOPs of one baseline training step (forward, loss, backward) on one batch, measured once."""
    if workload.name not in _BASELINE_STEP_FLOPS:
        model = workload.build_model()
        splits = workload.splits
        batch = (splits.train_x[: workload.batch_size], splits.train_y[: workload.batch_size])

        def step() -> None:
            model.loss(model(batch), batch).backward()

        _BASELINE_STEP_FLOPS[workload.name] = count_flops(step)
    return _BASELINE_STEP_FLOPS[workload.name]


def reference_budget(workload: Workload) -> Budget:
    """The workload's reference budget in FLOPs: ``reference_steps`` baseline steps."""
    return Budget("flops", float(workload.reference_steps * baseline_step_flops(workload)))


def _first_step_estimate(workload: Workload, budget: Budget) -> float:
    if budget.unit == "flops":
        return float(baseline_step_flops(workload))
    if budget.unit == "samples":
        return float(workload.batch_size)
    return budget.value / 1e6  # seconds: unknown until the first step; corrected after it


MAX_SEED = 2**32 - 1  # Composer's seed_all (and numpy's) accept seeds in [0, 2**32 - 1]


def check_seed(seed: Any) -> int:
    """``seed`` if it is an integer Composer can seed with, else a `UserError` (raised before any data loads)."""
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        raise UserError(f"seed {seed!r} is not an integer from 0 to {MAX_SEED}")
    return seed


def run_trial(
    workload: Union[str, Workload],
    stack: Sequence[str] = (),
    seed: int = 0,
    budget: Optional[Budget] = None,
    overrides: Mapping[str, Any] | None = None,
    *,
    recipe: Optional[ResolvedRecipe] = None,
    callbacks: Sequence[Callback] = (),
    audit_flops: bool = False,
    device: str = "cpu",
    deterministic: bool = True,
    trackers: Sequence[Tracker] = (),
    tags: Mapping[str, str] | None = None,
    precision: str = "fp32",
    compile: bool = False,
    curve: bool = True,
) -> RunRecord:
    """Train ``stack`` on ``workload`` with ``seed`` under ``budget`` and return its record.

    ``overrides`` sets trick parameters (``"ema.half_life"``) and the workload's nuisance
    hyperparameters (``"lr"``). ``budget`` defaults to the workload's reference budget.
    ``recipe`` (a `ResolvedRecipe` of this workload) starts the run from the recipe's tricks, their
    parameters and its nuisance values; ``stack`` then adds tricks on top, ``overrides`` apply on top,
    and the record keeps the recipe beside the values actually used.
    A NaN or infinite loss ends the trial early with ``diverged=True``; it is not raised: a diverged run is a
    result. A NaN or infinite eval metric after a run that did not diverge raises `MetricNotFinite`: the
    workload's metric is broken.
    Every run measures one random step in every `AUDIT_WINDOW` again and raises `FlopAuditError` if
    a cached step cost was wrong; ``audit_flops`` measures every step.
    ``device``: ``cpu`` (the default, bit for bit as before devices could be chosen), ``auto``, ``cuda``,
    ``cuda:N`` or ``mps`` (`trickstack.trial.devices`); a device the machine lacks raises `UserError`.
    ``deterministic`` turns torch's deterministic algorithms on (the default) or off; the record says which.
    ``trackers`` (`trickstack.trial.trackers`) also write the run to TensorBoard, MLflow or W&B, tagged with its
    workload, arm, tricks, seed and budget and ``tags`` on top (a study's worker: ``study``, ``arm``, ``phase``),
    its trick parameters and nuisance values logged as hyperparameters; the record is the same with or without.
    ``precision`` (``fp32`` or ``bf16``: autocast over the model's forward) and ``compile`` (`torch.compile` by
    Composer) are system settings (`trickstack.trial.precision`), kept in the record's provenance; a trick that
    cannot run under them raises `UserError`.
    ``curve`` records the learning curve (`trickstack.trial.curves`; the default); it changes nothing else in the run.
    """
    check_seed(seed)
    check_precision(precision)
    wl = get_workload(workload) if isinstance(workload, str) else workload
    device = resolve_device(device)
    stack, overrides = with_recipe(recipe, wl, stack, overrides)
    tricks = resolve_stack(wl, stack, overrides, settings(precision, compile))
    nuisance = wl.resolve_nuisance(split_overrides(overrides)[1])
    budget = budget or reference_budget(wl)
    if budget.unit == "flops" and budget.value < baseline_step_flops(wl):
        raise UserError(f"budget {budget.value:.3g} FLOPs is smaller than one {wl.name} step "
                        f"({baseline_step_flops(wl):.3g} FLOPs)")
    if budget.unit == "samples" and budget.value < wl.batch_size:
        raise UserError(f"budget {budget.value:g} samples is smaller than one {wl.name} step ({wl.batch_size} samples)")

    if trackers:
        base = {"recipe": recipe.name} if recipe is not None else {}
        tags = run_tags(wl.name, arm_name(stack), [t.info.name for t in tricks], seed, budget, {**base, **(tags or {})})
        run_name, loggers = run_loggers(trackers, tags)
    else:
        run_name, loggers = None, []  # the trainer as before trackers: no logger, nothing logged
    splits = wl.splits
    apply_patches()  # Composer's event engine without its idle per-event costs (same behaviour)
    set_deterministic(deterministic)  # before any CUDA work (cuBLAS reads its workspace setting once)
    reproducibility.seed_all(seed)  # model initialisation is a function of the seed alone
    model = wl.build_model()
    autocast_forward(model, device, precision)
    controller = BudgetController(budget, _first_step_estimate(wl, budget), audit=audit_flops, seed=seed,
                                  clock=device_clock(device))
    train_data = wl.train_dataset(splits, seed) if wl.train_dataset else (splits.train_x, splits.train_y)
    train_loader = batched_loader(train_data, wl.batch_size, seed=seed)
    eval_loader = batched_loader((splits.eval_x, splits.eval_y), wl.eval_batch_size, seed=None, drop_last=False)
    recorder = CurveRecorder(controller, eval_fractions=wl.curve_evals, eval_loader=eval_loader,
                             metric_key=wl.metric_key) if curve else None

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", module="composer")  # e.g. SWA's BatchNorm advice, on every trial
        logging.getLogger("composer").setLevel(logging.ERROR)
        controller.open_gap()  # tricks act at INIT (and AFTER_LOAD) inside the constructor: their FLOPs are counted
        try:
            trainer = Trainer(
                model=model,
                train_dataloader=train_loader,
                max_duration=f"{controller.initial_steps()}ba",
                optimizers=wl.make_optimizer(model, nuisance),
                schedulers=wl.make_schedule(nuisance),
                step_schedulers_every_batch=True,
                algorithms=[t.info.build(t.params) for t in tricks],
                callbacks=[controller, *([recorder] if recorder else []), *callbacks],  # the recorder reads the controller
                loggers=loggers,
                run_name=run_name,
                progress_bar=False,
                log_to_console=False,
                log_traces=False,
                auto_log_hparams=False,
                device=composer_device(device),  # model, batches and metrics on it
                device_train_microbatch_size=wl.batch_size,  # one microbatch: the loader yields whole batches
                seed=seed,
                deterministic_mode=deterministic,
                python_log_level=None,
                compile_config=compile_config(compile),  # Composer compiles the (autocast) forward after INIT
            )
        except BaseException:
            controller.release()
            raise
        if loggers:
            log_hyperparameters(trainer.logger, hyperparameters({t.info.name: t.params for t in tricks}, nuisance), tags)
        controller.restart_clock()  # the trainer's construction is not training time (SECONDS_INCLUDE)
        try:
            start, cpu_start = time.perf_counter(), time.process_time()
            trainer.fit()
            train_seconds, train_cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
            if recorder:  # the curve's evaluations are not training (EVAL_NOTE)
                train_seconds, train_cpu_seconds = (train_seconds - recorder.eval_seconds,
                                                    train_cpu_seconds - recorder.eval_cpu_seconds)
            eval_value, eval_seconds = None, 0.0
            if not controller.diverged:
                start = time.perf_counter()
                trainer.eval(eval_dataloader=Evaluator(
                    label="eval", dataloader=eval_loader, metric_names=[wl.metric_key],
                    device_eval_microbatch_size=wl.eval_batch_size,
                ))
                eval_seconds = time.perf_counter() - start
                eval_value = float(trainer.state.eval_metric_values[wl.metric_key])
            train_loss = trainer.state.total_loss_dict.get("loss/train/total")
        finally:
            trainer.close()
    if eval_value is not None and not math.isfinite(eval_value):
        raise MetricNotFinite(
            f"workload {wl.name}: its eval metric {wl.metric} ({wl.metric_key}) is {eval_value} after "
            f"{'+'.join(stack) or 'the baseline'} trained with seed {seed} without diverging (the training loss stayed "
            f"finite): the workload's metric is broken, not the run")
    record = RunRecord(
        workload=wl.name,
        tricks=[TrickRecord(name=t.info.name, params=t.params, distribution=t.info.distribution) for t in tricks],
        nuisance=nuisance,
        seed=seed,
        budget=BudgetRecord(unit=budget.unit, value=budget.value),
        flops=controller.flops,
        flops_measured_steps=controller.measured_steps,
        steps=controller.steps,
        samples=controller.samples,
        train_seconds=train_seconds,
        eval_seconds=eval_seconds,
        train_cpu_seconds=train_cpu_seconds,
        metrics=Metrics(eval_metric=wl.metric, eval_value=eval_value, direction=wl.direction, train_loss=train_loss),
        diverged=controller.diverged,
        diverged_step=controller.diverged_step,
        created=now(),
        provenance=provenance(accelerator(device), deterministic, precision, compile),
        recipe=recipe,
        flops_check=FlopCheck(
            audit_window=1 if audit_flops else AUDIT_WINDOW, audited_steps=controller.audited_steps,
            flops_outside_steps=controller.flops_outside_steps,
            mismatches=[FlopMismatch(**m) for m in controller.audit_mismatches],
        ),
        curve=recorder.curve() if recorder else None,
    )
    if controller.audit_mismatches:
        first = controller.audit_mismatches[0]
        if first["measured"] is None:
            what = (f"ran the model's forward {first['forward_calls']} time(s) where the measured step of its cost "
                    f"signature ran it {first['forward_calls_cached']} time(s)")
        else:
            what = f"spent {first['measured']:.4g} FLOPs where {first['cached']:.4g} were cached for its cost signature"
        raise FlopAuditError(
            f"{'+'.join(stack) or 'baseline'} on {wl.name}: the FLOPs counted are not trusted: step {first['step']} "
            f"{what} ({len(controller.audit_mismatches)} step(s) differ); a trick whose step cost varies must "
            f"define cost_key(state)", record)
    return record


def with_recipe(recipe: Optional[ResolvedRecipe], workload: Workload, stack: Sequence[str],
                overrides: Mapping[str, Any] | None) -> tuple[list[str], dict[str, Any]]:
    """The stack and overrides of a run that starts from ``recipe``: its tricks, then ``stack`` on top;
    its parameters and nuisance values, then ``overrides`` on top. Without a recipe, unchanged."""
    if recipe is None:
        return list(stack), dict(overrides or {})
    if recipe.workload != workload.name:
        raise UserError(f"recipe {recipe.name} is for workload {recipe.workload!r}, not {workload.name!r}")
    again = [name for name in stack if name in recipe.stack]
    if again:
        raise UserError(f"trick {again[0]!r} is already in recipe {recipe.name}; to change its parameters "
                        f"override them ({again[0]}.PARAM=VALUE) instead of adding it again")
    return [*recipe.stack, *stack], {**recipe.overrides(), **(overrides or {})}
