"""The leaderboard's cells as shown, shared by the HTML pages and ``leaderboard.md``, and the Markdown, CSV
and JSON renderings. Text from recipe files is data: Markdown cells are HTML-escaped, CSV cells that a
spreadsheet would take for a formula (starting with = + - @, a tab or a carriage return) get a leading
``'`` (OWASP's advice for CSV injection).

>>> csv_cell("=HYPERLINK(1)"), csv_cell("plain"), md_cell("<script>a|b</script>")
("'=HYPERLINK(1)", 'plain', '&lt;script&gt;a\\\\|b&lt;/script&gt;')
"""

from __future__ import annotations

import html
import json
import math
from typing import Any, Mapping

import pandas as pd

from trickstack.leaderboard import board as lb_
from trickstack.leaderboard import replications as reps
from trickstack.leaderboard.attribution import reason_without_numbers
from trickstack.leaderboard.board import Board, Entry, Leaderboard
from trickstack.leaderboard.evidence import _params
from trickstack.leaderboard.negative import beating
from trickstack.reports.render import fmt, plain
from trickstack.stats import analysis as an
from trickstack.stats import planning, rules

INDEX_HEADINGS = ["recipe", "status", "mean ± 95% CI (n)", "gain over the previous year (paired)",
                  "replicated on fresh seeds", "changes", "train time per run", "evidence"]
RESULT_HEADINGS = ["status", "mean ± 95% CI (n)", "Δ vs previous (paired)", "replicated on fresh seeds",
                   "Δ vs baseline (paired)", "train time per run", "budget", "added", "removed", "date", "commit",
                   "evidence", "evidence sha256"]
NEGATIVE_HEADINGS = ["year", "tried", "mean ± 95% CI (n)", "Δ vs reference (paired)", "reference", "evidence"]
PARTS_HEADINGS = ["part", "gain over the baseline (95% CI)", "how"]
REASON = "reason given in the recipe file"
CORRECTED = "corrected for selection"  # trickstack.stats.selection: the gain given that the year was accepted
FORMULA = ("=", "+", "-", "@", "\t", "\r")


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


def value_cell(value: float, low: float, high: float) -> str:
    interval = f" [{low:+.4f}, {high:+.4f}]" if not (pd.isna(low) or pd.isna(high)) else ""
    return f"{value:+.4f}{interval}" if not pd.isna(value) else "-"


def time_cell(row: Mapping[str, Any]) -> str:
    """Median training seconds per run, and its ratio to the baseline's where the records give one."""
    seconds, ratio = row.get("train_seconds"), row.get("train_ratio")
    if seconds is None or pd.isna(seconds):
        return "-"
    return f"{seconds:.1f} s" + (f" ({ratio:.2f}× baseline)" if not pd.isna(ratio) and row["status"] != "baseline" else "")


def previous_cell(r: Mapping[str, Any]) -> str:
    if r["status"] == "baseline":
        return "-"
    if r["status"] == "carried forward":
        return f"carried forward (= {r['previous']})"
    cell = gain_cell(r["gain_prev"], r["gain_prev_low"], r["gain_prev_high"], r["p_prev"], r["n_pairs_prev"])
    fixed = r.get("gain_prev_corrected")
    if cell != "-" and fixed is not None and not pd.isna(fixed):  # the headline: the gain given its acceptance
        cell = (f"{value_cell(fixed, r['gain_prev_corrected_low'], r['gain_prev_corrected_high'])} {CORRECTED}; "
                f"raw {cell}")
    return cell + (f" vs {r['previous']}" if cell != "-" else "")


def replicated_cell(r: Mapping[str, Any]) -> str:
    """The pooled fresh-seed gain over the same reference as the claim, its ratio to the claim and the hardware;
    the spread of several replications; a plain mark where it did not replicate."""
    if r["status"] in ("baseline", "carried forward"):
        return "-"
    if not r.get("replications"):
        return "not replicated yet"
    cell = (f"{r['replicated_gain']:+.4f} [{r['replicated_low']:+.4f}, {r['replicated_high']:+.4f}], "
            f"{int(r['replicated_n_pairs'])} pairs, {r['replicated_ratio']:.2f}× the claim; {r['replicated_hardware']}")
    if r["replications"] > 1:
        cell += (f"; {int(r['replications'])} replications pooled, their gains {r['replicated_spread_low']:+.4f} to "
                 f"{r['replicated_spread_high']:+.4f}")
    return cell if r["replicated_verdict"] == reps.REPLICATED else f"✗ {r['replicated_verdict']}: {cell}"


