"""A page per trick (``trick-<name>.html``): its verdict, then every piece of evidence about it across all
recipes and workloads (`trickstack.leaderboard.tricks`), and the index's list of tricks."""

from __future__ import annotations

from typing import Mapping

from trickstack.leaderboard.markup import esc, page, table
from trickstack.leaderboard.tables import gain_cell, value_cell
from trickstack.leaderboard.tricks import TrickEvidence

HISTORY_HEADINGS = ["recipe", "status", "the trick", "its Shapley value (95% CI)"]
NEGATIVE_HEADINGS = ["recipe", "tried", "Δ vs reference (paired)", "reference"]
INTERACTION_HEADINGS = ["recipe", "partner", "interaction (95% CI)"]


def tricks_list(tricks: Mapping[str, TrickEvidence]) -> str:
    """The index's table of tricks: each linked to its page, with its verdict."""
    rows = [{"trick": t.name, "verdict": "; ".join(t.verdict) or "-"} for t in tricks.values()]
    return table(["trick", "verdict"], rows, "tricks-index", tricks=tricks)


def render_trick(t: TrickEvidence, tricks: Mapping[str, TrickEvidence], curves: str = "") -> str:
    """``curves``: the HTML of its learning curves with and without it (`trickstack.leaderboard.curves.trick_curves`)."""
    body = [f"<h1>Trick <code>{esc(t.name)}</code></h1>",
            "<section id=\"verdict\"><h2>Verdict</h2><ul>" + "".join(f"<li>{esc(v)}</li>" for v in t.verdict) + "</ul>"
            "<p class=\"notes\">Generated from the numbers below: helps where its Shapley interval lies above 0 (since a "
            "year: in every recipe from that year on), hurts where it lies below 0, no clear effect where every "
            "interval includes 0; never helped where it was only tried and not kept.</p></section>",
            "<section id=\"recipes\"><h2>In the recipes</h2>"]
    if t.history:
        rows = [{"recipe": h["recipe"], "status": h["status"], "the trick": h["role"],
                 "its Shapley value (95% CI)": value_cell(h["shapley"], h["ci_low"], h["ci_high"])} for h in t.history]
        body.append(table(HISTORY_HEADINGS, rows, "history", [{"recipe": h["page"]} for h in t.history], tricks))
        body.append("<p class=\"notes\">Shapley values from each recipe's attribution runs, by the estimator of the "
                    "recipe pages; a removed trick has none.</p>")
    else:
        body.append("<p>In no recipe.</p>")
    body.append("</section><section id=\"negative\"><h2>Tried and not kept</h2>")
    if t.negative:
        rows = [{"recipe": n["recipe"], "tried": n["tried"], "reference": n["reference"],
                 "Δ vs reference (paired)": gain_cell(n["gain"], n["gain_low"], n["gain_high"], n["p_value"],
                                                      n["n_pairs"])} for n in t.negative]
        pages = [{"recipe": n["recipe"].replace("/", "-") + ".html"} for n in t.negative]
        body.append(table(NEGATIVE_HEADINGS, rows, "negative", pages, tricks))
    else:
        body.append("<p>No candidate with it was tried and left out.</p>")
    body.append("</section><section id=\"interactions\"><h2>Interactions with the tricks it was stacked with</h2>")
    if t.interactions:
        rows = [{"recipe": i["recipe"], "partner": i["partner"],
                 "interaction (95% CI)": value_cell(i["estimate"], i["ci_low"], i["ci_high"])
                 + (" *" if i["ci_low"] > 0 or i["ci_high"] < 0 else "")} for i in t.interactions]
        body.append(table(INTERACTION_HEADINGS, rows, "interactions", [{"recipe": i["page"]} for i in t.interactions],
                          tricks))
        body.append("<p class=\"notes\">From the full factorial attribution runs of a recipe; * marks an interval "
                    "that excludes 0. Sampled attributions give main effects only.</p>")
    else:
        body.append("<p>None measured: no recipe with it has a full factorial of attribution runs.</p>")
    body.append("</section><section id=\"curves\"><h2>Learning curves with and without it</h2>")
    body.append(curves or "<p>Not drawn.</p>")
    body.append("</section><section id=\"search\"><h2>Search runs</h2>")
    if t.searched:
        body.append("<ul>" + "".join(f"<li>{esc(w)}/{y}: {c} search run{'s' * (c != 1)} (one seed each, not "
                                     "evidence)</li>" for (w, y), c in sorted(t.searched.items())) + "</ul>")
    else:
        body.append("<p>None.</p>")
    body.append("</section>")
    return page(f"trickstack trick {t.name}", body)


