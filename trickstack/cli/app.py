"""The ``trickstack`` command line. User errors print one line and exit with code 2."""

from __future__ import annotations

import fnmatch
import io
import json
import math
import sys
import warnings
from pathlib import Path
from typing import List, Optional

import typer
from rich.markup import escape
from rich.table import Table

from trickstack.cli.consoles import err, out, phase_progress
from trickstack.cli.guards import out_file as checked_out_file
from trickstack.cli.guards import out_flag, out_folder, storage_writes
from trickstack.cli.help import (
    COMPILE_HELP,
    DETERMINISTIC_HELP,
    DEVICE_HELP,
    IDLE_WARNING_HELP,
    PRECISION_HELP,
    STORAGE_RETRY_HELP,
    STUDY_SYSTEM_HELP,
    TRACKER_HELP,
    WORKER_SYSTEM_HELP,
    WORKERS_DEVICE_HELP,
    WORKERS_HELP,
    WORKERS_TRACKER_HELP,
)
from trickstack.cli.launch import coordinator, launch_app, storage_url
from trickstack.cli.recipes import leaderboard, recipe_app, replicate
from trickstack.cli.storage import storage_app
from trickstack.cli.views import print_record, print_results, print_simulated_plan, print_status
from trickstack.core.errors import DataWarning, UserError
from trickstack.core.outputs import remedy, write_file, write_problem

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Measure how small training tricks add up.")
tricks_app = typer.Typer(no_args_is_help=True, help="The registered tricks.")
workloads_app = typer.Typer(no_args_is_help=True, help="The registered benchmark workloads.")
app.add_typer(tricks_app, name="tricks")
app.add_typer(workloads_app, name="workloads")
app.add_typer(recipe_app, name="recipe")
app.add_typer(launch_app, name="launch")
app.add_typer(storage_app, name="storage")
app.command()(leaderboard)
app.command()(replicate)


def _trick_status(info, workload) -> str:
    from trickstack.tricks.registry import trick_status

    short, reason = trick_status(info, workload)
    return f"{short}: {reason}" if reason else short


@tricks_app.command("list")
def tricks_list(
    pattern: str = typer.Argument("*", help="glob over trick names, e.g. 'l*'"),
    as_json: bool = typer.Option(False, "--json", help="print JSON instead of a table"),
    show_all: bool = typer.Option(False, "--all", help="also list the Composer algorithms that cannot act on any "
                                                       "workload, with the reason (JSON: {\"tricks\", \"unusable\"})"),
) -> None:
    """List tricks: name, year, domains, what they change and their status on each workload."""
    from trickstack.algorithms.unusable import UNUSABLE
    from trickstack.tricks.registry import STATUS_SHORT, get_trick, list_tricks
    from trickstack.workloads import get_workload, list_workloads

    infos = [get_trick(name) for name in list_tricks(pattern)]
    workloads = [get_workload(name) for name in list_workloads()]
    rows = [
        {
            "name": i.name, "year": i.year, "domains": list(i.domains), "changes": list(i.changes),
            "summary": i.summary, "status": {w.name: _trick_status(i, w) for w in workloads},
            "distribution": i.distribution.model_dump() if i.distribution else None,
        }
        for i in infos
    ]
    unusable = [{"name": k, "composer_class": u.composer_class, "reason": u.reason}
                for k, u in sorted(UNUSABLE.items()) if fnmatch.fnmatchcase(k, pattern)] if show_all else None
    if as_json:
        out.print_json(json.dumps({"tricks": rows, "unusable": unusable} if show_all else rows))
        return
    table = Table(title=f"{len(rows)} tricks",
                  caption="ok: runs there; no-op: runs but changes nothing there; base: the workload's baseline already "
                          "has it; —: its requirements exclude it (reasons: `tricks show NAME` or --json)")
    table.add_column("name", no_wrap=True, min_width=max((len(r["name"]) for r in rows), default=4))
    table.add_column("year")
    table.add_column("domains")
    table.add_column("changes")
    for w in workloads:
        table.add_column(w.name, no_wrap=True)  # "ok", "no-op" or "—"
    for row in rows:
        short = [STATUS_SHORT[st.split(":")[0]] for st in (row["status"][w.name] for w in workloads)]
        table.add_row(row["name"], str(row["year"]), ", ".join(row["domains"]), ", ".join(row["changes"]), *short)
    out.print(table)
    if unusable is not None:
        skipped = Table("name", "Composer class", "why it cannot act on any workload",
                        title=f"{len(unusable)} Composer algorithms not registered")
        for u in unusable:
            skipped.add_row(u["name"], u["composer_class"], escape(u["reason"]))
        out.print(skipped)


