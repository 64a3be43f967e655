"""Learning curves on the leaderboard's pages, from the runs of each recipe's evidence (`trickstack.stats.curves`).

A recipe's page shows the baseline, the previous recipe and the recipe on one plot; a trick's page shows, in each
recipe that has the trick, the recipe's curve and that of the same stack without the trick (an attribution run of
the evidence). Records written before curves (run-record schema 1: every shipped recipe's evidence so far) have
none, and the pages say so plainly: "curves missing".
"""

from __future__ import annotations

from typing import Mapping, Optional, Sequence

from trickstack.core.stacks import BASELINE
from trickstack.leaderboard.evidence import runs_of
from trickstack.leaderboard.markup import esc
from trickstack.reports import curveplots
from trickstack.reports.html import svg
from trickstack.stats import curves as cv
from trickstack.workloads import get_workload

MISSING = ("Curves missing: the runs of {what} have no learning curve (run records of schema 1, written before curves "
           "were recorded).")


def curves_html(arms: Mapping[str, Sequence], caption: str, styles: Optional[Mapping[str, str]] = None) -> str:
    """The figure of the mean curves of ``arms`` (name -> run records) with ``caption``, or the plain sentence that
    says which runs have no curve."""
    table = cv.curves_table(arms)
    have = set(table.arm[table.kind == "train"])
    lacking = [a for a, runs in arms.items() if runs and a not in have]
    if not have:
        return f"<p class=\"na\">{esc(MISSING.format(what=', '.join(arms)))}</p>"
    series = cv.mean_curves(table)
    fig, why = curveplots.curve_figure(series, styles=styles)
    if fig is None:
        return f"<p class=\"na\">No plot: {esc(why)}</p>"
    notes = "".join(f"<p class=\"na\">{esc(MISSING.format(what=a))}</p>" for a in lacking)
    return (f"<figure class=\"curves\">{svg(fig)}<figcaption>{esc(caption)} {esc(curveplots.caption(series))}"
            f"</figcaption></figure>{notes}")


def recipe_arms(e, board) -> dict[str, list]:
    """The runs of the baseline (the workload's default nuisance values), the previous recipe and the recipe ``e``."""
    wl = get_workload(board.workload)
    arms = {BASELINE: runs_of(e.records, {}, wl.resolve_nuisance(), where=str(e.evidence))}
    if e.previous is not None:
        arms[f"{e.previous.name} (previous)"] = runs_of(e.records, e.previous.recipe.stack, e.previous.recipe.nuisance,
                                                         where=str(e.evidence))
    arms[f"{e.name} (this recipe)"] = e.runs
    return arms


def recipe_curves(e, board) -> str:
    return curves_html(recipe_arms(e, board), "The baseline, the previous recipe and this recipe, from the runs of "
                       "its evidence.")


def trick_curves(name: str, lb) -> str:
    """For each recipe whose stack has the trick ``name``: its curve with the trick (the recipe's runs) and without
    (the attribution runs of the same stack less the trick, at the recipe's nuisance values)."""
    parts = []
    for board in lb.boards.values():
        for e in board.entries:
            if name not in e.recipe.stack:
                continue
            without = {t: p for t, p in e.recipe.stack.items() if t != name}
            arms = {f"{e.name} with {name}": e.runs,
                    f"{e.name} without {name}": runs_of(e.records, without, e.recipe.nuisance, where=str(e.evidence))}
            parts.append(f"<h3>{esc(e.name)}</h3>")
            if not arms[f"{e.name} without {name}"]:
                parts.append(f"<p class=\"na\">No run of {esc(e.name)} without {esc(name)} in its evidence: no curve "
                             "to compare with.</p>")
                continue
            parts.append(curves_html(arms, f"Recipe {e.name} with and without {name} (dashed).",
                                     styles={f"{e.name} without {name}": "--"}))
    return "".join(parts) or "<p>In no recipe, so there is no curve with and without it.</p>"


def curves_line(board) -> str:
    """One line on which of ``board``'s recipes have learning curves in their runs, for the command's output."""
    lacking = [e.name for e in board.entries if not any(r.curve is not None for r in e.runs)]
    if not lacking:
        return f"learning curves in all {len(board.entries)} recipe(s)"
    if len(lacking) == len(board.entries):
        return "curves missing: no recipe's runs recorded a learning curve (run records of schema 1)"
    return f"curves missing for {', '.join(lacking)} (run records of schema 1); the other recipes have them"