def changes_cell(e: Entry) -> str:
    """What the recipe changed from the previous one: tricks added (+), dropped (−), re-tuned; nuisance values."""
    prev = e.previous.recipe.stack if e.previous else {}
    prev_nuisance = e.previous.recipe.nuisance if e.previous else None
    stack = e.recipe.stack
    parts = [f"+{n}" for n in sorted(stack) if n not in prev]
    parts += [f"{n} re-tuned" for n in sorted(stack) if n in prev and prev[n] != stack[n]]
    parts += [f"−{n}" for n in sorted(set(prev) - set(stack))]
    changed = [k for k, v in e.recipe.nuisance.items() if prev_nuisance is not None and prev_nuisance.get(k) != v]
    parts += [f"{', '.join(changed)} re-tuned"] if changed else []
    return ", ".join(parts) or "none"


def beaten_lines(e: Entry) -> list[str]:
    """The year's negative results that beat its recipe by the leaderboard's rule: the recipe is not the best stack
    its own evidence holds, and that stack is one to confirm (`recipe derive` never accepts it unconfirmed)."""
    return [f"beaten by its own negative results: {n['tried']} ({n['stack']}) beats {e.name} by {n['gain']:+.4g} "
            f"[{n['gain_low']:+.4g}, {n['gain_high']:+.4g}], p = {n['p_value']:.2g} over {n['n_pairs']} paired seeds; "
            "a stack to confirm against it on fresh seeds" for n in beating(e)]


def reused_seed_lines(e: Entry) -> list[str]:
    """A year confirmed on its previous recipe's own evaluation seeds (before each year took fresh ones) says so."""
    reused = sorted({x.seed for x in e.runs} & {x.seed for x in e.previous.runs}) if e.previous else []
    if not reused:
        return []
    return [f"evaluation seeds {', '.join(map(str, reused))} were also {e.previous.name}'s: the previous recipe's runs "
            "on them are the very runs that got it accepted, which favours the previous recipe in this year's "
            "comparison (derived before each year took fresh seeds)"]


def confirmation_lines(e: Entry) -> list[str]:
    """How the recipe was confirmed against the previous one (seeds, looks) and the power of that
    confirmation for its own observed gain, with the caveat that the power is estimated from this study."""
    row, c = e.row, e.recipe.provenance.get("confirmation")
    if not row["n_pairs_prev"]:
        return []
    if c:
        how = (f"confirmation: {row['n_pairs_prev']} paired seeds, sequential (looks {', '.join(map(str, c['looks']))}; "
               f"{c['spending']} spending of alpha {c['alpha']:g}); stopped at look {c['looks_taken']} "
               f"({c['decision']}), where p < {rules.sequential_level(c):.2g} was needed")
    else:
        how = f"confirmation: {row['n_pairs_prev']} paired seeds, fixed (p < {rules.LEADERBOARD_ALPHA:g} needed)"
    if not math.isfinite(row["power_prev"]):
        return [how]

    def seeds(n: float) -> str:
        return f"{n:.0f}" if math.isfinite(n) else "no number of"

    caveat = (f"power of this confirmation, estimated from this study itself: {row['power_prev']:.0%} at the observed "
              f"gain, {row['power_prev_cautious']:.0%} at its nominal {planning.CAUTION:.0%} lower confidence bound; a "
              f"fixed test at p < {rules.LEADERBOARD_ALPHA:g} needs {seeds(row['seeds_80_prev'])} seeds for "
              f"{planning.POWER:.0%} power at the observed gain, {seeds(row['seeds_80_prev_cautious'])} at the bound "
              "(power at the observed gain follows from its p and adds nothing to it; a gain that passed its test, "
              "chosen as the search's best, is usually overestimated, and the bound ignores that choice and any "
              "sequential stop: plan with the figures at the bound, as a floor, not a guarantee)")
    return [how, caveat]