@tricks_app.command("show")
def tricks_show(name: str = typer.Argument(..., help="a trick name")) -> None:
    """Show one trick's metadata and search space."""
    from trickstack.tricks.registry import get_trick

    info = get_trick(name)
    out.print(f"[bold]{info.name}[/bold] ({info.year}): {info.summary}")
    out.print(f"  citation:  {info.citation.title} <{info.citation.url}>")
    out.print(f"  domains:   {', '.join(info.domains)}")
    out.print(f"  changes:   {', '.join(info.changes)}")
    out.print(f"  requires:  {', '.join(info.requires) or '-'}")
    out.print(f"  conflicts: {', '.join(info.conflicts) or '-'}")
    for setting, why in info.unsupported.items():
        out.print(f"  cannot run under {setting}: {why}", highlight=False)
    out.print(f"  distribution: {info.provided_by}", highlight=False)
    from trickstack.workloads import get_workload, list_workloads

    for name in list_workloads():
        out.print(f"  on {name}: {_trick_status(info, get_workload(name))}", highlight=False)
    out.print("  parameters:")
    for p in info.params:
        out.print(f"    {p.describe()}  {p.help}", markup=False)


@workloads_app.command("list")
def workloads_list(as_json: bool = typer.Option(False, "--json", help="print JSON instead of a table")) -> None:
    """List workloads: domain, metric and direction, batch size, reference budget."""
    from trickstack.workloads import get_workload, list_workloads

    rows = []
    for name in list_workloads():
        w = get_workload(name)
        rows.append({
            "name": w.name, "domain": w.domain, "summary": w.summary, "metric": w.metric, "direction": w.direction,
            "batch_size": w.batch_size, "reference_steps": w.reference_steps, "provides": list(w.provides),
            "nuisance": {p.name: p.default for p in w.nuisance},
        })
    if as_json:
        out.print_json(json.dumps(rows))
        return
    table = Table("name", "domain", "metric", "batch", "reference", "nuisance defaults")
    for r in rows:
        table.add_row(r["name"], r["domain"], f"{r['metric']} ({r['direction']})", str(r["batch_size"]),
                      f"{r['reference_steps']} steps", ", ".join(f"{k}={v}" for k, v in r["nuisance"].items()))
    out.print(table)


