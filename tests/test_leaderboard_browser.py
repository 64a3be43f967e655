"""The leaderboard site in a real browser: headless Chromium renders the index and a recipe page, takes a
screenshot and dumps the DOM; the tables and the plots must be there and drawn; and every page, at a laptop's
and at a phone's width, fits the width: nothing overflows sideways. Skipped, with the reason, only when no
Chromium is installed (`.ci/run` installs Debian's ``chromium`` package)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
from leaderboard_fixtures import make_recipes

from trickstack.reports.html import GOOD, TOTAL

WINDOW = (1280, 2400)  # pixels: a laptop's width, tall enough for the plots below the table
WIDTHS = {"laptop": 1280, "phone": 390}  # CSS pixels
NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def browser() -> str | None:
    chosen = os.environ.get("TRICKSTACK_CHROMIUM")
    return chosen if chosen else next((path for path in map(shutil.which, NAMES) if path), None)


pytestmark = pytest.mark.skipif(
    browser() is None, reason="no Chromium installed (looked for $TRICKSTACK_CHROMIUM and "
                              f"{', '.join(NAMES)} on PATH); `.ci/run` installs Debian's chromium package")


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    from trickstack.leaderboard.board import build
    from trickstack.leaderboard.site import write_site

    root = tmp_path_factory.mktemp("lb")
    # 2016's evidence has no curves (as records of schema 1), 2018's and 2019's have
    write_site(build(make_recipes(root / "recipes", curves_from=2018)), root / "site")
    return root / "site"


def render(page: Path, tmp_path: Path) -> tuple[Path, str]:
    """Open ``page`` in headless Chromium: (screenshot PNG, DOM after loading). No network, a fresh profile."""
    shot = tmp_path / f"{page.stem}.png"
    profile = tmp_path / f"profile-{page.stem}"
    command = [browser(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               f"--user-data-dir={profile}", f"--window-size={WINDOW[0]},{WINDOW[1]}", "--hide-scrollbars",
               f"--screenshot={shot}", "--dump-dom", page.as_uri()]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and shot.exists(), done.stderr[-2000:]
    return shot, done.stdout


class Dom(HTMLParser):
    """Counts what the tests look for: tables by class with their body rows, <svg> per section, and text."""

    def __init__(self, text: str):
        super().__init__()
        self.tables: dict[str, int] = {}  # class -> rows in <tbody>
        self.svgs: dict[str, int] = {}  # id of the enclosing <section> ("" outside one) -> <svg> count
        self.text: list[str] = []
        self._table, self._section, self._body = None, "", False
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "section":
            self._section = a.get("id", "")
        elif tag == "table":
            self._table = a.get("class", "").split()[0]
            self.tables.setdefault(self._table, 0)
        elif tag == "tbody":
            self._body = True
        elif tag == "tr" and self._body:
            self.tables[self._table] += 1
        elif tag == "svg":
            self.svgs[self._section] = self.svgs.get(self._section, 0) + 1

    def handle_endtag(self, tag):
        if tag == "tbody":
            self._body = False
        elif tag == "section":
            self._section = ""

    def handle_data(self, data):
        self.text.append(data)


def pixels_like(image, color: str, tolerance: int = 6) -> int:
    """Pixels within ``tolerance`` (per channel) of the hex ``color``."""
    import numpy as np

    target = np.array([int(color[i:i + 2], 16) for i in (1, 3, 5)])
    rgb = np.asarray(image.convert("RGB"), dtype=int)
    return int((np.abs(rgb - target) <= tolerance).all(axis=-1).sum())


def check_screenshot(shot: Path) -> "object":
    from PIL import Image

    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    image = Image.open(shot)
    image.load()
    assert image.size == WINDOW
    gray = image.convert("L")
    histogram = gray.histogram()
    assert len([count for count in histogram if count]) > 20  # text, lines and fills, not one flat colour
    assert sum(histogram[:200]) > 0.01 * WINDOW[0] * WINDOW[1]  # more than 1% of the page is drawn dark
    return image


def test_index_renders_the_table_and_the_trend_plot(site, tmp_path):
    shot, dom_text = render(site / "index.html", tmp_path)
    image = check_screenshot(shot)
    dom = Dom(dom_text)
    assert dom.tables["leaderboard"] == 4  # the baseline and the recipes of 2016, 2018 and 2019
    assert dom.tables["negative"] == 3  # one candidate not kept each year
    assert dom.svgs.get("synthetic", 0) == 1  # the year-over-year trend plot
    text = " ".join(dom.text)
    assert all(s in text for s in ("synthetic/2016", "synthetic/2018", "new best", "carried forward (= synthetic/2018)"))
    assert pixels_like(image, TOTAL) > 100  # the trend plot was drawn: its "new best" points are this blue


def test_recipe_page_renders_shapley_heatmap_and_trend(site, tmp_path):
    shot, dom_text = render(site / "synthetic-2018.html", tmp_path)
    image = check_screenshot(shot)
    dom = Dom(dom_text)
    assert {k: dom.svgs.get(k, 0) for k in ("shapley", "interactions", "arms", "trend")} == \
        {"shapley": 1, "interactions": 1, "arms": 1, "trend": 1}
    # the re-tuned nuisance values, 3 tricks and the total; 3 main effects + 3 pairs
    assert dom.tables["shapley"] == 5 and dom.tables["effects"] == 6
    # status, mean, Δ vs previous, replication, Δ vs baseline, time, budget, added, removed, date, commit, evidence
    # and its sha256
    assert dom.tables["result"] == 13 and dom.tables["tricks"] == 3
    assert "not replicated yet" in " ".join(dom.text)  # the fixture ships no replication of synthetic/2018
    assert pixels_like(image, GOOD) > 4000  # the waterfall's bars were drawn (green: positive contributions)
    assert pixels_like(image, TOTAL) > 4000  # and its full-stack bar (blue)


def test_recipe_page_draws_the_curves_of_the_baseline_the_previous_recipe_and_the_recipe(site, tmp_path):
    shot, dom_text = render(site / "synthetic-2018.html", tmp_path)
    check_screenshot(shot)
    dom = Dom(dom_text)
    assert dom.svgs.get("curves", 0) == 1
    text = " ".join(dom.text)
    assert all(arm in text for arm in ("baseline (n=6)", "synthetic/2016 (previous) (n=6)",
                                       "synthetic/2018 (this recipe) (n=6)")), "the plot's legend names the three"
    assert "Curves missing" not in text


def test_a_recipe_without_curves_says_so_plainly(site, tmp_path):
    shot, dom_text = render(site / "synthetic-2016.html", tmp_path)
    check_screenshot(shot)
    dom = Dom(dom_text)
    assert dom.svgs.get("curves", 0) == 0 and dom.svgs.get("trend", 0) == 1  # the rest of the page still drawn
    assert "Curves missing: the runs of baseline, synthetic/2016 (this recipe) have no learning curve" in " ".join(dom.text)


def test_trick_page_draws_the_curves_with_and_without_it_in_each_recipe_that_has_it(site, tmp_path):
    shot, dom_text = render(site / "trick-mixup.html", tmp_path)
    check_screenshot(shot)
    dom = Dom(dom_text)
    text = " ".join(dom.text)
    assert dom.svgs.get("curves", 0) == 2  # in synthetic/2018 and synthetic/2019, the recipes with mixup
    assert all(f"synthetic/{year} {how} mixup" in text for year in (2018, 2019) for how in ("with", "without"))


def test_trick_page_says_where_curves_are_missing_or_have_nothing_to_compare_with(site, tmp_path):
    shot, dom_text = render(site / "trick-label_smoothing.html", tmp_path)
    check_screenshot(shot)
    dom = Dom(dom_text)
    text = " ".join(dom.text)
    assert dom.svgs.get("curves", 0) == 1  # synthetic/2018 only
    assert "Curves missing: the runs of synthetic/2016 with label_smoothing, synthetic/2016 without" in text
    # 2019's attribution sampled two orders: no run of its stack without label_smoothing
    assert "No run of synthetic/2019 without label_smoothing in its evidence" in text


# A test-only frame around a page, so that the page is laid out at the phone's width (headless Chromium's window
# is at least 500 pixels wide): its script measures the page inside the frame. The site itself has no script.
HOST = """<!doctype html><html><body style="margin:0"><iframe id="page" src="{page}" width="{width}" height="{height}"
style="border:0"></iframe><script>document.getElementById("page").addEventListener("load", () => {{
  const root = document.getElementById("page").contentDocument.documentElement, out = [];
  for (const el of root.querySelectorAll("body *")) {{
    const box = el.getBoundingClientRect();
    if (box.right > root.clientWidth + 0.5) out.push(el.tagName + ":" + Math.round(box.right));
    if (el.scrollWidth > el.clientWidth + 1 && getComputedStyle(el).overflowX !== "visible") out.push("scrolls:" + el.tagName);
  }}
  document.body.dataset.measured = root.scrollWidth + " " + root.clientWidth + " " + out.slice(0, 5).join(" ");
}});</script></body></html>"""


@pytest.mark.parametrize("device", list(WIDTHS))
@pytest.mark.parametrize("name", ["index.html", "synthetic-2018.html", "trick-mixup.html", "rules.html"])
def test_nothing_overflows_at_a_laptop_and_a_phone_width(site, name, device, tmp_path):
    width, height = WIDTHS[device], 2400
    host = site / f"frame-{device}-{name}"
    host.write_text(HOST.format(page=name, width=width, height=height))
    shot, profile = tmp_path / f"{device}-{name}.png", tmp_path / "profile"
    command = [browser(), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--hide-scrollbars",
               "--allow-file-access-from-files", "--disable-background-networking", f"--user-data-dir={profile}",
               f"--window-size={max(width, 500)},{height}", "--virtual-time-budget=5000", f"--screenshot={shot}",
               "--dump-dom", host.as_uri()]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    finally:
        host.unlink()
    assert done.returncode == 0 and shot.exists(), done.stderr[-2000:]
    measured = re.search(r'data-measured="(\d+) (\d+) ?([^"]*)"', done.stdout)
    assert measured, "the page did not load in the frame"
    scroll, client, overflowing = int(measured[1]), int(measured[2]), measured[3]
    assert client == width and scroll == width and not overflowing, (name, device, scroll, overflowing)
    from PIL import Image

    assert Image.open(shot).size == (max(width, 500), height)

