"""Charts of a run as inline SVG, drawn with matplotlib: one panel per figure, models side by side.

Where a figure has samples (time to first token, decode tokens/s) the panel shows their
distribution, a box with every sample as a dot, not only a mean. Text stays text in the SVG
(no font files, nothing to fetch), so a page that embeds these needs no network.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import matplotlib
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from bakeoff.metrics import METRICS
from bakeoff.show.summary import ModelView

if TYPE_CHECKING:
    from matplotlib.typing import RcKeyType

COLORS = matplotlib.color_sequences["tab10"]  # the tab10 colormap's colors
SVG_SETTINGS: dict[RcKeyType, Any] = {
    "svg.fonttype": "none",
    "svg.hashsalt": "bakeoff",
    "font.size": 9,
    "font.family": "sans-serif",
}


@dataclass(frozen=True)
class Chart:
    key: str  # stable id, for pages and tests
    title: str
    svg: str


def model_charts(models: list[ModelView]) -> list[Chart]:
    """Time to ready, TTFT, decode tokens/s and peak RSS for the models that ran."""
    if not models:
        return []
    names = [m.label for m in models]
    colors = [COLORS[i % len(COLORS)] for i in range(len(models))]
    ready, ttft, decode, peak, after_load = (
        METRICS[k] for k in ("ready_seconds", "ttft_s", "decode_tokens_per_s", "peak_rss_bytes", "rss_after_load_bytes")
    )

    def per_model(metric) -> list[float | None]:
        return [None if (v := metric.of(m.record)) is None else v * metric.scale for m in models]

    def every_sample(metric) -> list[list[float]]:
        return [[v * metric.scale for v in metric.values(m.record.samples)] for m in models]

    return [
        Chart("ready", f"Time to ready ({ready.unit})", _bars(names, per_model(ready), colors, ready)),
        Chart(
            "ttft",
            f"Time to first token ({ttft.unit}), every sample",
            _distribution("ttft", names, every_sample(ttft), colors, ttft),
        ),
        Chart(
            "decode",
            "Decode tokens/s, every sample",
            _distribution("decode", names, every_sample(decode), colors, decode),
        ),
        Chart(
            "rss",
            f"Peak RSS ({peak.unit}); tick: after load",
            _bars(names, per_model(peak), colors, peak, ticks=per_model(after_load)),
        ),
    ]


def _axes(count: int) -> tuple[Figure, Axes]:
    fig = Figure(figsize=(4.6, 0.9 + 0.45 * count), layout="constrained")
    ax = fig.add_subplot()
    ax.spines[["top", "right"]].set_visible(False)
    ax.grid(axis="x", color="#dddddd", linewidth=0.6)
    ax.set_axisbelow(True)
    return fig, ax


def _finish(fig: Figure, ax: Axes, names: list[str], room: float = 1.05) -> str:
    ax.set_yticks(range(len(names)), names)
    ax.set_ylim(len(names) - 0.5, -0.5)  # first model on top, as in the tables
    ax.set_xlim(left=0, right=ax.get_xlim()[1] * room)  # room for labels at the bars' ends
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None})
    svg = buffer.getvalue()
    return svg[svg.index("<svg") :]  # drop the XML prolog and doctype: the SVG goes inline


def _label(metric, shown: float) -> str:
    """A figure already in the metric's unit, labelled with it."""
    return metric.figure(shown / metric.scale)


def _bars(names, values, colors, metric, ticks: list[float | None] | None = None) -> str:
    with matplotlib.rc_context(SVG_SETTINGS):
        fig, ax = _axes(len(names))
        for row, value in enumerate(values):
            if value is None:
                ax.text(0, row, " not measured", va="center", color="#777777")
                continue
            ax.barh(row, value, color=colors[row], height=0.5, alpha=0.85)
            ax.text(value, row, " " + _label(metric, value), va="center")
            tick = ticks[row] if ticks else None
            if tick is not None:
                ax.plot([tick] * 2, [row - 0.3, row + 0.3], color="black", linewidth=1.5)
        return _finish(fig, ax, names, room=1.3)


def _distribution(key: str, names, samples: list[list[float]], colors, metric) -> str:
    rng = np.random.default_rng(0)  # fixed jitter: the same report always draws the same chart
    with matplotlib.rc_context(SVG_SETTINGS):
        fig, ax = _axes(len(names))
        for row, values in enumerate(samples):
            if not values:
                ax.text(0, row, " no samples", va="center", color="#777777")
                continue
            ax.boxplot(
                [values],
                positions=[row],
                orientation="horizontal",
                widths=0.55,
                showfliers=False,
                medianprops={"color": "black"},
                boxprops={"color": colors[row]},
                whiskerprops={"color": colors[row]},
                capprops={"color": colors[row]},
            )
            jitter = rng.uniform(-0.18, 0.18, len(values))
            ax.scatter(
                values,
                row + jitter,
                s=9,
                color=colors[row],
                alpha=0.6,
                linewidths=0,
                zorder=3,
                gid=f"{key}-samples-{row}",
            )
            # In a column right of the plot, clear of every dot; the layout makes room for it.
            ax.annotate(
                "median " + _label(metric, float(np.median(values))),
                xy=(1, row),
                xycoords=("axes fraction", "data"),
                xytext=(4, 0),
                textcoords="offset points",
                va="center",
                annotation_clip=False,
            )
        return _finish(fig, ax, names)


def history_chart(series) -> Chart:
    """One series of `bakeoff history` (`bakeoff.decide.history.Series`): the runs' figures in
    order, each change point as a dashed line at the run that starts the new level."""
    metric = METRICS[series.metric]
    with matplotlib.rc_context(SVG_SETTINGS):
        fig = Figure(figsize=(6.0, 2.2), layout="constrained")
        ax = fig.add_subplot()
        ax.spines[["top", "right"]].set_visible(False)
        ax.grid(axis="y", color="#dddddd", linewidth=0.6)
        points = [(i, v * metric.scale) for i, v in enumerate(series.values) if v is not None]
        ax.plot(
            [i for i, _ in points],
            [v for _, v in points],
            marker="o",
            markersize=3,
            color=COLORS[0],
            gid="history-values",
        )
        for point in series.change_points:
            ax.axvline(
                point.index - 0.5, color="#c0392b", linestyle="--", linewidth=1, gid=f"change-point-{point.index}"
            )
        ax.set_ylabel(metric.unit)
        ax.set_xticks(range(len(series.runs)), series.runs, rotation=45, ha="right", fontsize=7)
        buffer = io.StringIO()
        fig.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None})
    svg = buffer.getvalue()
    title = f"{series.model} ({series.runtime}): {metric.label}"
    return Chart(f"history-{series.model}-{series.runtime}-{series.metric}", title, svg[svg.index("<svg") :])
