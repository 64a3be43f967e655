"""The report as one self-contained HTML page: inline CSS, plots as inline SVG from matplotlib, no script
and no external asset, so the file can be mailed, archived or opened offline.

Four plots: each arm's mean with its interval, a waterfall of the full stack's gain split by Shapley
value, a heatmap of the two-way interactions and each arm's mean learning curve (`trickstack.reports.curveplots`);
a plot the study cannot support is replaced by the
reason, as its section is.
"""

from __future__ import annotations

import html
import io
import math
from typing import Optional

import numpy as np

from trickstack.reports import curveplots
from trickstack.reports.model import Report, Section
from trickstack.reports.render import display, header_lines, how_to_read, value_lines

CSS = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1b1f24; margin: 0; background: #fafafa; }
main { max-width: 1100px; margin: 0 auto; padding: 24px; background: #fff; }
h1 { font-size: 24px; margin: 0 0 8px; } h2 { font-size: 18px; margin: 28px 0 8px; border-bottom: 1px solid #ddd; }
ul.meta { color: #444; margin: 0; padding-left: 18px; } nav { margin: 12px 0; color: #555; }
nav a { margin-right: 10px; color: #0b5cad; text-decoration: none; }
table { border-collapse: collapse; margin: 8px 0; font-variant-numeric: tabular-nums; }
th, td { border: 1px solid #ddd; padding: 3px 8px; text-align: right; white-space: nowrap; }
th { background: #f1f3f5; } td:first-child, th:first-child { text-align: left; }
tr:nth-child(even) td { background: #fbfbfc; }
p.na { color: #8a5a00; background: #fff7e0; padding: 6px 10px; border-left: 3px solid #e0a800; }
ul.notes { color: #333; } figure { margin: 8px 0 16px; } figcaption { color: #555; font-size: 13px; }
svg { max-width: 100%; height: auto; } dt { font-weight: 600; margin-top: 6px; } dd { margin-left: 16px; }
"""
GOOD, BAD, TOTAL, NEUTRAL = "#2b8a3e", "#c92a2a", "#1c7ed6", "#868e96"


def render_html(report: Report) -> str:
    esc = html.escape
    name = esc(report.info.name)
    parts = [f"<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>trickstack report: {name}</title>",
             f"<style>{CSS}</style></head><body><main>", f"<h1>Report of study <code>{name}</code></h1>",
             "<ul class=\"meta\">" + "".join(f"<li>{esc(line)}</li>" for line in header_lines(report)) + "</ul>",
             "<nav>" + "".join(f"<a href=\"#{k}\">{esc(s.title)}</a>" for k, s in report.sections.items())
             + "<a href=\"#how-to-read\">How to read this</a></nav>"]
    figures = {"arms": (arm_figure, "Each arm's mean with its 95% interval, best at the top; the full stack in blue, "
                                   "the baseline in grey and its mean dashed."),
               "shapley": (waterfall_figure, "The full stack's gain over the baseline, split by Shapley value "
                                             "(error bars: 95% intervals of each value)."),
               "effects": (interaction_figure, "Two-way interactions (gain units); * marks an interval that excludes 0. "
                                               "The diagonal shows each trick's main effect."),
               "curves": (lambda r: curveplots.curve_figure(r.sections["curves"].series),
                          curveplots.caption(report.sections["curves"].series)
                          if "curves" in report.sections and report.sections["curves"].series is not None else "")}
    for key, s in report.sections.items():
        parts.append(f"<section id=\"{key}\"><h2>{esc(s.title)}</h2>")
        if not s.available:
            parts.append(f"<p class=\"na\">Not available: {esc(s.unavailable)}</p></section>")
            continue
        if key in figures:
            draw, caption = figures[key]
            fig, why = draw(report)
            parts.append(f"<figure>{svg(fig)}<figcaption>{esc(caption)}</figcaption></figure>" if fig is not None
                         else f"<p class=\"na\">No plot: {esc(why)}</p>")
        if s.table is not None and not s.table.empty:
            heads, rows = display(s)
            parts.append("<table><thead><tr>" + "".join(f"<th>{esc(h)}</th>" for h in heads) + "</tr></thead><tbody>"
                         + "".join("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in row) + "</tr>" for row in rows)
                         + "</tbody></table>")
        lines = value_lines(s) + s.notes
        if lines:
            parts.append("<ul class=\"notes\">" + "".join(f"<li>{esc(line)}</li>" for line in lines) + "</ul>")
        parts.append("</section>")
    parts.append("<section id=\"how-to-read\"><h2>How to read this</h2><dl>"
                 + "".join(f"<dt>{esc(t)}</dt><dd>{esc(text)}</dd>" for t, text in how_to_read(report)) + "</dl></section>")
    parts.append("</main></body></html>\n")
    return "\n".join(parts)


def svg(fig) -> str:
    """The figure as an inline <svg> element: text kept as text, no metadata (no URLs), stable ids."""
    import matplotlib

    buffer = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "trickstack"}):
        fig.savefig(buffer, format="svg", bbox_inches="tight",
                    metadata={"Format": None, "Type": None, "Creator": None, "Date": None})
    text = buffer.getvalue()
    return text[text.index("<svg"):]


def _figure(width: float, height: float):
    from matplotlib.figure import Figure  # no pyplot: no global state, no GUI backend

    fig = Figure(figsize=(width, height))
    return fig, fig.add_subplot()


def arm_figure(report: Report):
    s = report.sections.get("arms")
    if s is None or s.table is None or s.table.empty:
        return None, "no arms"
    t = s.table.iloc[::-1]  # best at the top
    y = np.arange(len(t))
    fig, ax = _figure(7.5, 1.2 + 0.32 * len(t))
    low, high = (t["mean"] - t.ci_low).to_numpy(), (t.ci_high - t["mean"]).to_numpy()
    colors = [TOTAL if a == report.meta["full_stack"] else NEUTRAL if a == report.meta["baseline"] else "#343a40" for a in t.arm]
    ax.errorbar(t["mean"], y, xerr=np.nan_to_num(np.vstack([low, high])), fmt="none", ecolor="#adb5bd", capsize=3)
    ax.scatter(t["mean"], y, c=colors, zorder=3, s=22)
    for yi, (mean, n_div, n) in enumerate(zip(t["mean"], t.n_diverged, t.n)):
        if n_div:
            x = mean if np.isfinite(mean) else ax.get_xlim()[0]
            ax.annotate(f"{n_div}/{n} diverged", (x, yi), xytext=(6, 5), textcoords="offset points", color=BAD, fontsize=8)
    base = t.loc[t.arm == report.meta["baseline"], "mean"]
    if len(base) and np.isfinite(base.iloc[0]):
        ax.axvline(base.iloc[0], color=NEUTRAL, linestyle="--", linewidth=1)
    ax.set_yticks(y, list(t.arm), fontsize=9)
    ax.set_xlabel(f"{report.meta['metric']} ({report.meta['direction']})")
    ax.grid(axis="x", color="#eee")
    ax.set_axisbelow(True)
    fig.tight_layout()
    return fig, None


def waterfall_figure(report: Report, lead: Optional[tuple[str, float, float, float]] = None,
                     title: Optional[str] = None):
    """The Shapley values as a waterfall up to the full stack's gain. ``lead``: (label, value, ci_low, ci_high)
    of a part drawn first, in grey, and added to the total (the leaderboard's re-tuned nuisance values);
    ``title``: how the values were estimated, if not the report's own words."""
    s = report.sections.get("shapley")
    if s is None or not s.available:
        return None, s.unavailable if s else "no Shapley values"
    t = s.table.sort_values("shapley", ascending=False)
    values, half = t.shapley.to_numpy(), ((t.ci_high - t.ci_low) / 2).to_numpy()
    labels, colors = list(t.trick), [GOOD if v >= 0 else BAD for v in values]
    if lead is not None:
        labels, colors = [lead[0], *labels], [NEUTRAL, *colors]
        values, half = np.concatenate([[lead[1]], values]), np.concatenate([[(lead[3] - lead[2]) / 2], half])
    starts = np.concatenate([[0.0], np.cumsum(values)[:-1]])
    total = s.values["full_stack_gain"] + (lead[1] if lead is not None else 0.0)
    fig, ax = _figure(max(5.0, 1.6 + 0.9 * (len(values) + 1)), 4.2)
    x = np.arange(len(values) + 1)
    ax.bar(x[:-1], values, bottom=starts, color=colors, width=0.6)
    ax.errorbar(x[:-1], starts + values, yerr=np.nan_to_num(half), fmt="none", ecolor="#343a40", capsize=3)
    ax.bar(x[-1], total, color=TOTAL, width=0.6)
    for xi, top in zip(x[:-1], starts + values):
        ax.plot([xi + 0.3, xi + 0.7], [top, top], color="#adb5bd", linewidth=0.8)
    for xi, v, top in zip(x, [*values, total], [*(starts + values), total]):
        ax.annotate(f"{v:+.4f}", (xi, top), xytext=(0, 4 if v >= 0 else -11), textcoords="offset points",
                    ha="center", fontsize=8)
    ax.axhline(0, color="#343a40", linewidth=0.8)
    ax.set_xticks(x, [*labels, "full stack"], rotation=20 if len(values) > 4 else 0, fontsize=9)
    ax.set_ylabel(f"gain in {report.meta['metric']} over the baseline")
    ax.set_title(title if title is not None else s.values.get("method", ""), fontsize=9, color="#555")
    ax.grid(axis="y", color="#eee")
    ax.set_axisbelow(True)
    fig.tight_layout()
    return fig, None


def interaction_figure(report: Report):
    s: Optional[Section] = report.sections.get("effects")
    if s is None or not s.available:
        return None, s.unavailable if s else "no effects"
    pairs = s.table[s.table.kind == "interaction"]
    if pairs.empty:
        return None, "this design gives main effects only (see the note below the table)"
    tricks = list(s.table[s.table.kind == "main"].term)
    k, index = len(tricks), {t: i for i, t in enumerate(tricks)}
    matrix, star = np.full((k, k), np.nan), np.zeros((k, k), bool)
    for row in pairs.itertuples():
        a, b = row.term.split(":")
        for i, j in ((index[a], index[b]), (index[b], index[a])):
            matrix[i, j], star[i, j] = row.estimate, row.ci_low > 0 or row.ci_high < 0
    limit = np.nanmax(np.abs(matrix)) or 1.0
    fig, ax = _figure(1.8 + 1.1 * k, 1.2 + 0.95 * k)
    image = ax.imshow(np.ma.masked_invalid(matrix), cmap="RdBu", vmin=-limit, vmax=limit)
    ax.imshow(np.where(np.eye(k) > 0, 1.0, np.nan), cmap="Greys", vmin=0, vmax=4)  # the diagonal, grey
    mains = dict(zip(s.table[s.table.kind == "main"].term, s.table[s.table.kind == "main"].estimate))
    for i in range(k):
        for j in range(k):
            text = (f"main\n{mains[tricks[i]]:+.4f}" if i == j else "n/a" if math.isnan(matrix[i, j])
                    else f"{matrix[i, j]:+.4f}{'*' if star[i, j] else ''}")
            ax.text(j, i, text, ha="center", va="center", fontsize=8,
                    color="white" if i != j and abs(np.nan_to_num(matrix[i, j])) > 0.6 * limit else "#1b1f24")
    ax.set_xticks(range(k), tricks, rotation=30, ha="right", fontsize=9)
    ax.set_yticks(range(k), tricks, fontsize=9)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label=f"interaction (gain in {report.meta['metric']})")
    fig.tight_layout()
    return fig, None
