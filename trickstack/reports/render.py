"""A report rendered for people and programs: rich text, Markdown, JSON, CSV.

The HTML page is `trickstack.reports.html`; `trickstack.reports.files.write` puts any format in files.
"""

from __future__ import annotations

import csv
import json
import math
from typing import Any

import numpy as np
import pandas as pd

from trickstack.core.outputs import spreadsheet_safe_frame
from trickstack.reports.model import HOW_TO_READ, Report, Section

LABELS = {"n_diverged": "diverged", "n_pairs": "pairs", "n_unpaired": "unpaired", "mean_gain": "gain",
          "sd_diff": "sd of diff", "p_value": "p (one-sided)", "p_adjusted": "p adj.", "p_improve": "P(improve)",
          "seeds_80": "seeds (80%)", "seeds_80_leaderboard": "seeds (leaderboard)",
          "seeds_80_cautious": "seeds (leaderboard, cautious)", "n_seeds": "seeds", "p_worst": "p (diverged = worst)",
          "n_orders": "orders", "single_gain": "gain alone", "tuning_flops": "tuning FLOPs",
          "tuning_seconds": "tuning s", "eval_flops": "evaluation FLOPs", "mean_value": "mean over search seeds"}
INTEGERS = {"n", "n_diverged", "missing", "points", "eval_points",
            "n_pairs", "n_unpaired", "n_seeds", "n_orders", "trials", "round", "seeds", "df",
            "seeds_80", "seeds_80_leaderboard", "seeds_80_cautious"}


