"""The leaderboard as a static site: ``index.html`` (a table per workload, its trend plot and its negative
results), a page per recipe (its Shapley waterfall, interaction heatmap, arms with intervals and the
trend), ``rules.html``, and the same tables as ``leaderboard.md``, ``leaderboard.csv``,
``negative-results.csv`` and ``leaderboard.json``. The evidence files are copied beside the pages, so
every number links to the records it came from.

Pages have inline CSS and inline SVG plots (matplotlib, through `trickstack.reports.html`), no script and
no external asset: the site opens offline and can be served by any static file server.
"""

from __future__ import annotations

import html
import json
import math
import shutil
from pathlib import Path
from typing import Any, Mapping, Optional

import numpy as np
import pandas as pd

from trickstack.leaderboard import board as lb_
from trickstack.leaderboard.board import Board, Entry, Leaderboard
from trickstack.reports.html import (
    BAD,
    CSS,
    GOOD,
    NEUTRAL,
    TOTAL,
    arm_figure,
    interaction_figure,
    svg,
    waterfall_figure,
)
from trickstack.reports.render import display, fmt, plain, value_lines
from trickstack.stats import analysis as an
from trickstack.stats import rules

esc = html.escape
STATUS_COLOR = {"new best": TOTAL, "carried forward": NEUTRAL, "not significant": BAD}
EXTRA_CSS = """
main { max-width: 1400px; } div.scroll { overflow-x: auto; }
td.status-new-best { color: #1864ab; font-weight: 600; } td.status-carried-forward { color: #555; }
td.status-not-significant { color: #c92a2a; } td.wrap { white-space: normal; overflow-wrap: anywhere; min-width: 150px; max-width: 260px; }
"""
# The status colour is not the plots' blue (TOTAL): the browser test finds the rendered plots by their colours.
WRAP = ("Δ", "added", "removed", "tried", "reason")  # headings of columns whose cells may wrap


def write_site(lb: Leaderboard, out: Path) -> list[Path]:
    """Write every file of the site into ``out`` (created if needed); return the paths written."""
    out.mkdir(parents=True, exist_ok=True)
    written = []

    def put(name: str, text: str) -> None:
        path = out / name
        path.write_text(text, encoding="utf-8")
        written.append(path)

    for board in lb.boards.values():
        folder = out / "evidence" / board.workload
        folder.mkdir(parents=True, exist_ok=True)
        for e in board.entries:
            written.append(Path(shutil.copyfile(e.evidence, folder / e.evidence.name)))
    put("index.html", render_index(lb))
    for board in lb.boards.values():
        for e in board.entries:
            put(e.page, render_recipe(lb, board, e))
    put("rules.html", render_rules(lb))
    put("leaderboard.md", render_markdown(lb))
    put("leaderboard.csv", render_csv(lb.table()))
    put("negative-results.csv", render_csv(lb.negative()))
    put("leaderboard.json", render_json(lb))
    return written


def _page(title: str, body: list[str]) -> str:
    nav = ("<nav><a href=\"index.html\">Leaderboards</a><a href=\"rules.html\">Rules</a>"
           "<a href=\"leaderboard.md\">Markdown</a><a href=\"leaderboard.csv\">CSV</a>"
           "<a href=\"negative-results.csv\">negative results CSV</a><a href=\"leaderboard.json\">JSON</a></nav>")
    return (f"<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{esc(title)}</title>"
            f"<style>{CSS}{EXTRA_CSS}</style></head><body><main>{nav}\n" + "\n".join(body) + "\n</main></body></html>\n")


def _table(heads: list[str], rows: list[dict[str, str]], cls: str, links: Optional[list[dict[str, str]]] = None) -> str:
    """An HTML table of display cells; ``links[i][heading]`` makes that cell a link."""
    body = []
    for i, row in enumerate(rows):
        cells = []
        for h in heads:
            text = esc(row[h])
            href = (links[i] if links else {}).get(h)
            attr = f" class=\"status-{row[h].replace(' ', '-')}\"" if h == "status" else (
                " class=\"wrap\"" if h.startswith(WRAP) else "")
            cells.append(f"<td{attr}>" + (f"<a href=\"{esc(href)}\">{text}</a>" if href else text) + "</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return (f"<div class=\"scroll\"><table class=\"{cls}\"><thead><tr>" + "".join(f"<th>{esc(h)}</th>" for h in heads)
            + "</tr></thead><tbody>" + "".join(body) + "</tbody></table></div>")


