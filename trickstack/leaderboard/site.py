"""The leaderboard as a static site: ``index.html`` (a table per workload, its trend plot, its negative
results, and the list of tricks), a page per recipe (its result, its gain over the baseline in parts with
the Shapley waterfall, interaction heatmap, attribution runs, the learning curves of the baseline, the previous recipe
and the recipe (`trickstack.leaderboard.curves`) and the trend), a page per trick
(`trickstack.leaderboard.trickpages`), ``rules.html``, and the same facts as ``leaderboard.md``,
``leaderboard.csv``, ``negative-results.csv`` and ``leaderboard.json`` (`trickstack.leaderboard.tables`).
The evidence files are copied beside the pages, so every number links to the records it came from.

Pages have inline CSS and inline SVG plots (matplotlib, through `trickstack.reports.html`), no script and
no external asset: the site opens offline and can be served by any static file server. Tables wrap their
cells to fit a laptop's width; below 700 px each row becomes a card of "heading: value" lines.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Mapping, Optional

import numpy as np

from trickstack.core.outputs import staged_folder
from trickstack.leaderboard import board as lb_
from trickstack.leaderboard import tables as tb
from trickstack.leaderboard.attribution import NUISANCE
from trickstack.leaderboard.board import Board, Entry, Leaderboard
from trickstack.leaderboard.curves import recipe_curves, trick_curves
from trickstack.leaderboard.evidence import _params
from trickstack.leaderboard.markup import esc, page, table
from trickstack.leaderboard.trickpages import render_trick, tricks_list
from trickstack.leaderboard.tricks import collect
from trickstack.reports.html import BAD, GOOD, NEUTRAL, TOTAL, arm_figure, interaction_figure, svg, waterfall_figure
from trickstack.reports.render import display, value_lines
from trickstack.stats import rules

STATUS_COLOR = {"new best": TOTAL, "carried forward": NEUTRAL, "not significant": BAD}
# The status colour is not the plots' blue (TOTAL): the browser test finds the rendered plots by their colours.


def write_site(lb: Leaderboard, out: Path) -> list[Path]:
    """Write every file of the site into ``out`` (created if needed); return the paths written. The site is
    written in a staging folder, then moved into ``out``: a failed write (a full disk) leaves ``out`` as it was."""
    with staged_folder(out) as stage:
        return [out / path.relative_to(stage) for path in _write_files(lb, stage)]


def _write_files(lb: Leaderboard, out: Path) -> list[Path]:
    written = []
    tricks = collect(lb)

    def put(name: str, text: str) -> None:
        path = out / name
        path.write_text(text, encoding="utf-8")
        written.append(path)

    for board in lb.boards.values():
        folder = out / "evidence" / board.name
        folder.mkdir(parents=True, exist_ok=True)
        for e in board.entries:
            written.append(Path(shutil.copyfile(e.evidence, folder / e.evidence.name)))
            for rep in e.replications:  # the replications' runs and manifests, as the recipe folder keeps them
                beside = folder / rep.manifest.parent.name
                beside.mkdir(exist_ok=True)
                written += [Path(shutil.copyfile(f, beside / f.name)) for f in (rep.manifest, rep.runs_path)]
    put("index.html", render_index(lb, tricks))
    for board in lb.boards.values():
        for e in board.entries:
            put(e.page, render_recipe(lb, board, e, tricks))
    for t in tricks.values():
        put(t.page, render_trick(t, tricks, trick_curves(t.name, lb)))
    put("rules.html", render_rules(lb))
    put("leaderboard.md", tb.render_markdown(lb, tricks))
    put("leaderboard.csv", tb.render_csv(lb.table()))
    put("negative-results.csv", tb.render_csv(lb.negative()))
    put("leaderboard.json", tb.render_json(lb, tricks))
    return written


def _board_table(board: Board, tricks: Mapping) -> str:
    links = [{"recipe": r["page"], "evidence": r["evidence"]} if r["page"] else {"evidence": r["evidence"]}
             for r in board.table.to_dict("records")]
    return table(tb.INDEX_HEADINGS, tb.index_rows(board), "leaderboard", links, tricks)


def _negative_table(board: Board, tricks: Mapping, year: Optional[int] = None) -> str:
    records = [r for r in board.negative.to_dict("records") if year in (None, r["year"])]
    if not records:
        return "<p>None recorded" + (f" in {year}" if year else "") + ": every stack the evidence holds is the recipe, " \
               "the previous recipe, the baseline or a subset of the recipe's tricks.</p>"
    return table(tb.NEGATIVE_HEADINGS, tb.negative_rows(board, year, names_only=year is None), "negative",
                 [{"evidence": r["evidence"]} for r in records], tricks)


def _figure(fig, caption: str, why: Optional[str] = None) -> str:
    if fig is None:
        return f"<p class=\"na\">No plot: {esc(why or '')}</p>"
    return f"<figure>{svg(fig)}<figcaption>{esc(caption)}</figcaption></figure>"


def trend_figure(board: Board, highlight: Optional[int] = None):
    """Each year's recipe: mean and 95% interval, coloured by status; the baseline's mean dashed, its
    interval shaded. ``highlight``: a year to circle."""
    from matplotlib.figure import Figure  # no pyplot: no global state, no GUI backend

    t = board.table
    rec, base = t[t.status != "baseline"], t[t.status == "baseline"]
    years = rec.year.astype(int).to_numpy()
    fig = Figure(figsize=(max(5.0, 2.0 + 0.9 * len(rec)), 3.6))
    ax = fig.add_subplot()
    if len(base):
        b = base.iloc[0]
        if np.isfinite(b.ci_low) and np.isfinite(b.ci_high):
            ax.axhspan(b.ci_low, b.ci_high, color=NEUTRAL, alpha=0.15, linewidth=0)
        ax.axhline(b["mean"], color=NEUTRAL, linestyle="--", linewidth=1, label="baseline")
    low, high = (rec["mean"] - rec.ci_low).to_numpy(float), (rec.ci_high - rec["mean"]).to_numpy(float)
    ax.plot(years, rec["mean"], color="#adb5bd", linewidth=1, zorder=1)
    ax.errorbar(years, rec["mean"], yerr=np.nan_to_num(np.vstack([low, high])), fmt="none", ecolor="#495057", capsize=3)
    for status, color in STATUS_COLOR.items():
        part = rec[rec.status == status]
        if len(part):
            ax.scatter(part.year.astype(int), part["mean"], color=color, s=36, zorder=3, label=status)
    if highlight is not None and highlight in years:
        y = rec.loc[rec.year == highlight, "mean"].iloc[0]
        ax.scatter([highlight], [y], s=160, facecolors="none", edgecolors=GOOD, linewidths=1.5, zorder=4)
    ax.set_xticks(years, [str(y) for y in years])
    if len(years) == 1:
        ax.set_xlim(years[0] - 1, years[0] + 1)
    ax.set_xlabel("year of the recipe")
    ax.set_ylabel(f"{board.metric} ({board.direction})")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    ax.grid(axis="y", color="#eee")
    ax.set_axisbelow(True)
    fig.tight_layout()
    return fig


TREND_CAPTION = ("Each year's recipe: mean of {metric} with its 95% interval, on its own evidence's seeds; "
                 "the baseline's mean dashed and its interval shaded.")


def render_index(lb: Leaderboard, tricks: Mapping) -> str:
    body = ["<h1>trickstack leaderboards</h1>",
            f"<ul class=\"meta\"><li>computed from the recipes in <code>{esc(lb.source_label)}</code> and their evidence "
            "files only" + (f", as of {lb.year}" if lb.year else "") + "; each evidence file sealed by its SHA-256 in "
            "the recipe</li>"
            f"<li>a new entry needs at least {rules.LEADERBOARD_MIN_SEEDS} paired seeds and a "
            f"{esc(rules.LEADERBOARD_TEST)} at p &lt; {rules.LEADERBOARD_ALPHA} "
            "(see <a href=\"rules.html\">the rules</a>); intervals are 95%; gains are signed so that + is better</li></ul>"]
    for b in lb.boards.values():
        body += [f"<section id=\"{esc(b.name.replace('/', '-'))}\" class=\"workload\"><h2>{esc(b.name)}</h2>",
                 f"<ul class=\"meta\"><li>metric {esc(b.metric)} ({esc(b.direction)}); budget {b.budget:.4g} "
                 f"{esc(b.budget_unit)}; hardware: {esc(', '.join(b.hardware))}</li></ul>",
                 _board_table(b, tricks),
                 _figure(trend_figure(b), TREND_CAPTION.format(metric=b.metric)),
                 f"<h3>Negative results: tried on {esc(b.name)} and not kept</h3>", _negative_table(b, tricks),
                 "</section>"]
    body += ["<section id=\"tricks\"><h2>Tricks</h2><p>Every trick that any evidence file names, with a verdict from "
             "its numbers; its page holds every piece of evidence about it.</p>", tricks_list(tricks), "</section>"]
    body.append("<section id=\"how-to-read\"><h2>How to read this</h2><dl>" + "".join(
        f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in HOW_TO_READ.items()) + "</dl></section>")
    return page("trickstack leaderboards", body)


HOW_TO_READ = {
    "recipe": "the baseline (the workload with no trick, its default nuisance values) and each year's integrated "
              "recipe: the best stack of the tricks known by that year; the link opens the recipe's page, with its "
              "parameters, its gain over the baseline and where that gain comes from.",
    "status": "; ".join(f"{k}: {v}" for k, v in lb_.STATUSES.items()) + ".",
    "mean ± 95% CI (n)": "the recipe's evaluation runs in its evidence: mean, half-width of the t interval and runs "
                         "(diverged runs are counted and left out of the mean).",
    "gain over the previous year": "first, the gain corrected for selection: a year is accepted only when its test "
                                   "passes, so the mean of the seeds that passed is too high; the corrected gain is "
                                   "the median of the gain given that acceptance (and the sequential stop), with "
                                   "its 95% interval among accepted years (trickstack.stats.selection); recipes "
                                   "derived with estimation seeds (fresh seeds run after the acceptance, which the "
                                   "decision never saw) add those pairs to it. Then, raw: "
                                   "mean over paired seeds of (recipe - previous recipe), its 95% t interval, the "
                                   "one-sided paired t-test's p for 'better than the previous recipe', and the pairs.",
    "changes": "tricks added (+), dropped (−) or re-tuned since the previous recipe, and re-tuned nuisance values; "
               "each trick links to its page.",
    "train time per run": "median training seconds of the recipe's evaluation runs (the run records' train_seconds) "
                          "and its ratio to the baseline's, on the hardware listed above the table.",
    "negative results": "stacks in a year's evidence that are neither the recipe, the previous recipe nor a subset "
                        "of the recipe's tricks: tried and not kept. The reference is whichever of the recipe and "
                        "the previous recipe the stack is closer to.",
}


def render_recipe(lb: Leaderboard, board: Board, e: Entry, tricks: Mapping) -> str:
    r = e.recipe
    body = [f"<h1>Recipe <code>{esc(e.name)}</code></h1>",
            f"<p>{esc(r.summary)}</p>" if r.summary else "",
            "<ul class=\"meta\">" + "".join(f"<li>{esc(line)}</li>" for line in _recipe_lines(e)) + "</ul>",
            "<h2>Result</h2>", table(["field", "value"], tb.result_rows(board, e), "result",
                                     [{"value": e.row["evidence"]} if x["field"] == "evidence" else {}
                                      for x in tb.result_rows(board, e)], tricks, cards=False),
            "<h2>Tricks</h2>"]
    rows = tb.tricks_rows(e)
    body.append(table(list(rows[0]), rows, "tricks", tricks=tricks) if rows else
                "<p>No trick: the recipe is the baseline with its own nuisance values.</p>")
    body.append("<p class=\"notes\">Shapley values from all the attribution runs of the evidence (the estimator of the "
                "waterfall below); the reasons are the recipe file's, without the Shapley values derive computed then "
                "from the orders it sampled.</p>")
    body.append("<section id=\"shapley\"><h2>Where the gain over the baseline comes from</h2>")
    if e.attribution is None or e.contributions is None:
        body.append(f"<p class=\"na\">Not available: {esc(e.attribution_note or 'no Shapley values')}</p></section>")
    else:
        parts = e.contributions
        lead = parts[parts.kind == "nuisance"]
        nuisance = None if lead.empty else (NUISANCE, *lead[["value", "ci_low", "ci_high"]].iloc[0].tolist())
        how = parts[parts.kind == "trick"].detail.iloc[0]  # the estimator, in the words of the parts table
        fig, why = waterfall_figure(e.attribution, nuisance, title=f"Shapley values {how}")
        total = parts[parts.kind == "total"].value.iloc[0]
        body += [_figure(fig, "The recipe's gain over the baseline (the workload's default nuisance values), in parts: "
                         + ("the re-tuned nuisance values with no trick (grey), then " if nuisance else "")
                         + "each trick's Shapley value at the recipe's nuisance values (error bars: 95% intervals), "
                         f"from the attribution runs of its evidence. Total {total:+.4f} = the result's Δ vs baseline "
                         f"{e.row['gain_base']:+.4f}.", why),
                 table(tb.PARTS_HEADINGS, tb.parts_rows(e), "shapley", tricks=tricks)]
        body.append("</section><section id=\"interactions\"><h2>Interactions</h2>")
        body += _section(e, "effects", interaction_figure, "Two-way interactions of the recipe's tricks (gain units); "
                         "* marks an interval that excludes 0; the diagonal shows each trick's main effect.", tricks)
        body.append("</section><section id=\"arms\"><h2>Attribution runs</h2>")
        body += _section(e, "arms", arm_figure, "Each subset of the recipe's tricks that was run: mean and 95% interval; "
                         "the recipe in blue, the baseline in grey.", tricks)
        additivity = e.attribution.sections.get("additivity")
        if additivity is not None and additivity.available:
            body.append("<ul class=\"notes\">" + "".join(f"<li>additivity {esc(line)}</li>" for line in
                                                          value_lines(additivity) + additivity.notes) + "</ul>")
        body.append("</section>")
    body += ["<section id=\"curves\"><h2>Learning curves</h2>", recipe_curves(e, board), "</section>"]
    body += ["<section id=\"trend\"><h2>Year over year</h2>",
             _figure(trend_figure(board, highlight=r.year), TREND_CAPTION.format(metric=board.metric)
                     + f" {r.year} circled."), "</section>",
             f"<section id=\"negative\"><h2>Tried in {r.year} and not kept</h2>", _negative_table(board, tricks, r.year),
             "</section>"]
    return page(f"trickstack recipe {e.name}", body)


def _recipe_lines(e: Entry) -> list[str]:
    r, p, row = e.recipe, e.recipe.provenance, e.row
    lines = [f"workload {r.workload}, year {r.year}; status: {row['status']} ({lb_.STATUSES[row['status']]})",
             f"previous: {row['previous']}; budget {row['budget']:.4g} {row['budget_unit']}; "
             f"{row['n']} evaluation runs on seeds {', '.join(str(x.seed) for x in e.runs)}",
             f"nuisance: {_params(r.nuisance)}",
             f"date {row['date']}, commit {row['commit'] or '-'}; evidence {e.evidence.name} "
             f"({len(e.records)} evaluation run records, {len(e.search)} search runs not counted"
             + (f", {len(e.estimation)} runs on estimation seeds {', '.join(map(str, p['estimation_seeds']))}, "
                "in the corrected gain only" if p.get("estimation_seeds") else "") + ")"]
    lines += tb.beaten_lines(e) + tb.confirmation_lines(e) + tb.reused_seed_lines(e)
    if p.get("study"):
        lines.append(f"derived by study {p['study']}")
    if not p:
        lines.append("hand-written recipe (no provenance): its numbers still come from its evidence")
    return lines


def _section(e: Entry, key: str, draw, caption: str, tricks: Mapping) -> list[str]:
    s = e.attribution.sections[key]
    if not s.available:
        return [f"<p class=\"na\">Not available: {esc(s.unavailable)}</p>"]
    fig, why = draw(e.attribution)
    parts = [_figure(fig, caption, why)]
    if s.table is not None and not s.table.empty:
        heads, rows = display(s)
        parts.append(table(heads, [dict(zip(heads, r)) for r in rows], key, tricks=tricks))
    lines = [line for line in value_lines(s) + s.notes]
    if lines:
        parts.append("<ul class=\"notes\">" + "".join(f"<li>{esc(line)}</li>" for line in lines) + "</ul>")
    return parts


def render_rules(lb: Leaderboard) -> str:
    rules = lb_.rules_summary(lb)
    body = ["<h1>Rules of the leaderboards</h1>",
            "<p>Generated from trickstack's constants (<code>trickstack.stats.rules</code>) and the registered "
            "workloads; <code>trickstack recipe derive</code> applies the same "
            "ones.</p>",
            "<h2>A new entry replaces the previous year's only with evidence</h2><ul>",
            f"<li>Seeds: {esc(rules['seeds'])}; seed <i>i</i> means the same initialisation and data order in every "
            "arm, and arms are compared seed by seed.</li>",
            f"<li>Test: {esc(rules['test'])}, p &lt; {rules['alpha']} (significance level), on at least "
            f"{rules['min_seeds']} pairs. Otherwise the previous recipe is carried forward.</li>",
            f"<li>Sequential seeds: {esc(rules['sequential'])}.</li>",
            f"<li>Comparison: {esc(rules['comparison'])}.</li>",
            "<li>Every number shown is computed from stored run records (the evidence files linked from each row), "
            "each carrying its provenance: code version, package versions, hardware, seed. Each evidence file is "
            "checked record by record and against the SHA-256 its recipe records; every claim of the recipe (gain, "
            "interval, p) is recomputed from it.</li>",
            f"<li>Negative results: {esc(rules['negative_results'])}.</li></ul>",
            "<h2>What may not change</h2><ul>" + "".join(f"<li>{esc(x)}</li>" for x in rules["may_not_change"]) + "</ul>",
            "<h2>Two tracks: FLOPs and time</h2><ul>",
            "<li>The FLOP track (<code>recipes/WORKLOAD/</code>) gives every run the same number of training FLOPs, "
            "counted from the work done; its runs replay bit for bit on the CPU.</li>",
            f"<li>The time track (<code>recipes/WORKLOAD/seconds/</code>): {esc(rules['time_track'])}.</li>",
            f"<li>A run's time: {esc(rules['time_measured'])}.</li></ul>",
            "<h2>Fixed budget per workload and track</h2>",
            table(["leaderboard", "metric", "budget unit", "budget", "hardware in the records"],
                  [{"leaderboard": w, "metric": f"{v['metric']} ({v['direction']})", "budget unit": v["budget_unit"],
                    "budget": f"{v['budget']:.4g}", "hardware in the records": ", ".join(v["hardware"])}
                   for w, v in rules["workloads"].items()], "rules")]
    return page("trickstack leaderboard rules", body)