@app.command()
def run(
    workload: Optional[str] = typer.Option(None, help="workload name (see `trickstack workloads list`) or "
                                           "package.module:factory; default the recipe's, else mnist1d"),
    recipe_ref: Optional[str] = typer.Option(None, "--recipe", metavar="FILE|WORKLOAD/YEAR",
                                             help="start from a recipe (recipes/mnist1d/2019.toml, or mnist1d/2019 for "
                                                  "a shipped one): its tricks, parameters and nuisance values; --tricks "
                                                  "adds tricks on top and --set changes values on top; the record keeps "
                                                  "the resolved recipe"),
    tricks: str = typer.Option("", help="comma-separated trick names, e.g. ema,label_smoothing (with --recipe: "
                                        "tricks added on top of it, none of them already in it)"),
    seed: int = typer.Option(0, help="fixes initialisation, data order and every trick's randomness"),
    budget: Optional[str] = typer.Option(None, help="compute budget in --budget-unit, or a fraction of the workload's "
                                         "reference budget (0.25x); default: with --recipe the budget it was derived at "
                                         "(FLOPs, or seconds for a time-track recipe), else the reference budget"),
    budget_unit: Optional[str] = typer.Option(None, help="flops, samples or seconds (default: flops; without --budget, "
                                              "the recipe's unit)"),
    set_: List[str] = typer.Option([], "--set", help="TRICK.PARAM=VALUE or NUISANCE=VALUE; repeatable"),
    as_json: bool = typer.Option(False, "--json", help="print the record as JSON"),
    out_dir: Optional[Path] = typer.Option(None, "--out", help="also write the record to a new file in this folder"),
    device: str = typer.Option("auto", help=DEVICE_HELP),
    deterministic: bool = typer.Option(True, "--deterministic/--no-deterministic", help=DETERMINISTIC_HELP),
    tracker: List[str] = typer.Option([], "--tracker", help=TRACKER_HELP),
    precision: str = typer.Option("fp32", help=PRECISION_HELP),
    compile: bool = typer.Option(False, "--compile/--no-compile", help=COMPILE_HELP),
) -> None:
    """Train one stack of tricks on one workload with one seed under one budget; print its record."""
    from trickstack.cli.flags import budget_flag, device_flag, precision_flag, set_flags, tracker_flags
    from trickstack.core.records import save_record
    from trickstack.core.system import settings
    from trickstack.recipes.recipe import open_recipe, resolve
    from trickstack.trial.progress import BudgetProgress
    from trickstack.trial.runner import check_seed, reference_budget, resolve_stack, run_trial, with_recipe
    from trickstack.workloads import get_workload

    try:
        check_seed(seed)
    except UserError as error:
        raise UserError(f"--seed: {error}") from None
    device, trackers, precision = device_flag(device), tracker_flags(tracker), precision_flag(precision)
    source = open_recipe(recipe_ref) if recipe_ref is not None else None
    recipe = resolve(source) if source is not None else None
    if recipe is not None and workload is not None and workload != recipe.workload:
        raise UserError(f"--workload {workload} differs from the workload of recipe {recipe.name} ({recipe.workload}); "
                        "leave --workload out")
    wl = get_workload(recipe.workload if recipe else "mnist1d" if workload is None else workload)  # "" is an error
    extra = [t.strip() for t in tricks.split(",") if t.strip()]
    stack, from_recipe = with_recipe(recipe, wl, extra, {})  # the recipe's tricks, then --tricks
    overrides = set_flags(set_, wl, stack, f"recipe {recipe.name} or --tricks" if recipe else "--tricks")
    resolve_stack(wl, stack, {**from_recipe, **overrides}, settings(precision, compile))  # every user error before data loads
    chosen = budget_flag(budget, budget_unit or "flops", lambda: reference_budget(wl))
    measured = source.provenance if source is not None else None  # a hand-written recipe has none
    if chosen is None and measured is not None:  # the budget the recipe was derived and measured at
        chosen = measured.budget.as_budget()
        if budget_unit not in (None, chosen.unit):
            raise UserError(f"--budget-unit {budget_unit} needs --budget (recipe {source.name}'s budget is {chosen})")
    elif chosen is None and budget_unit not in (None, "flops"):
        raise UserError("--budget-unit needs --budget (the reference budget is in FLOPs)")
    if out_dir is not None:
        out_folder(out_dir)  # before training: a bad folder must not waste the run
    callbacks = [BudgetProgress(f"{wl.name} {'+'.join(stack) or 'baseline'} seed {seed}")] if err.is_terminal else []
    record = run_trial(wl, extra, seed=seed, budget=chosen, overrides=overrides, recipe=recipe, callbacks=callbacks,
                       device=device, deterministic=deterministic, trackers=trackers, precision=precision,
                       compile=compile)
    if as_json:
        print(record.to_json())
    else:
        print_record(record)
    if measured is not None and chosen.unit == "seconds" and measured.hardware not in (
            None, record.provenance.hardware_class):
        err.print(f"note: recipe {source.name} was timed on {measured.hardware}; this run trained on "
                  f"{record.provenance.hardware_class}, where {chosen} buy a different amount of training (the time "
                  "track compares runs of one hardware class only)", highlight=False)
    if out_dir is not None:
        path = save_record(record, out_dir)
        err.print(f"record written to {path}")