def _board_table(board: Board) -> str:
    rows = display_rows(board)
    links = [{"entry": r["page"], "evidence": r["evidence"]} if r["page"] else {"evidence": r["evidence"]}
             for r in board.table.to_dict("records")]
    return _table(HEADINGS, rows, "leaderboard", links)


def _negative_table(board: Board, year: Optional[int] = None) -> str:
    keep = [i for i, r in enumerate(board.negative.to_dict("records")) if year is None or r["year"] == year]
    if not keep:
        return "<p>None recorded" + (f" in {year}" if year else "") + ": every stack the evidence holds is the recipe, " \
               "the previous recipe, the baseline or a subset of the recipe's tricks.</p>"
    records = board.negative.to_dict("records")
    rows = [display_negative(board)[i] for i in keep]
    return _table(NEGATIVE_HEADINGS, rows, "negative", [{"evidence": records[i]["evidence"]} for i in keep])


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


def render_index(lb: Leaderboard) -> str:
    body = ["<h1>trickstack leaderboards</h1>",
            f"<ul class=\"meta\"><li>computed from the recipes in {esc(str(lb.source))} and their evidence files only"
            + (f", as of {lb.year}" if lb.year else "") + "</li>"
            f"<li>a new entry needs at least {rules.LEADERBOARD_MIN_SEEDS} paired seeds and a {esc(rules.LEADERBOARD_TEST)} at p &lt; {rules.LEADERBOARD_ALPHA} "
            "(see <a href=\"rules.html\">the rules</a>); intervals are 95%; gains are signed so that + is better</li></ul>"]
    for b in lb.boards.values():
        body += [f"<section id=\"{esc(b.workload)}\" class=\"workload\"><h2>{esc(b.workload)}</h2>",
                 f"<ul class=\"meta\"><li>metric {esc(b.metric)} ({esc(b.direction)}); budget {b.budget:.4g} "
                 f"{esc(b.budget_unit)}; hardware: {esc(', '.join(b.hardware))}</li></ul>",
                 _board_table(b),
                 _figure(trend_figure(b), TREND_CAPTION.format(metric=b.metric)),
                 f"<h3>Negative results: tried on {esc(b.workload)} and not kept</h3>", _negative_table(b),
                 "</section>"]
    body.append("<section id=\"how-to-read\"><h2>How to read this</h2><dl>" + "".join(
        f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in HOW_TO_READ.items()) + "</dl></section>")
    return _page("trickstack leaderboards", body)


HOW_TO_READ = {
    "entry": "the baseline (the workload with no trick) and each year's integrated recipe: the best stack of the tricks "
             "known by that year; the link opens the recipe's page.",
    "status": "; ".join(f"{k}: {v}" for k, v in lb_.STATUSES.items()) + ".",
    "mean ± 95% CI (n)": "the recipe's evaluation runs in its evidence: mean, half-width of the t interval and runs "
                         "(diverged runs are counted and left out of the mean).",
    "Δ vs previous / baseline": "mean over paired seeds of (recipe - reference), its 95% t interval, the one-sided "
                                "paired t-test's p for 'better than the reference', and the pairs used. The baseline "
                                "row comes from the latest recipe's evidence.",
    "added / removed": "tricks (with parameters) the recipe has and the previous one lacks or ran with other "
                       "parameters, and those it dropped.",
    "negative results": "stacks in a year's evidence that are neither the recipe, the previous recipe nor a subset "
                        "of the recipe's tricks: tried and not kept. The reference is whichever of the recipe and "
                        "the previous recipe the stack is closer to.",
}