def index_rows(board: Board) -> list[dict[str, str]]:
    """The index's table of one workload: the baseline and a row per recipe (`INDEX_HEADINGS`)."""
    rows = []
    entries = {e.name: e for e in board.entries}
    for r in board.table.to_dict("records"):
        e = entries.get(r["entry"])
        rows.append(dict(zip(INDEX_HEADINGS, [
            r["entry"], r["status"], mean_cell(r), previous_cell(r), replicated_cell(r), changes_cell(e) if e else "-",
            time_cell(r),
            r["evidence"].rsplit("/", 1)[-1]])))
    return rows


def result_rows(board: Board, e: Entry) -> list[dict[str, str]]:
    """The recipe's result as (field, value) rows: a narrow table that fits any screen."""
    r = board.table.set_index("entry").loc[e.name].to_dict()
    r["entry"] = e.name
    cells = [r["status"], mean_cell(r), previous_cell(r), replicated_cell(r),
             gain_cell(r["gain_base"], r["gain_base_low"], r["gain_base_high"], r["p_base"], r["n_pairs_base"]),
             time_cell(r), f"{r['budget']:.4g} {r['budget_unit']}", r["added"] or "-", r["removed"] or "-", r["date"],
             r["commit"] or "-", r["evidence"].rsplit("/", 1)[-1], r["evidence_sha256"] or "not sealed (hand-written)"]
    return [{"field": k, "value": v} for k, v in zip(RESULT_HEADINGS, cells)]


def parts_rows(e: Entry) -> list[dict[str, str]]:
    """The recipe's gain over the baseline in parts: re-tuned nuisance values, each trick's Shapley value, total."""
    if e.contributions is None:
        return []
    return [dict(zip(PARTS_HEADINGS, [r.part, value_cell(r.value, r.ci_low, r.ci_high), r.detail]))
            for r in e.contributions.itertuples()]


def tricks_rows(e: Entry) -> list[dict[str, str]]:
    """The recipe's tricks: parameters, since when, Shapley value (the attribution's), reason (derive-time
    numbers removed: they came from derive's sampled orders, not from all the evidence)."""
    prev = e.previous.recipe.stack if e.previous else {}
    shapley = {} if e.contributions is None else {
        r.part: value_cell(r.value, r.ci_low, r.ci_high) for r in e.contributions.itertuples() if r.kind == "trick"}
    reason = lambda n: reason_without_numbers(e.recipe.reasons.get(n, "") or "") or "-"  # noqa: E731
    rows = [{"trick": n, "parameters": _params(p) or "-", "since": "this year" if prev.get(n) != p else "earlier",
             "Shapley (95% CI)": shapley.get(n, "-"), REASON: reason(n)} for n, p in sorted(e.recipe.stack.items())]
    rows += [{"trick": n, "parameters": "removed", "since": "this year", "Shapley (95% CI)": "-", REASON: reason(n)}
             for n in sorted(set(prev) - set(e.recipe.stack))]
    return rows


def negative_rows(board: Board, year=None, names_only: bool = False) -> list[dict[str, str]]:
    """The negative results (of ``year``); ``names_only``: what was tried by trick names, without parameters."""
    return [dict(zip(NEGATIVE_HEADINGS, [
        str(r["year"]), r["changes"] if names_only else r["tried"], mean_cell(r),
        gain_cell(r["gain"], r["gain_low"], r["gain_high"], r["p_value"], r["n_pairs"]), r["reference"],
        r["evidence"].rsplit("/", 1)[-1]])) for e in board.entries for r in e.negative if year in (None, r["year"])]


# ---- Markdown, CSV, JSON ----------------------------------------------------------------------------


def md_cell(text: Any) -> str:
    """A Markdown table cell: HTML escaped (a recipe's text is data, never markup), pipes and newlines neutral."""
    return html.escape(str(text)).replace("|", "\\|").replace("\n", " ").replace("\r", " ")


def _md_table(heads: list[str], rows: list[dict[str, str]]) -> list[str]:
    return (["| " + " | ".join(heads) + " |", "|" + " --- |" * len(heads)]
            + ["| " + " | ".join(md_cell(r[h]) for h in heads) + " |" for r in rows])


