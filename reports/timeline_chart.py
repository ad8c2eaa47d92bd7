"""The timeline chart: one lane per gate, green (pass) / red (fail) / grey (unknown) over
time, a black marker above the lane where a gate fell back after passing. The what-if chart
draws two lanes per gate, one per plan version.

matplotlib runs on its Agg backend (no display needed); PNG or SVG by the file's suffix. Used
by `exitgate timeline --chart` and by the approver page's chart of one gate.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rules.compiler import Status
from rules.timeline import Timeline
from rules.timeline_summary import GateSummary

__all__ = ["COLOURS", "Chart", "render", "render_compare", "save", "svg_bytes"]

COLOURS: dict[Status, str] = {True: "#2e7d32", False: "#c62828", None: "#9e9e9e"}
REGRESSION = "#000000"
LANE_HEIGHT = 0.6  # of the 1.0 between lanes; the gap above each lane holds regression markers


@dataclass
class Chart:
    figure: Any  # matplotlib.figure.Figure
    axes: Any  # matplotlib.axes.Axes
    lanes: dict[str, float]  # gate id -> the lane's centre on the y axis


def _num(us: int) -> float:
    from matplotlib.dates import date2num

    return float(date2num(datetime.fromtimestamp(us / 1_000_000, UTC)))  # type: ignore[no-untyped-call]


def render(tl: Timeline, summary: dict[str, GateSummary], title: str, step_us: int) -> Chart:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    gates = list(tl.gates)
    lanes_in = 0.5 * max(len(gates), 1)
    height = lanes_in + 1.1  # inches: lanes, 0.5 below for dates, 0.6 above for title and legend
    fig = Figure(figsize=(11, height), dpi=100)
    ax = fig.add_axes((0.12, 0.5 / height, 0.86, lanes_in / height))
    lanes = {g: float(len(gates) - 1 - i) for i, g in enumerate(gates)}
    xs = [_num(t) for t in tl.instants]
    width = _num(tl.instants[0] + step_us) - xs[0] if tl.instants else 1.0
    for g, statuses in tl.gates.items():
        y = lanes[g]
        _lane(ax, xs, width, statuses, y, LANE_HEIGHT)
        marks = [_num(r.start) for r in summary[g].regressions]
        if marks:
            ax.plot(marks, [y + LANE_HEIGHT / 2 + 0.12] * len(marks), linestyle="none", marker="v",
                    markersize=7, color=REGRESSION)
    ax.set_yticks([lanes[g] for g in gates], gates)
    ax.set_ylim(-0.6, len(gates) - 0.25)
    _finish(ax, xs, width, title, Line2D([], [], linestyle="none", marker="v", color=REGRESSION, label="regression"))
    return Chart(fig, ax, lanes)


def _lane(ax: Any, xs: list[float], width: float, statuses: list[Status], y: float, height: float) -> None:
    runs: dict[Status, list[tuple[float, float]]] = {True: [], False: [], None: []}
    start = 0
    for i in range(1, len(statuses) + 1):
        if i == len(statuses) or statuses[i] is not statuses[start]:
            # A status holds from its step until the next step.
            runs[statuses[start]].append((xs[start], xs[i - 1] + width - xs[start]))
            start = i
    for status, spans in runs.items():
        if spans:
            ax.broken_barh(spans, (y - height / 2, height), facecolors=COLOURS[status], linewidth=0,
                           antialiased=False)


def _finish(ax: Any, xs: list[float], width: float, title: str, marker: Any) -> None:
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
    from matplotlib.patches import Patch

    if xs:
        ax.set_xlim(xs[0], xs[-1] + width)
    locator = AutoDateLocator()  # type: ignore[no-untyped-call]
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))  # type: ignore[no-untyped-call]
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    ax.tick_params(axis="y", length=0)
    ax.set_title(title, loc="left", fontsize=11, pad=14)
    ax.legend(handles=[Patch(color=COLOURS[True], label="pass"), Patch(color=COLOURS[False], label="fail"),
                       Patch(color=COLOURS[None], label="unknown"), marker],
              loc="lower right", bbox_to_anchor=(1.0, 1.0), ncol=4, frameon=False, fontsize=9)


def render_compare(old: Timeline, new: Timeline, title: str, step_us: int,
                   labels: tuple[str, str] = ("old", "new")) -> Chart:
    """Two lanes per gate, the old version's above the new one's, each with a white tick at
    the step the gate first passed; `lanes` maps "gate label" to each lane's centre."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    gates = [*old.gates, *(g for g in new.gates if g not in old.gates)]
    lanes_in = 0.8 * max(len(gates), 1)
    height = lanes_in + 1.1
    fig = Figure(figsize=(11, height), dpi=100)
    ax = fig.add_axes((0.14, 0.5 / height, 0.84, lanes_in / height))
    xs = [_num(t) for t in old.instants]
    width = _num(old.instants[0] + step_us) - xs[0] if old.instants else 1.0
    lanes: dict[str, float] = {}
    sub = LANE_HEIGHT / 2  # each version's lane: half a plain timeline lane, side by side
    for i, g in enumerate(gates):
        centre = float(len(gates) - 1 - i)
        for (label, tl), y in zip(((labels[0], old), (labels[1], new)), (centre + sub / 2 + 0.02, centre - sub / 2 - 0.02),
                                  strict=True):
            lanes[f"{g} {label}"] = y
            statuses = tl.gates.get(g)
            if statuses is None:
                continue
            _lane(ax, xs, width, statuses, y, sub)
            first = next((k for k, s in enumerate(statuses) if s is True), None)
            if first is not None:
                ax.plot([xs[first]], [y], linestyle="none", marker="|", markersize=9, markeredgewidth=2,
                        color="white")
    ax.set_yticks(list(lanes.values()), list(lanes))
    ax.set_ylim(-0.6, len(gates) - 0.4)
    _finish(ax, xs, width, title, Line2D([], [], linestyle="none", marker="|", markeredgewidth=2, color="black",
                                         label="first pass"))
    return Chart(fig, ax, lanes)


def save(chart: Chart, path: str | Path) -> None:
    p = Path(path)
    fmt = p.suffix.lower().lstrip(".")
    if fmt not in ("png", "svg"):
        raise ValueError(f"--chart: {p.name!r} must end in .png or .svg")
    # No bbox_inches="tight": the saved image keeps the figure's geometry, so a date and a
    # lane map to a known pixel (the chart test relies on it).
    chart.figure.savefig(p, format=fmt, dpi=chart.figure.dpi)


def svg_bytes(chart: Chart) -> bytes:
    """The chart as an SVG document (what the approver page shows)."""
    buf = io.BytesIO()
    chart.figure.savefig(buf, format="svg", dpi=chart.figure.dpi)
    return buf.getvalue()