def render_recipe(lb: Leaderboard, board: Board, e: Entry) -> str:
    r, row = e.recipe, e.row
    body = [f"<h1>Recipe <code>{esc(e.name)}</code></h1>",
            f"<p>{esc(r.summary)}</p>" if r.summary else "",
            "<ul class=\"meta\">" + "".join(f"<li>{esc(line)}</li>" for line in _recipe_lines(e)) + "</ul>",
            "<h2>Result</h2>", _table(HEADINGS, [d for d in display_rows(board) if d["entry"] == e.name],
                                      "leaderboard", [{"evidence": row["evidence"]}]),
            "<h2>Tricks</h2>", _tricks_table(e)]
    body.append("<section id=\"shapley\"><h2>Per-trick Shapley contributions</h2>")
    if e.attribution is None:
        body.append(f"<p class=\"na\">Not available: {esc(e.attribution_note or '')}</p></section>")
    else:
        body += _section(e, "shapley", waterfall_figure, "The recipe's gain over the baseline split by Shapley value "
                         "(error bars: 95% intervals), from the attribution runs of its evidence.")
        body.append("</section><section id=\"interactions\"><h2>Interactions</h2>")
        body += _section(e, "effects", interaction_figure, "Two-way interactions of the recipe's tricks (gain units); "
                         "* marks an interval that excludes 0; the diagonal shows each trick's main effect.")
        body.append("</section><section id=\"arms\"><h2>Attribution runs</h2>")
        body += _section(e, "arms", arm_figure, "Each subset of the recipe's tricks that was run: mean and 95% interval; "
                         "the recipe in blue, the baseline in grey.")
        additivity = e.attribution.sections.get("additivity")
        if additivity is not None and additivity.available:
            body.append("<ul class=\"notes\">" + "".join(f"<li>additivity {esc(line)}</li>" for line in
                                                          value_lines(additivity) + additivity.notes) + "</ul>")
        body.append("</section>")
    body += ["<section id=\"trend\"><h2>Year over year</h2>",
             _figure(trend_figure(board, highlight=r.year), TREND_CAPTION.format(metric=board.metric)
                     + f" {r.year} circled."), "</section>",
             f"<section id=\"negative\"><h2>Tried in {r.year} and not kept</h2>", _negative_table(board, r.year),
             "</section>"]
    return _page(f"trickstack recipe {e.name}", body)


def _recipe_lines(e: Entry) -> list[str]:
    r, p, row = e.recipe, e.recipe.provenance, e.row
    lines = [f"workload {r.workload}, year {r.year}; status: {row['status']} ({lb_.STATUSES[row['status']]})",
             f"previous: {row['previous']}; budget {row['budget']:.4g} {row['budget_unit']}; "
             f"{row['n']} evaluation runs on seeds {', '.join(str(x.seed) for x in e.runs)}",
             f"nuisance: {lb_._params(r.nuisance)}",
             f"date {row['date']}, commit {row['commit'] or '-'}; evidence {e.evidence.name} "
             f"({len(e.records)} run records)"]
    if p.get("study"):
        lines.append(f"derived by study {p['study']}")
    if not p:
        lines.append("hand-written recipe (no provenance): its numbers still come from its evidence")
    return lines


def _tricks_table(e: Entry) -> str:
    prev = e.previous.recipe.stack if e.previous else {}
    rows = [{"trick": n, "parameters": lb_._params(p) or "-",
             "since": "this year" if prev.get(n) != p else "earlier", "reason": e.recipe.reasons.get(n, "-") or "-"}
            for n, p in sorted(e.recipe.stack.items())]
    rows += [{"trick": n, "parameters": "removed", "since": "this year", "reason": e.recipe.reasons.get(n, "-") or "-"}
             for n in sorted(set(prev) - set(e.recipe.stack))]
    if not rows:
        return "<p>No trick: the recipe is the baseline with its own nuisance values.</p>"
    return _table(["trick", "parameters", "since", "reason"], rows, "tricks")