def fmt(column: str, value: Any) -> str:
    """One cell for people: dashes for missing, ∞ for 'no number of seeds', units-aware precision."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, str) or not isinstance(value, (int, float, np.number)):
        return str(value)
    if math.isinf(value):
        return "∞" if value > 0 else "-∞"
    if column in INTEGERS or column.startswith("rank_"):
        return f"{int(value)}"
    if "." in column:  # a tuned nuisance value or a trick parameter: significant digits, not decimals
        return f"{value:.4g}"
    if column.startswith("p_improve"):
        return f"{value:.2f}"
    if column.startswith("p_") or "flops" in column:
        return f"{value:.3g}"
    if column.endswith("seconds"):
        return f"{value:.1f}"
    return f"{value:.4f}" if value == 0 or 1e-4 <= abs(value) < 1e4 else f"{value:.3g}"


def display(section: Section) -> tuple[list[str], list[list[str]]]:
    """Headings and formatted rows; ``x_low``/``x_high`` (``ci_low``/``ci_high``) become one interval column."""
    t, heads, cols = section.table, [], []
    for col in t.columns:
        if col.endswith("_high") and col[:-5] + "_low" in t:
            continue
        if col.endswith("_low") and col[:-4] + "_high" in t:
            base = col[:-4]
            heads.append("95% CI" if base == "ci" else f"{LABELS.get(base, base)} 95% CI")
            cols.append((col, col[:-4] + "_high"))
        else:
            heads.append(section.labels.get(col, LABELS.get(col, col)))
            cols.append((col,))
    rows = [[f"[{fmt(c[0], r[c[0]])}, {fmt(c[1], r[c[1]])}]" if len(c) == 2 else fmt(c[0], r[c[0]]) for c in cols]
            for r in t.to_dict("records")]
    return heads, rows


def header_lines(report: Report) -> list[str]:
    m = report.meta
    lines = [f"design {m['design']} over {len(m['tricks'])} trick(s): {', '.join(m['tricks'])}",
             f"workload {m['workload']}, metric {m['metric']} ({m['direction']}), budget {m['budget']}",
             f"{m['eval_runs']} evaluation runs in {m['arms']} arms on {m['seeds']} paired seeds; "
             f"{m['diverged_runs']} diverged",
             f"paired test {m['test']}, multiple-comparison correction {m['adjust']}"]
    if m["base"] or m["overrides"]:
        lines.append(f"every arm starts from: {', '.join(m['base']) or 'no trick'}"
                     + (f"; fixed values: {', '.join(f'{k}={v}' for k, v in m['overrides'].items())}" if m["overrides"] else ""))
    if not m["finished"]:
        lines.append("the study has not finished: these numbers are from the runs so far")
    return lines


def value_lines(section: Section) -> list[str]:
    return [f"{k if '.' in k else k.replace('_', ' ')}: {fmt(k, v)}" for k, v in section.values.items() if v is not None]


def how_to_read(report: Report) -> list[tuple[str, str]]:
    return [("general", HOW_TO_READ["general"])] + [
        (s.title, HOW_TO_READ[k]) for k, s in report.sections.items() if s.available]


def render_text(report: Report, console) -> None:
    from rich.table import Table
    from rich.text import (
        Text,  # Text, not markup: notes hold brackets ([tune]) and colons (a:b:) verbatim
    )

    console.print(Text(f"Report of study {report.info.name}", style="bold"))
    for line in header_lines(report):
        console.print(Text(f"  {line}"))
    for s in report.sections.values():
        console.print()
        if not s.available:
            console.print(Text.assemble((s.title, "bold"), ": ", ("not available", "yellow"), f" - {s.unavailable}"))
            continue
        if s.table is not None and not s.table.empty:
            heads, rows = display(s)
            table = Table(*heads, title=s.title, title_style="bold", title_justify="left")
            for row in rows:
                table.add_row(*(Text(cell) for cell in row))
            console.print(table)
        else:
            console.print(Text(s.title, style="bold"))
        for line in value_lines(s) + s.notes:
            console.print(Text(f"  {line}"))
    console.print()
    console.print(Text("How to read this", style="bold"))
    for title, text in how_to_read(report):
        console.print(Text.assemble("  ", (title, "bold"), f": {text}"))


def render_markdown(report: Report) -> str:
    def cell(text: str) -> str:
        return text.replace("|", "\\|")

    out = [f"# Report of study `{report.info.name}`", "", *[f"- {line}" for line in header_lines(report)]]
    for s in report.sections.values():
        out += ["", f"## {s.title}", ""]
        if not s.available:
            out.append(f"*Not available:* {s.unavailable}")
            continue
        if s.table is not None and not s.table.empty:
            heads, rows = display(s)
            out += ["| " + " | ".join(map(cell, heads)) + " |", "|" + " --- |" * len(heads)]
            out += ["| " + " | ".join(map(cell, row)) + " |" for row in rows] + [""]
        out += [f"- {line}" for line in value_lines(s) + s.notes]
    out += ["", "## How to read this", ""] + [f"- **{title}**: {text}" for title, text in how_to_read(report)]
    return "\n".join(out) + "\n"


def plain(value: Any) -> Any:
    """JSON-safe: numpy scalars to Python, NaN and infinities to null (the CSV keeps 'inf')."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def to_dict(report: Report) -> dict[str, Any]:
    sections = {k: {"title": s.title, "available": s.available, "reason": s.unavailable, "values": s.values,
                    "notes": s.notes, "rows": [] if s.table is None else s.table.to_dict("records"),
                    **({} if s.series is None else {"series": s.series.to_dict("records")})}
                for k, s in report.sections.items()}
    return plain({"study": report.info.name, "meta": report.meta, "sections": sections,
                   "how_to_read": {k: v for k, v in HOW_TO_READ.items() if k == "general" or k in sections}})


def render_json(report: Report) -> str:
    return json.dumps(to_dict(report), indent=1, allow_nan=False) + "\n"


def csv_tables(report: Report) -> dict[str, pd.DataFrame]:
    """One table per section with rows, and ``values``: the header, scalars and reasons, as (section, name, value)."""
    rows = [("study", k, json.dumps(v) if isinstance(v, (list, dict)) else v) for k, v in report.meta.items()]
    for k, s in report.sections.items():
        rows += [(k, "unavailable", s.unavailable)] if not s.available else []
        rows += [(k, name, v) for name, v in s.values.items()] + [(k, "note", n) for n in s.notes]
    tables = {k: s.table for k, s in report.sections.items() if s.table is not None and not s.table.empty}
    return {**tables, "values": pd.DataFrame(rows, columns=["section", "name", "value"])}


def render_csv(report: Report) -> str:
    """Every table in one CSV: ``section`` first, then the tables' columns, then ``name`` and ``value``, which
    only the section's scalars, notes and reasons fill (read back, group by section, and split on ``name``)."""
    tables = csv_tables(report)
    values = tables.pop("values")
    merged = pd.concat([t.assign(section=k) for k, t in tables.items()] + [values], ignore_index=True)
    merged = spreadsheet_safe_frame(merged[["section", *(c for c in merged if c != "section")]])
    return merged.to_csv(index=False, quoting=csv.QUOTE_MINIMAL)