def _load_study(name: str, storage: Optional[str]):
    import optuna

    from trickstack.ablations.storage import DEFAULT_SQLITE, open_storage, shown_url

    backend = open_storage(storage)
    try:
        return optuna.load_study(study_name=name, storage=backend)
    except KeyError:
        known = [s.study_name for s in optuna.get_all_study_summaries(backend) if "::" not in s.study_name]
        from trickstack.core.errors import close_matches

        hint = close_matches(name, known) or (" (it has: " + ", ".join(known) + ")" if known else " (it has none)")
        raise UserError(f"no study {name!r} in {shown_url(storage) or f'the default storage ({DEFAULT_SQLITE})'}"
                        f"{hint}") from None


@app.command()
def ablate(
    spec_path: Path = typer.Argument(..., metavar="SPEC.toml", help="study spec (see ablations/*.toml)"),
    storage: Optional[str] = typer.Option(None, help="sqlite:///FILE, postgresql://..., or journal:///FILE; default "
                                          "sqlite:///trickstack.db (journal:///trickstack.journal with --workers > 1)"),
    workers: int = typer.Option(1, min=0, help=WORKERS_HELP),
    idle_warning: Optional[float] = typer.Option(None, help=IDLE_WARNING_HELP),
    dry_run: bool = typer.Option(False, "--dry-run", help="list the arms, trial count and estimated time; train nothing"),
    yes: bool = typer.Option(False, "--yes", help="queue a study of more than 10,000 runs or about 30 days"),
    device: str = typer.Option("auto", help=WORKERS_DEVICE_HELP),
    deterministic: bool = typer.Option(True, "--deterministic/--no-deterministic", help=DETERMINISTIC_HELP),
    storage_retry: Optional[float] = typer.Option(None, "--storage-retry", help=STORAGE_RETRY_HELP),
    tracker: List[str] = typer.Option([], "--tracker", help=WORKERS_TRACKER_HELP),
    precision: Optional[str] = typer.Option(None, help=PRECISION_HELP + STUDY_SYSTEM_HELP),
    compile: Optional[bool] = typer.Option(None, "--compile/--no-compile", help=COMPILE_HELP + STUDY_SYSTEM_HELP),
) -> None:
    """Run or continue a combination study: tricks alone and together, paired seeds, fixed budget.
    The plan and its estimated time are printed first."""
    if not dry_run:
        from trickstack.ablations.processes import spec_workloads, start_worker_server

        start_worker_server(workers, spec_workloads(spec_path))  # imports and loads while this process imports
    from trickstack.ablations.engine import ablate as run_study
    from trickstack.ablations.engine import plan_arms
    from trickstack.ablations.estimate import oversized
    from trickstack.ablations.resilient import retry_seconds
    from trickstack.ablations.spec import StudySpec
    from trickstack.cli.flags import device_flag, precision_flag, study_system, tracker_flags
    from trickstack.trial.devices import worker_devices

    storage_retry = retry_seconds(storage_retry)
    spec = study_system(StudySpec.load(spec_path), precision_flag(precision), compile)
    device, trackers = device_flag(device), tracker_flags(tracker)
    runs, seconds = _print_plan(spec, *plan_arms(spec), workers, worker_devices(device, max(workers, 1))[0], deterministic,
                                out if dry_run else err)  # stdout: the results
    if dry_run:
        return
    too_big = oversized(runs, seconds)
    if too_big and not yes:
        raise UserError(f"study {spec.study.name}: {too_big}; nothing was queued. Check the spec's seeds and tricks "
                        "(--dry-run shows the plan), or pass --yes to queue it anyway")
    remote = coordinator(spec.study.name, storage, workers, idle_warning)
    with phase_progress(spec.study.name) as progress, storage_writes(storage, workers):
        ctx = run_study(spec, storage, workers, progress, device=device, deterministic=deterministic,
                        storage_retry=storage_retry, remote=remote, trackers=trackers)
    print_status(ctx.study)
    print_results(ctx.study)


