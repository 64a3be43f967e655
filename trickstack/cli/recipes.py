"""The ``trickstack recipe`` commands (show, check, seal, derive) and ``trickstack leaderboard``."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer
from rich.markup import escape

from trickstack.cli.consoles import err, out, phase_progress
from trickstack.cli.guards import out_folder, storage_writes
from trickstack.cli.help import (
    COMPILE_HELP,
    DETERMINISTIC_HELP,
    IDLE_WARNING_HELP,
    PRECISION_HELP,
    WORKERS_DEVICE_HELP,
    WORKERS_HELP,
    WORKERS_TRACKER_HELP,
)
from trickstack.cli.launch import coordinator
from trickstack.core.errors import UserError
from trickstack.stats import rules
from trickstack.stats.sequential import DEFAULT_LOOKS, DEFAULT_SPENDING

recipe_app = typer.Typer(no_args_is_help=True, help="Integrated recipes: the best stack of tricks known by a year.")


@recipe_app.command("show")
def recipe_show(
    ref: str = typer.Argument(..., metavar="FILE|WORKLOAD/YEAR", help="a recipe file, or WORKLOAD/YEAR of a shipped one"),
    as_json: bool = typer.Option(False, "--json", help="print the resolved recipe as JSON, as run records store it"),
) -> None:
    """Print a recipe resolved: bases applied, removed tricks dropped, every parameter and nuisance value filled in."""
    from trickstack.recipes.recipe import lineage, open_recipe, resolve

    recipe = open_recipe(ref)
    resolved = resolve(recipe)
    if as_json:
        print(resolved.model_dump_json(indent=2))
        return
    chain = lineage(recipe)
    bases = f", on top of {' <- '.join(r.name for r in reversed(chain[:-1]))}" if len(chain) > 1 else ""
    out.print(f"[bold]{resolved.name}[/bold]: {escape(recipe.recipe.summary)}", highlight=False)
    out.print(f"  file: {escape(recipe.source)}{bases}", highlight=False)
    out.print(f"  tricks ({len(resolved.tricks)}; each with the recipe that last set it and why):", highlight=False)
    for t in resolved.tricks:
        since = next(r for r in reversed(chain) if t.name in r.tricks)
        params = ", ".join(f"{k}={v}" for k, v in t.params.items())
        out.print(f"    {t.name}{f' ({escape(params)})' if params else ''}: {since.name}: "
                  f"{escape(since.tricks[t.name].reason)}", highlight=False)
    for r in chain:
        for name, entry in r.removed.items():
            out.print(f"  removed in {r.name}: {name}: {escape(entry.reason)}", highlight=False)
    out.print(f"  nuisance: {', '.join(f'{k}={v}' for k, v in resolved.nuisance.items())}", highlight=False)
    prov = recipe.provenance
    if prov is None:
        out.print("  provenance: none (hand-written, not derived by trickstack)", highlight=False)
        return
    verdict = "accepted" if prov.accepted else "not significant: the previous recipe is carried forward"
    out.print(f"  provenance: study {escape(prov.study)} on {prov.date}, commit {escape(prov.commit)}; budget "
              f"{prov.budget.value:.4g} {prov.budget.unit}" + (f" on {escape(prov.hardware)}" if prov.hardware else "") +
              f", {len(prov.seeds)} evaluation seeds; gain over "
              f"{escape(prov.previous)} {prov.gain:+.4g} (95% CI {prov.ci[0]:+.4g} to {prov.ci[1]:+.4g}), "
              f"p = {prov.p_value:.3g}: {verdict}; runs in {escape(prov.evidence)}", highlight=False)


@recipe_app.command("check")
def recipe_check(
    refs: Optional[List[str]] = typer.Argument(None, metavar="[FILE|WORKLOAD/YEAR]...",
                                               help="recipes to check; default: every shipped recipe"),
) -> None:
    """Validate recipes strictly, bases resolved; exit code 2 if any is wrong, each error naming its file."""
    from trickstack.recipes.recipe import open_recipe, resolve, shipped_paths

    refs = refs or [str(p) for p in shipped_paths()]
    if not refs:
        err.print("no shipped recipe to check")
    failed = 0
    for ref in refs:
        try:
            resolved = resolve(open_recipe(ref))
        except UserError as error:
            failed += 1
            err.print("[bold red]error:[/bold red]", escape(str(error)), highlight=False)
            continue
        out.print(f"ok {escape(ref)}: {resolved.name}, {len(resolved.tricks)} trick(s): "
                  f"{', '.join(resolved.stack) or 'none'}", highlight=False)
    if failed:
        raise typer.Exit(2)


@recipe_app.command("seal")
def recipe_seal(
    refs: Optional[List[str]] = typer.Argument(None, metavar="[FILE]...", help="recipe files; default: every shipped recipe"),
) -> None:
    """Write the SHA-256 of each derived recipe's evidence file into its provenance.evidence_sha256 (nothing
    else changes), so that any later edit of the evidence is refused by the leaderboard."""
    from trickstack.recipes.recipe import seal_recipe, shipped_paths

    for ref in refs or [str(p) for p in shipped_paths()]:
        digest = seal_recipe(ref)
        out.print(f"{escape(ref)}: " + (f"evidence sha256 {digest}" if digest else "hand-written, nothing to seal"),
                  highlight=False)


@recipe_app.command("derive")
def recipe_derive(
    workload: str = typer.Option(..., help="workload name (see `trickstack workloads list`) or package.module:factory"),
    year: int = typer.Option(..., help="the recipe's year: only tricks of YEAR or before are searched"),
    budget: Optional[str] = typer.Option(None, help="FLOPs per run, or a fraction of the reference budget (0.25x); "
                                         "with --budget-unit seconds, training seconds per run. Default: the previous "
                                         "recipe's, else the workload's reference budget (FLOPs). Every recipe of a "
                                         "workload's track has the same budget"),
    budget_unit: str = typer.Option("flops", help="flops (the FLOP track, recipes/W/Y.toml) or seconds (the time "
                                                  "track, recipes/W/seconds/Y.toml: a budget of training seconds on "
                                                  "this machine's class of hardware, see the leaderboard's rules)"),
    seeds: int = typer.Option(5, help="with --confirm fixed: N paired evaluation seeds, after those of earlier years' "
                                      "recipes (at least 5, the "
                                      "leaderboard's rule)"),
    confirm: str = typer.Option("sequential", help="sequential: add evaluation seeds look by look (--looks) while the "
                                                   "candidate is promising, alpha spent over the looks; fixed: --seeds seeds"),
    looks: str = typer.Option(",".join(map(str, DEFAULT_LOOKS)),
                              help="sequential confirmation: cumulative paired evaluation seeds at each look"),
    spending: str = typer.Option(DEFAULT_SPENDING, help="sequential confirmation: alpha spending over the looks, "
                                                        "pocock or obrien-fleming"),
    trials: int = typer.Option(16, help="configurations the search trains (on search seeds, disjoint from evaluation's)"),
    search_seeds: int = typer.Option(1, min=1, help="search seeds per configuration"),
    estimate_seeds: Optional[int] = typer.Option(
        None, min=0, help="an accepted candidate and the recipe it beat then run on this many fresh seeds that the "
                          "decision never saw; the corrected gain adds them (default 10, chosen by simulation: "
                          "trickstack.stats.selection; 0: none, the corrected gain from the confirmation alone)"),
    orders: int = typer.Option(4, min=1, help="attribution of a recipe of more than 4 tricks: the prefixes of this many "
                                              "random trick orders (sampled Shapley values); up to 4 tricks, all subsets"),
    tricks: str = typer.Option("", help="limit the candidates to these comma-separated tricks; default: every trick of "
                                        "YEAR or before that acts on the workload (the previous recipe's always are)"),
    storage: Optional[str] = typer.Option(None, help="the study's storage: sqlite:///FILE, postgresql://... or "
                                          "journal:///FILE; default sqlite:///trickstack.db. Run again to resume"),
    workers: int = typer.Option(1, min=0, help=WORKERS_HELP),
    idle_warning: Optional[float] = typer.Option(None, help=IDLE_WARNING_HELP),
    recipes: Optional[Path] = typer.Option(None, "--recipes", help="folder of <workload>/<year>.toml: the previous "
                                           "recipe is read from it, the new one and its evidence written to it; "
                                           "default: the shipped recipes/"),
    study: Optional[str] = typer.Option(None, help="the Optuna study's name; default derive-WORKLOAD-YEAR "
                                        "(derive-WORKLOAD-seconds-YEAR on the time track)"),
    force: bool = typer.Option(False, "--force", help="replace YEAR.toml and YEAR.runs.jsonl if they exist"),
    synthetic: Optional[Path] = typer.Option(None, "--synthetic", metavar="TRUTH.toml",
                                             help="testing only: with --workload synthetic, a TOML file whose synthetic "
                                                  "table is the known truth its runs are simulated from"),
    device: str = typer.Option("auto", help=WORKERS_DEVICE_HELP),
    deterministic: bool = typer.Option(True, "--deterministic/--no-deterministic", help=DETERMINISTIC_HELP),
    tracker: List[str] = typer.Option([], "--tracker", help=WORKERS_TRACKER_HELP),
    precision: str = typer.Option("fp32", help=PRECISION_HELP + "; the derivation study's setting"),
    compile: bool = typer.Option(False, "--compile/--no-compile", help=COMPILE_HELP + "; the derivation study's setting"),
) -> None:
    """Derive a year's recipe: search the tricks known by YEAR starting from the previous recipe (tricks may be
    dropped), confirm the best on fresh paired seeds, and write recipes/WORKLOAD/YEAR.toml (the time track:
    recipes/WORKLOAD/seconds/YEAR.toml) with its evidence.
    It beats the previous recipe only at p < 0.01 (one-sided paired t-test, at least 5 seeds; with sequential
    seeds, each look's stricter level that keeps false acceptance at 0.01); otherwise the previous recipe is
    carried forward."""
    from trickstack.ablations.processes import start_worker_server

    start_worker_server(workers, [workload])  # as `ablate` does: the server imports while this process imports
    from trickstack.cli.flags import budget_flag, device_flag, precision_flag, tracker_flags
    from trickstack.derive.derive import DeriveOptions, derive, load_truth
    from trickstack.derive.inputs import reference
    from trickstack.recipes.recipe import TRACKS, recipe_name
    from trickstack.workloads import get_workload

    device, trackers, precision = device_flag(device), tracker_flags(tracker), precision_flag(precision)
    truth = load_truth(synthetic) if synthetic is not None else None
    names = tuple(t.strip() for t in tricks.split(",") if t.strip()) or None
    if budget_unit not in TRACKS:
        raise UserError(f"--budget-unit {budget_unit}: recipes are derived for a budget in {' or '.join(TRACKS)}")
    chosen = budget_flag(budget, budget_unit, lambda: reference(get_workload(workload)))
    try:
        planned = tuple(int(n) for n in looks.split(","))
    except ValueError:
        raise UserError(f"--looks {looks!r}: expected comma-separated seed counts, e.g. 5,8,12") from None
    options = DeriveOptions(budget=chosen, track=budget_unit, seeds=seeds, confirm=confirm, looks=planned,
                            spending=spending, trials=trials, search_seeds=search_seeds, tricks=names, orders=orders,
                            study=study, force=force, device=device, deterministic=deterministic, trackers=trackers,
                            precision=precision, compile=compile,
                            **({"estimate_seeds": estimate_seeds} if estimate_seeds is not None else {}))
    from trickstack.derive.derive import default_study

    study_name = options.study or default_study(get_workload(workload).name, year, budget_unit)
    remote = coordinator(study_name, storage, workers, idle_warning)
    with phase_progress(recipe_name(workload, year, budget_unit)) as progress, storage_writes(storage, workers):
        d = derive(workload, year, options, recipes=recipes, storage=storage, workers=workers, truth=truth,
                   progress=progress, remote=remote)
    previous = "the baseline" if d.previous == "baseline" else recipe_name(d.recipe.workload, int(d.previous), budget_unit)
    test = (f"{d.gain:+.4g} {d.metric} over {previous} (95% CI {d.ci[0]:+.4g} to {d.ci[1]:+.4g}), "
            f"p = {d.p_value:.3g} over {d.n_pairs} paired seeds"
            + (f" (sequential: look {d.confirmation['looks_taken']} of {len(d.confirmation['looks'])}, "
               f"p < {d.confirmation['nominal']:.2g} needed)" if d.confirmation else ""))
    if d.accepted:
        out.print(f"{d.recipe.name}: new best, {escape(d.candidate)}: {test}", highlight=False)
        out.print(f"  added: {', '.join(d.added) or '-'}; removed: {', '.join(d.removed) or '-'}", highlight=False)
        if d.corrected:
            fresh = (f", with {len(d.estimation_seeds)} estimation seeds run after the acceptance"
                     if d.estimation_seeds else "")
            out.print(f"  corrected for selection{fresh}: {d.corrected[0]:+.4g} {d.metric} (95% interval "
                      f"{d.corrected[1]:+.4g} to {d.corrected[2]:+.4g}): the gain to quote", highlight=False)
    else:
        out.print(f"{d.recipe.name}: carried forward ({previous}'s tricks unchanged): the best candidate "
                  f"{escape(d.candidate)} did not pass p < {rules.LEADERBOARD_ALPHA}: {test}", highlight=False)
    out.print(f"written: {d.path} and {d.evidence.name} ({d.runs} run records)", highlight=False)
    for stack, c in d.beaten_by.items():  # found after the choice, on its seeds: a lead, not a confirmation
        out.print(f"note: {escape(stack)} beats {d.recipe.name} in its own follow-up runs by {c['gain']:+.4g} {d.metric} "
                  f"(95% CI {c['low']:+.4g} to {c['high']:+.4g}), p = {c['p']:.3g} over {c['n_pairs']} paired seeds; "
                  "not accepted: confirm it on fresh seeds (derive this year again with --force under another --study, "
                  "with its tricks among --tricks); the leaderboard's page of the year shows it", highlight=False)



def replicate(
    ref: str = typer.Argument(..., metavar="WORKLOAD/YEAR|FILE", help="a derived recipe: WORKLOAD/YEAR of a shipped "
                              "one (mnist1d/2019), or its file"),
    seeds: str = typer.Option(..., help="fresh paired seeds, START:STOP (100:110 is 100..109) or a comma-separated "
                                        "list: at least 5, none used by the recipe's derivation"),
    storage: Optional[str] = typer.Option(None, help="the study's storage: sqlite:///FILE, postgresql://... or "
                                          "journal:///FILE; default sqlite:///trickstack.db. Run again to resume"),
    workers: int = typer.Option(1, min=1, help="local worker processes"),
    study: Optional[str] = typer.Option(None, help="the Optuna study's name; default replicate-WORKLOAD-YEAR"),
    synthetic: Optional[Path] = typer.Option(None, "--synthetic", metavar="TRUTH.toml",
                                             help="testing only: for a recipe of the synthetic workload, a TOML file "
                                                  "whose synthetic table is the known truth its runs are simulated from"),
    device: str = typer.Option("auto", help=WORKERS_DEVICE_HELP),
    deterministic: bool = typer.Option(True, "--deterministic/--no-deterministic", help=DETERMINISTIC_HELP),
    tracker: List[str] = typer.Option([], "--tracker", help=WORKERS_TRACKER_HELP),
) -> None:
    """Replicate a derived recipe on fresh seeds: the recipe, its previous recipe and the baseline, paired, at the
    recipe's budget (a time-track recipe only on the hardware it was timed on). Writes
    <recipes>/WORKLOAD/YEAR.replications/DATE-HARDWARE.runs.jsonl and its sealed manifest DATE-HARDWARE.toml; the
    leaderboard shows every replication beside the recipe's claim."""
    from trickstack.cli.flags import device_flag, tracker_flags
    from trickstack.derive.derive import load_truth
    from trickstack.derive.replicate import parse_seeds
    from trickstack.derive.replicate import replicate as run_replication

    chosen = parse_seeds(seeds)
    truth = load_truth(synthetic) if synthetic is not None else None
    with phase_progress(f"replicate {ref}") as progress:
        r = run_replication(ref, chosen, storage=storage, workers=workers, device=device_flag(device),
                            deterministic=deterministic, truth=truth, progress=progress, study=study,
                            trackers=tracker_flags(tracker))
    t = r.test
    ratio = f"{t['gain'] / r.claimed:.2f}x the claimed {r.claimed:+.4g}" if r.claimed else f"claimed {r.claimed:+.4g}"
    out.print(f"{r.name} over {r.reference} on {t['n_pairs']} fresh paired seeds: {t['gain']:+.4g} (95% CI "
              f"{t['low']:+.4g} to {t['high']:+.4g}), p = {t['p']:.3g}; {ratio}; hardware {r.hardware}", highlight=False)
    out.print(f"written: {r.runs_path} and {r.manifest_path.name}", highlight=False)


def leaderboard(
    out_dir: Path = typer.Option(..., "--out", help="folder of the static site (index.html, a page per recipe, "
                                 "rules.html, leaderboard.md/.csv/.json, the evidence files)"),
    year: Optional[int] = typer.Option(None, help="the leaderboard as it stood at the end of YEAR (recipes of YEAR and before)"),
    workload: Optional[str] = typer.Option(None, help="one workload only; default: every workload with recipes"),
    recipes: Optional[Path] = typer.Option(None, "--recipes", help="folder of <workload>/<year>.toml recipes and "
                                           "their evidence; default: the shipped recipes/"),
    force: bool = typer.Option(False, "--force", help="write the site into a folder that is not empty (a previous "
                               "site's files are replaced)"),
) -> None:
    """Build the yearly leaderboards as a static site, from the recipes and their evidence records only."""
    from trickstack.leaderboard.board import build
    from trickstack.leaderboard.curves import curves_line
    from trickstack.leaderboard.site import write_site

    out_folder(out_dir, empty=not force)  # before the evidence is read: a bad place is refused first
    board = build(recipes, year=year, workload=workload)
    paths = write_site(board, out_dir)
    for name, b in board.boards.items():
        out.print(f"{name}: baseline and {len(b.entries)} recipe(s), {len(b.negative)} negative result(s); "
                  f"{curves_line(b)}", highlight=False)
    out.print(f"{len(paths)} files written; open {out_dir / 'index.html'}", highlight=False)