def _section(e: Entry, key: str, draw, caption: str) -> list[str]:
    s = e.attribution.sections[key]
    if not s.available:
        return [f"<p class=\"na\">Not available: {esc(s.unavailable)}</p>"]
    fig, why = draw(e.attribution)
    parts = [_figure(fig, caption, why)]
    if s.table is not None and not s.table.empty:
        heads, rows = display(s)
        parts.append(_table(heads, [dict(zip(heads, r)) for r in rows], key))
    lines = [line for line in value_lines(s) + s.notes]
    if lines:
        parts.append("<ul class=\"notes\">" + "".join(f"<li>{esc(line)}</li>" for line in lines) + "</ul>")
    return parts


def render_rules(lb: Leaderboard) -> str:
    rules = lb_.rules_summary(lb)
    body = ["<h1>Rules of the leaderboards</h1>",
            "<p>Generated from trickstack's constants (<code>trickstack.stats.rules</code>) and the registered workloads; <code>trickstack recipe derive</code> applies the same "
            "ones.</p>",
            "<h2>A new entry replaces the previous year's only with evidence</h2><ul>",
            f"<li>Seeds: {esc(rules['seeds'])}; seed <i>i</i> means the same initialisation and data order in every "
            "arm, and arms are compared seed by seed.</li>",
            f"<li>Test: {esc(rules['test'])}, p &lt; {rules['alpha']} (significance level), on at least "
            f"{rules['min_seeds']} pairs. Otherwise the previous recipe is carried forward.</li>",
            f"<li>Comparison: {esc(rules['comparison'])}.</li>",
            "<li>Every number shown is computed from stored run records (the evidence files linked from each row), "
            "each carrying its provenance: code version, package versions, hardware, seed.</li>",
            f"<li>Negative results: {esc(rules['negative_results'])}.</li></ul>",
            "<h2>What may not change</h2><ul>" + "".join(f"<li>{esc(x)}</li>" for x in rules["may_not_change"]) + "</ul>",
            "<h2>Fixed budget per workload</h2>",
            _table(["workload", "metric", "budget unit", "budget", "hardware in the records"],
                   [{"workload": w, "metric": f"{v['metric']} ({v['direction']})", "budget unit": v["budget_unit"],
                     "budget": f"{v['budget']:.4g}", "hardware in the records": ", ".join(v["hardware"])}
                    for w, v in rules["workloads"].items()], "rules")]
    return _page("trickstack leaderboard rules", body)


# ---- Markdown, CSV and JSON; the cells HTML shares with Markdown ------------------------------------------

HEADINGS = ["entry", "status", "mean ± 95% CI (n)", "Δ vs previous (paired)", "Δ vs baseline (paired)", "budget",
            "added", "removed", "date", "commit", "evidence"]
NEGATIVE_HEADINGS = ["year", "tried", "mean ± 95% CI (n)", "Δ vs reference (paired)", "reference", "evidence"]


def _num(x: float) -> str:
    return fmt("mean", x)


def mean_cell(row: Mapping[str, Any]) -> str:
    half = (row["ci_high"] - row["ci_low"]) / 2
    spread = f" ± {_num(half)}" if isinstance(half, float) and math.isfinite(half) else ""
    diverged = f", {row['n_diverged']} diverged" if row.get("n_diverged") else ""
    return f"{_num(row['mean'])}{spread} (n={row['n']}{diverged})"


def gain_cell(gain: float, low: float, high: float, p: float, pairs: int) -> str:
    if gain is None or pd.isna(gain):
        return "-"
    shown = "<0.0001" if p < 1e-4 else f"={fmt('p_value', p)}"  # smaller p-values are t-test tail artefacts
    return f"{gain:+.4f} [{low:+.4f}, {high:+.4f}], p{shown} ({int(pairs)} pairs)"