def _print_plan(spec, arms, excluded, workers: int, device: str = "cpu", deterministic: bool = True,
                out=out) -> tuple[int, float]:
    """Print the arms, the number of runs and the estimated time (a run timed as one of the workers trains it,
    on the first worker's device); return (runs, seconds with the workers)."""
    from trickstack.ablations.engine import STATIC
    from trickstack.ablations.estimate import seconds_per_run
    from trickstack.core.stacks import arm_name

    s = spec.study
    tune = spec.tune.trials_per_arm * spec.tune.seeds if spec.tune else 0
    runs = len(arms) * (s.seeds + tune)
    training = f"{runs} training runs ({len(arms)} x ({s.seeds} evaluation seeds + {tune} tuning runs))"
    out.print(f"study {s.name}: design {s.design} over {len(s.tricks)} tricks on {s.workload}, "
              f"budget {s.budget.as_budget().value:.4g} {s.budget.as_budget().unit}, {s.seeds} paired seeds")
    if s.design not in STATIC:
        out.print("  adaptive design: the first round is listed; later rounds depend on its results")
    out.print(f"  {len(arms)} arms: {', '.join(arm_name(a) for a in arms)}", highlight=False)
    for arm, why in excluded:
        out.print(f"  excluded {arm_name(arm)}: {why}", highlight=False)
    if workers == 0:  # nothing is timed here: the workers elsewhere may be other hardware
        out.print(f"  {training}, by workers elsewhere", highlight=False)
        return runs, 0.0
    per_run = seconds_per_run(spec, workers, device, deterministic)
    seconds = runs * per_run / workers
    out.print(f"  {training}; about {per_run:.1f} s each, {seconds / 60:.1f} min with {workers} worker(s)")
    return runs, seconds


@app.command()
def worker(
    study: str = typer.Argument(..., help="study name"),
    storage: Optional[str] = typer.Option(None, help="the study's storage URL (postgresql://... from another machine); "
                                          "default: the TRICKSTACK_STORAGE environment variable"),
    storage_file: Optional[Path] = typer.Option(None, "--storage-file", help="a file holding the storage URL, readable "
                                                "by its owner only (chmod 600): the password stays off the command line"),
    poll: float = typer.Option(0.0, help="seconds between looks for new jobs while the study is open (0: stop when idle)"),
    device: str = typer.Option("auto", help=DEVICE_HELP),
    deterministic: bool = typer.Option(True, "--deterministic/--no-deterministic", help=DETERMINISTIC_HELP),
    precision: Optional[str] = typer.Option(None, help=PRECISION_HELP + WORKER_SYSTEM_HELP),
    compile: Optional[bool] = typer.Option(None, "--compile/--no-compile", help=COMPILE_HELP + WORKER_SYSTEM_HELP),
    storage_retry: Optional[float] = typer.Option(None, "--storage-retry", help=STORAGE_RETRY_HELP),
    grace: Optional[float] = typer.Option(None, help="after SIGTERM (preemption), seconds the current trial may take to "
                                                     "finish; past them it is released to another worker. Default 20: keep "
                                                     "it a few seconds under the scheduler's own grace"),
    tracker: List[str] = typer.Option([], "--tracker", help=TRACKER_HELP),
) -> None:
    """Join a study: run its queued trials until none is left (with --poll, until the study finishes; a study not
    created yet is waited for). On SIGTERM it starts no new trial; the one it trains may finish within --grace
    seconds, else it is given back to the queue; then it exits with 143."""
    from trickstack.ablations.preemption import PREEMPTED_EXIT, Preempted, Preemption, grace_seconds
    from trickstack.ablations.remote import wait_for_study
    from trickstack.ablations.resilient import retry_seconds
    from trickstack.ablations.worker import work
    from trickstack.cli.flags import device_flag, precision_flag, tracker_flags

    if not (math.isfinite(poll) and poll >= 0):
        raise UserError(f"--poll {poll:g}: give the seconds between looks, a finite number >= 0 (0: stop when idle)")
    storage = storage_url(storage, storage_file)
    device, storage_retry, grace = device_flag(device, resolve=True), retry_seconds(storage_retry), grace_seconds(grace)
    trackers, precision = tracker_flags(tracker), precision_flag(precision)
    wait_for_study(study, storage, poll, lambda message: err.print(message, highlight=False))
    _load_study(study, storage)
    try:
        with Preemption(grace) as preemption, storage_writes(storage):
            done = work(study, storage, poll_seconds=poll, device=device, deterministic=deterministic,
                        storage_retry=storage_retry, preemption=preemption, trackers=trackers, precision=precision,
                        compile=compile)
    except Preempted as stopped:
        err.print(f"worker ran {stopped.args[0]} trial(s); stopped by SIGTERM (a trial it could not finish in the grace "
                  "was queued again)")
        raise typer.Exit(PREEMPTED_EXIT)
    err.print(f"worker ran {done} trial(s)")


