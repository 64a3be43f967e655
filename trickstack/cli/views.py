"""How the CLI shows a run record, a simulated plan and a study's progress and results on the terminal."""

from __future__ import annotations

from rich.table import Table

from trickstack.cli.consoles import out


def print_simulated_plan(r: dict) -> None:
    fmt = lambda x, spec=".4g": "-" if x is None else format(x, spec)  # noqa: E731
    out.print(f"study {r['study']}: design {r['design']} over {len(r['tricks'])} tricks, {r['seeds']} paired seeds; "
              f"{r['studies']} simulated studies in {r['seconds']:.1f} s", highlight=False)
    runs = (f"{r['runs_per_study']:.0f}" if r["runs_min"] == r["runs_max"]
            else f"{r['runs_per_study']:.1f} (from {r['runs_min']} to {r['runs_max']})")
    out.print(f"  each study: {runs} training runs over {r['arms']} arms, {fmt(r['compute_per_study'], '.3g')} "
              f"{r['budget']['unit']} in all; {r['diverged_per_study']:.1f} diverged runs on average", highlight=False)
    out.print(f"  significant: {r['test']}", highlight=False)
    view = Table("term", "kind", "truth", "mean estimate", "sd", "significant", "CI covers truth",
                 title=f"{r['study']}: {r['studies']} simulated studies")
    view.columns[0].no_wrap = True
    for t in r["terms"]:
        view.add_row(t["term"], t["kind"], fmt(t["truth"]), fmt(t["mean_estimate"]), fmt(t["sd_estimate"]),
                     f"{t['significant']:.0%}", "-" if t["covered"] is None else f"{t['covered']:.0%}")
    out.print(view)
    weak = [t["term"] for t in r["terms"] if t["truth"] and t["significant"] < 0.8]
    if weak:
        out.print(f"  found in fewer than 80% of studies: {', '.join(weak)}; more seeds (or a factorial design, "
                  "which uses every run for every main effect) would help", highlight=False)


def print_record(record) -> None:
    m = record.metrics
    value = "diverged" if record.diverged else f"{m.eval_value:.4f}"
    stack = ", ".join(t.name for t in record.tricks) or "baseline"
    table = Table(show_header=False, title=f"{record.workload}: {stack} (seed {record.seed})")
    table.add_row(f"eval {m.eval_metric}", value)
    table.add_row("final train loss", "-" if m.train_loss is None else f"{m.train_loss:.4f}")
    table.add_row("budget", f"{record.budget.value:.4g} {record.budget.unit}")
    table.add_row("training FLOPs", f"{record.flops:.4g}")
    table.add_row("steps / samples", f"{record.steps} / {record.samples}")
    table.add_row("train / eval seconds", f"{record.train_seconds:.2f} / {record.eval_seconds:.2f}")
    for t in record.tricks:
        table.add_row(f"  {t.name}", ", ".join(f"{k}={v}" for k, v in t.params.items()) or "-")
    table.add_row("nuisance", ", ".join(f"{k}={v}" for k, v in record.nuisance.items()))
    if record.recipe is not None:
        table.add_row("recipe", f"{record.recipe.name} ({', '.join(record.recipe.stack) or 'no trick'})")
    if record.diverged:
        table.add_row("diverged at step", str(record.diverged_step))
    prov = record.provenance
    table.add_row("provenance", f"trickstack {prov.trickstack_version} @ {(prov.git_commit or 'wheel')[:10]}"
                  f"{' (dirty)' if prov.git_dirty else ''}, torch {prov.torch}, composer {prov.composer}")
    out.print(table)


def print_status(study) -> None:
    """A study's progress: arms and jobs done, failures, exclusions, ETA."""
    from trickstack.ablations.export import status

    st = status(study)
    eta = "-" if st["eta_seconds"] is None else f"{st['eta_seconds'] / 60:.1f} min"
    out.print(f"study {st['study']} ({st['design']}): arms {st['arms_done']}/{st['arms_total']} done, "
              f"jobs {st['jobs_complete']} complete, {st['jobs_running']} running, {st['jobs_waiting']} waiting, "
              f"{len(st['jobs_failed'])} failed; ETA {eta}{'; finished' if st['finished'] else ''}", highlight=False)
    for job in st["jobs_failed"]:
        out.print(f"  failed: {job}", highlight=False)
    for arm, why in st["excluded_arms"]:
        out.print(f"  excluded {arm}: {why}", highlight=False)


def print_results(study) -> None:
    """Each arm's evaluation runs (best first) and the tuning compute per arm."""
    from trickstack.ablations.export import tidy
    from trickstack.ablations.state import StudyState
    from trickstack.stats.analysis import arm_summary

    table = tidy(study)
    if table.empty or not (table["phase"] == "eval").any():
        return
    state = StudyState(study)
    summary = arm_summary(table, state.direction)  # best first
    metric = table.loc[table["phase"] == "eval", "metric"].iloc[0]
    view = Table("arm", "n", f"{metric} mean", "sd", "95% CI", "diverged", title=f"{study.study_name}: evaluation")
    for row in summary.itertuples():
        ci = f"{row.ci_low:.4f} to {row.ci_high:.4f}" if row.n - row.n_diverged > 1 else "-"
        view.add_row(row.arm, str(row.n), f"{row.mean:.4f}", f"{row.sd:.4f}" if row.n - row.n_diverged > 1 else "-", ci,
                     str(row.n_diverged))
    out.print(view)
    if state.tuning:
        view = Table("arm", "tuning trials", "tuning FLOPs", "tuning seconds", "tuned values", title="tuning compute per arm")
        for arm, t in sorted(state.tuning.items()):
            best = ", ".join(f"{k}={v:.4g}" for k, v in (t["best"] or {}).items())
            view.add_row(arm, str(t["trials"]), f"{t['flops']:.3g}", f"{t['seconds']:.1f}", best)
        out.print(view)