def render_markdown(lb: Leaderboard, tricks: Mapping[str, Any]) -> str:
    out = ["# trickstack leaderboards", "", f"Computed from the recipes in `{lb.source_label}` and their evidence files"
           + (f", as of {lb.year}" if lb.year else "")
           + f". Rules: at least {rules.LEADERBOARD_MIN_SEEDS} paired seeds and a {rules.LEADERBOARD_TEST} "
           f"at p < {rules.LEADERBOARD_ALPHA}; intervals are {an.LEVEL:.0%}; gains are signed so that + is better."]
    for b in lb.boards.values():
        out += ["", f"## {b.name}: {b.metric} ({b.direction}), budget {b.budget:.4g} {b.budget_unit}", ""]
        out += _md_table(INDEX_HEADINGS, index_rows(b))
        for e in b.entries:
            out += ["", f"### {e.name}", "", md_cell(e.recipe.summary or "-"), ""]
            out += _md_table(["field", "value"], result_rows(b, e))
            notes = [*beaten_lines(e), *confirmation_lines(e), *reused_seed_lines(e)]
            out += ["", *(f"- {md_cell(line)}" for line in notes)] if notes else []
            rows = tricks_rows(e)
            out += ["", *_md_table(list(rows[0]), rows)] if rows else []
            if e.contributions is not None:
                out += ["", f"Its gain over the baseline in parts ({md_cell(e.name)}):", ""]
                out += _md_table(PARTS_HEADINGS, parts_rows(e))
        out += ["", f"### Negative results: tried on {b.name} and not kept", ""]
        out += _md_table(NEGATIVE_HEADINGS, negative_rows(b)) if len(b.negative) else ["none recorded"]
    out += ["", "## Tricks", ""]
    out += _md_table(["trick", "verdict"], [{"trick": t.name, "verdict": "; ".join(t.verdict) or "-"}
                                            for t in tricks.values()])
    return "\n".join(out) + "\n"


def csv_cell(value: Any) -> Any:
    """A cell a spreadsheet shows as text: a string starting with a formula character gets a leading ``'``."""
    return "'" + value if isinstance(value, str) and value.startswith(FORMULA) else value


def render_csv(table: pd.DataFrame) -> str:
    text = {c: table[c].map(csv_cell) for c in table.columns if not pd.api.types.is_numeric_dtype(table[c])}
    return table.assign(**text).to_csv(index=False)


def records(table: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as plain Python: missing values (NaN, pd.NA) as None, numpy scalars as Python numbers."""
    return plain(table.astype(object).where(table.notna(), None).to_dict("records"))


def to_dict(lb: Leaderboard, tricks: Mapping[str, Any]) -> dict[str, Any]:
    def attribution(e: Entry) -> dict[str, Any]:
        if e.attribution is None:
            return {"available": False, "reason": e.attribution_note}
        out = {"contributions": records(e.contributions) if e.contributions is not None else None}
        for key in ("shapley", "effects"):
            s = e.attribution.sections[key]
            out[key] = ({"available": True, "values": s.values, "rows": s.table.to_dict("records")} if s.available
                        else {"available": False, "reason": s.unavailable})
        return out

    return plain({"source": lb.source_label, "year": lb.year, "rules": lb_.rules_summary(lb), "workloads": {
        b.name: {"metric": b.metric, "direction": b.direction, "budget": {"unit": b.budget_unit, "value": b.budget},
                     "rows": records(b.table), "negative_results": records(b.negative),
                     "recipes": {e.name: {"summary": e.recipe.summary, "tricks": e.recipe.stack,
                                          "nuisance": e.recipe.nuisance,
                                          "reasons": {n: reason_without_numbers(v) for n, v in e.recipe.reasons.items()},
                                          "evidence_sha256": e.seal, "attribution": attribution(e)} for e in b.entries}}
        for b in lb.boards.values()},
        "tricks": {t.name: {"verdict": t.verdict, "history": t.history, "interactions": t.interactions,
                            "negative_results": [n["recipe"] + ": " + n["tried"] for n in t.negative],
                            "search_runs": {f"{w}/{y}": c for (w, y), c in sorted(t.searched.items())}}
                   for t in tricks.values()}})


def render_json(lb: Leaderboard, tricks: Mapping[str, Any]) -> str:
    return json.dumps(to_dict(lb, tricks), indent=1, allow_nan=False) + "\n"