@app.command()
def status(
    study: str = typer.Argument(..., help="study name"),
    storage: Optional[str] = typer.Option(None, help="the study's storage URL"),
    as_json: bool = typer.Option(False, "--json", help="print JSON"),
) -> None:
    """Arms done/total, running and waiting jobs, failures and an ETA."""
    from trickstack.ablations.export import status as study_status

    loaded = _load_study(study, storage)
    if as_json:
        print(json.dumps(study_status(loaded)))
    else:
        print_status(loaded)


@app.command()
def export(
    study: str = typer.Argument(..., help="study name"),
    storage: Optional[str] = typer.Option(None, help="the study's storage URL"),
    fmt: str = typer.Option("csv", "--format", help="csv, parquet or json"),
    out_file: Optional[Path] = typer.Option(None, "--out", help="file to write (default: standard output; parquet needs --out)"),
    force: bool = typer.Option(False, "--force", help="replace an existing --out file (never the study's storage)"),
) -> None:
    """One tidy row per training run: arm, tricks on, their parameters, seed, metrics, FLOPs, wall time, diverged."""
    from trickstack.ablations.export import tidy, tidy_csv
    from trickstack.ablations.state import StudyState

    if fmt not in ("csv", "parquet", "json"):
        raise UserError(f"--format must be csv, parquet or json, got {fmt!r}")
    if fmt == "parquet" and out_file is None:
        raise UserError("--format parquet writes a binary file: give --out FILE")
    if out_file is not None:
        checked_out_file(out_file, force, storage)
    loaded = _load_study(study, storage)
    table = tidy(loaded)
    stopped = StudyState(loaded).stopped
    if table.empty and stopped:
        raise UserError(f"study {study!r} was stopped before any run finished: {stopped}")
    if fmt == "parquet":
        buffer = io.BytesIO()
        table.to_parquet(buffer, index=False)
        write_file(out_file, buffer.getvalue())  # atomic: a failed write leaves the file as it was
    else:
        text = tidy_csv(table) if fmt == "csv" else table.to_json(orient="records", indent=1)
        if out_file is None:
            sys.stdout.write(text)
        else:
            write_file(out_file, text)
    if out_file is not None:
        err.print(f"{len(table)} rows written to {out_file}")


