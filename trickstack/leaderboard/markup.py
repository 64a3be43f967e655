"""The HTML every page of the leaderboard site shares: the page shell (inline CSS, no script, no external
asset) and its tables, whose cells naming a trick link to the trick's page.

>>> link_tricks("+ema, lr re-tuned", {"ema": None})
'+<a href="trick-ema.html">ema</a>, lr re-tuned'
"""

from __future__ import annotations

import html
import re
from typing import Mapping, Optional

from trickstack.leaderboard.tricks import trick_page
from trickstack.reports.html import CSS

esc = html.escape
EXTRA_CSS = """
main { max-width: 1180px; } table { width: 100%; }
th, td { white-space: normal; overflow-wrap: break-word; text-align: left; }
table.result td:first-child { width: 12em; } table.result td:last-child { overflow-wrap: anywhere; }
td.status-new-best { color: #1864ab; font-weight: 600; } td.status-carried-forward { color: #555; }
td.status-not-significant { color: #c92a2a; } code { overflow-wrap: anywhere; }
nav { display: flex; flex-wrap: wrap; gap: 4px 14px; } nav a { margin-right: 0; }
@media (max-width: 700px) {
  main { padding: 12px; } table.result td:first-child { width: 7.5em; }
  table.cards, table.cards tbody, table.cards tr, table.cards td { display: block; width: auto; }
  table.cards thead { display: none; } table.cards tr { border: 1px solid #ddd; margin: 0 0 10px; }
  table.cards td { border: none; text-align: left; padding: 2px 8px; }
  table.cards td::before { content: attr(data-label) ": "; font-weight: 600; color: #444; }
}
"""
# the columns whose cells name tricks
TRICK_COLUMNS = ("recipe", "changes", "trick", "part", "tried", "term", "arm", "partner", "value", "verdict")


def page(title: str, body: list[str]) -> str:
    nav = ("<nav><a href=\"index.html\">Leaderboards</a><a href=\"index.html#tricks\">Tricks</a>"
           "<a href=\"rules.html\">Rules</a><a href=\"leaderboard.md\">Markdown</a><a href=\"leaderboard.csv\">CSV</a>"
           "<a href=\"negative-results.csv\">negative results CSV</a><a href=\"leaderboard.json\">JSON</a></nav>")
    return (f"<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{esc(title)}</title>"
            f"<style>{CSS}{EXTRA_CSS}</style></head><body><main>{nav}\n" + "\n".join(body) + "\n</main></body></html>\n")


def link_tricks(text: str, tricks: Mapping) -> str:
    """``text`` HTML-escaped, each name of a trick with a page made a link to it."""
    escaped = esc(text)
    if not tricks:
        return escaped
    names = "|".join(sorted(map(re.escape, tricks), key=len, reverse=True))
    return re.sub(rf"(?<![\w.])({names})(?![\w=])", lambda m: f"<a href=\"{trick_page(m[1])}\">{m[1]}</a>", escaped)


def table(heads: list[str], rows: list[dict[str, str]], cls: str, links: Optional[list[dict[str, str]]] = None,
          tricks: Mapping = {}, cards: bool = True) -> str:
    """An HTML table of display cells; ``links[i][heading]`` makes that cell a link; names of ``tricks`` in
    the columns of `TRICK_COLUMNS` link to their pages. Each cell carries its heading (``data-label``) for
    the narrow-screen layout, where each row becomes a card (``cards``; a two-column table stays a table)."""
    body = []
    for i, row in enumerate(rows):
        cells = []
        for h in heads:
            href = (links[i] if links else {}).get(h)
            text = f"<a href=\"{esc(href)}\">{esc(row[h])}</a>" if href else (
                link_tricks(row[h], tricks) if h in TRICK_COLUMNS else esc(row[h]))
            attr = f" class=\"status-{row[h].replace(' ', '-')}\"" if h == "status" else ""
            cells.append(f"<td data-label=\"{esc(h)}\"{attr}>{text}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return (f"<table class=\"{cls}{' cards' * cards}\"><thead><tr>" + "".join(f"<th>{esc(h)}</th>" for h in heads)
            + "</tr></thead><tbody>" + "".join(body) + "</tbody></table>")