def display_rows(board: Board) -> list[dict[str, str]]:
    """The leaderboard table's cells as shown (Markdown and HTML show the same text)."""
    rows = []
    for r in board.table.to_dict("records"):
        if r["status"] == "carried forward":
            prev = f"carried forward (= {r['previous']})"
        else:
            prev = gain_cell(r["gain_prev"], r["gain_prev_low"], r["gain_prev_high"], r["p_prev"], r["n_pairs_prev"])
            prev += f" vs {r['previous']}" if prev != "-" else ""
        rows.append(dict(zip(HEADINGS, [
            r["entry"], r["status"], mean_cell(r), prev,
            gain_cell(r["gain_base"], r["gain_base_low"], r["gain_base_high"], r["p_base"], r["n_pairs_base"]),
            f"{r['budget']:.4g} {r['budget_unit']}", r["added"] or "-", r["removed"] or "-", r["date"],
            r["commit"] or "-", r["evidence"].rsplit("/", 1)[-1]])))
    return rows


def display_negative(board: Board) -> list[dict[str, str]]:
    return [dict(zip(NEGATIVE_HEADINGS, [
        str(r["year"]), r["tried"], mean_cell(r),
        gain_cell(r["gain"], r["gain_low"], r["gain_high"], r["p_value"], r["n_pairs"]), r["reference"],
        r["evidence"].rsplit("/", 1)[-1]])) for r in board.negative.to_dict("records")]


def _md_table(heads: list[str], rows: list[dict[str, str]]) -> list[str]:
    cell = lambda text: str(text).replace("|", "\\|")  # noqa: E731
    return (["| " + " | ".join(heads) + " |", "|" + " --- |" * len(heads)]
            + ["| " + " | ".join(cell(r[h]) for h in heads) + " |" for r in rows])


def render_markdown(lb: Leaderboard) -> str:
    out = ["# trickstack leaderboards", "", f"Computed from the recipes in `{lb.source}` and their evidence files"
           + (f", as of {lb.year}" if lb.year else "") + f". Rules: at least {rules.LEADERBOARD_MIN_SEEDS} paired seeds and a {rules.LEADERBOARD_TEST} "
           f"at p < {rules.LEADERBOARD_ALPHA}; intervals are {an.LEVEL:.0%}; gains are signed so that + is better."]
    for b in lb.boards.values():
        out += ["", f"## {b.workload}: {b.metric} ({b.direction}), budget {b.budget:.4g} {b.budget_unit}", ""]
        out += _md_table(HEADINGS, display_rows(b))
        out += ["", f"### Negative results: tried on {b.workload} and not kept", ""]
        out += _md_table(NEGATIVE_HEADINGS, display_negative(b)) if len(b.negative) else ["none recorded"]
    return "\n".join(out) + "\n"


def to_dict(lb: Leaderboard) -> dict[str, Any]:
    def shapley(e: Entry) -> dict[str, Any]:
        if e.attribution is None:
            return {"available": False, "reason": e.attribution_note}
        out = {}
        for key in ("shapley", "effects"):
            s = e.attribution.sections[key]
            out[key] = ({"available": True, "values": s.values, "rows": s.table.to_dict("records")} if s.available
                        else {"available": False, "reason": s.unavailable})
        return out

    return plain({"source": str(lb.source), "year": lb.year, "rules": lb_.rules_summary(lb), "workloads": {
        b.workload: {"metric": b.metric, "direction": b.direction, "budget": {"unit": b.budget_unit, "value": b.budget},
                     "rows": records(b.table), "negative_results": records(b.negative),
                     "recipes": {e.name: {"summary": e.recipe.summary, "tricks": e.recipe.stack,
                                          "nuisance": e.recipe.nuisance, "reasons": e.recipe.reasons,
                                          "attribution": shapley(e)} for e in b.entries}}
        for b in lb.boards.values()}})


def render_json(lb: Leaderboard) -> str:
    return json.dumps(to_dict(lb), indent=1, allow_nan=False) + "\n"


def records(table: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as plain Python: missing values (NaN, pd.NA) as None, numpy scalars as Python numbers."""
    return plain(table.astype(object).where(table.notna(), None).to_dict("records"))


def render_csv(table: pd.DataFrame) -> str:
    return table.to_csv(index=False)