@app.command()
def report(
    study: str = typer.Argument(..., help="study name"),
    storage: Optional[str] = typer.Option(None, help="the study's storage URL"),
    fmt: str = typer.Option("text", "--format", help="text, md, html, json or csv"),
    out_dir: Optional[Path] = typer.Option(None, "--out", help="folder to write to (html: default the current folder; "
                                           "csv: one file per table; otherwise standard output)"),
    adjust: str = typer.Option("holm", help="multiple-comparison correction: holm (family-wise) or bh (false discovery rate)"),
    test: str = typer.Option("t", help="paired test: t; bootstrap (studentized); permutation (exact sign flips: its "
                             "smallest p is 1/2^pairs, so p < 0.01 needs 7 pairs); rank (signed-rank, a diverged run "
                             "counts as the worst score of its seed; smallest p also 1/2^pairs)"),
    only: Optional[str] = typer.Option(None, help="comma-separated sections (arms, baseline, full, effects, shapley, "
                                       "additivity, power, tuning, greedy, search, excluded, wall_clock, curves, "
                                       "budget: the arms ranked from the learning curves at 25%, 50% and 100% of the "
                                       "budget); refused if the study cannot give one"),
    force: bool = typer.Option(False, "--force", help="replace report files already in the --out folder"),
) -> None:
    """What a study found, from its stored runs: arms, paired gains, effects, Shapley values, additivity, power, tuning."""
    from trickstack.reports.files import FORMATS, write
    from trickstack.reports.render import render_text
    from trickstack.reports.sections import TESTS, build_report
    from trickstack.stats.analysis import METHODS

    for flag, value, choices in (("--format", fmt, FORMATS), ("--adjust", adjust, METHODS), ("--test", test, TESTS)):
        if value not in choices:
            raise UserError(f"{flag} must be one of {', '.join(choices)}, got {value!r}")
    sections = [k.strip() for k in only.split(",") if k.strip()] if only else None
    if out_dir is not None or fmt == "html":
        out_folder(out_dir or Path("."))
    result = build_report(_load_study(study, storage), adjust=adjust, test=test, only=sections)
    if fmt == "text" and out_dir is None and out.is_terminal:
        render_text(result, out)  # in colour, at the terminal's width
        return
    from trickstack.ablations.storage import storage_file

    with out_flag():
        text, paths = write(result, fmt, out_dir, overwrite=force, protected=[storage_file(storage)])
    if text is not None:
        sys.stdout.write(text)
    for path in paths:
        print(path)


@app.command()
def plan(
    spec_path: Path = typer.Argument(..., metavar="SPEC.toml", help='a study spec with workload = "synthetic" and a '
                                     'synthetic table of guessed effects and noise'),
    studies: int = typer.Option(20, "--studies", min=1, help="how many times to simulate the study"),
    alpha: float = typer.Option(0.05, help="significance level, after Holm's correction"),
    as_json: bool = typer.Option(False, "--json", help="print JSON"),
) -> None:
    """Before training anything: simulate a study many times from guessed effects and noise, and see how
    often each effect comes out significant (power), how often a null one does, and what the study costs."""
    from trickstack.ablations.plan import plan_study
    from trickstack.ablations.spec import StudySpec

    spec = StudySpec.load(spec_path)
    result = plan_study(spec, studies, alpha)
    if as_json:
        print(json.dumps(result))
        return
    print_simulated_plan(result)


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Warnings about the user's data as one line; any other warning as Python shows it."""
    if issubclass(category, DataWarning):
        err.print("[bold yellow]warning:[/bold yellow]", escape(str(message)), highlight=False)
    else:
        _python_show_warning(message, category, filename, lineno, file, line)


_python_show_warning = warnings.showwarning


def main() -> None:
    warnings.showwarning = _show_warning
    try:
        app()
    except UserError as error:
        err.print("[bold red]error:[/bold red]", escape(str(error)), highlight=False)
        sys.exit(2)
    except OSError as error:  # a file no command expected to fail: one line if a full disk or read-only, naming it
        problem = write_problem(error)
        if problem is None or not error.filename:
            raise
        err.print("[bold red]error:[/bold red]", escape(f"{error.filename}: cannot write it: {problem} "
                                                        f"({remedy(problem)})"), highlight=False)
        sys.exit(2)


if __name__ == "__main__":
    main()
