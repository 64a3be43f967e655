"""Learning curves as a picture: each arm's mean smoothed training loss over seeds with its 95% band
(`trickstack.stats.curves.mean_curves`), against the FLOPs spent and, where the runs were timed, against the
training seconds, one panel above the other so that a phone's narrow screen shows both at a readable size.
The study report and the leaderboard's recipe and trick pages draw theirs with `curve_figure`.
"""

from __future__ import annotations

from typing import Mapping, Optional

import pandas as pd

PALETTE = ("#1c7ed6", "#e8590c", "#2b8a3e", "#862e9c", "#c92a2a", "#0b7285", "#5c940d", "#d6336c", "#495057", "#f08c00")
CAPTION = ("Mean smoothed training loss over seeds (band: 95% interval) against the training FLOPs spent{seconds}. "
           "A point at a share of the budget is not a run at a smaller budget: the schedules end at the full budget.")


def timed(series: pd.DataFrame) -> bool:
    """Whether the curves have training seconds to plot against (simulated runs and FLOP-only records do not)."""
    return bool(len(series)) and bool((series.seconds.fillna(0) > 0).any())


def caption(series: pd.DataFrame) -> str:
    return CAPTION.format(seconds=" (top) and the training seconds (bottom)" if timed(series) else "")


def curve_figure(series: pd.DataFrame, colors: Optional[Mapping[str, str]] = None,
                 styles: Optional[Mapping[str, str]] = None):
    """The figure of ``series`` (`mean_curves`' columns), or (None, why) when there is nothing to draw. ``colors``
    and ``styles`` (matplotlib line styles) per arm; by default the palette in the series' order."""
    from matplotlib.figure import Figure  # no pyplot: no global state, no GUI backend

    series = series.dropna(subset=["mean"])
    if series.empty:
        return None, "no finite point on any curve"
    arms = list(dict.fromkeys(series.arm))
    colors = {a: (colors or {}).get(a, PALETTE[i % len(PALETTE)]) for i, a in enumerate(arms)}
    axes_x = [("flops", "training FLOPs spent")] + ([("seconds", "training seconds")] if timed(series) else [])
    fig = Figure(figsize=(5.2, 0.9 + 3.0 * len(axes_x) + 0.24 * len(arms)))  # narrow: a phone shrinks it less
    for i, (column, label) in enumerate(axes_x):
        ax = fig.add_subplot(len(axes_x), 1, i + 1)
        for arm in arms:
            s = series[series.arm == arm].sort_values("fraction")
            ax.plot(s[column], s["mean"], color=colors[arm], linestyle=(styles or {}).get(arm, "-"), linewidth=1.6,
                    label=f"{arm} (n={int(s.n.max())})")
            band = s.dropna(subset=["low", "high"])
            if len(band):
                ax.fill_between(band[column], band.low, band.high, color=colors[arm], alpha=0.18, linewidth=0)
        ax.set_xlabel(label, fontsize=10)
        ax.set_ylabel("smoothed training loss", fontsize=10)
        ax.tick_params(labelsize=9)
        ax.grid(color="#eee")
        ax.set_axisbelow(True)
    fig.axes[-1].legend(fontsize=9, loc="upper center", bbox_to_anchor=(0.5, -0.22), ncol=1, frameon=False)
    fig.tight_layout()
    return fig, None
