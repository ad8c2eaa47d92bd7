"""The chart itself: read the PNG back and check one lane per gate and, at known dates, that
each lane's colour is its gate's status."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from matplotlib.image import imread

from reports.timeline_chart import COLOURS, REGRESSION, _num, render, save
from rules.plan import LoadedPlan
from rules.series import EvidenceIndex
from rules.timeline import timeline
from rules.timeline_summary import summarize
from schemas.timefmt import DAY, parse_timestamp


def _rgb(hex_colour: str) -> np.ndarray:
    return np.array([int(hex_colour[i:i + 2], 16) / 255 for i in (1, 3, 5)])


def test_png_lanes_and_colours_match_statuses(valdoria: tuple[LoadedPlan, EvidenceIndex], tmp_path: Path) -> None:
    plan, index = valdoria
    tl = timeline(plan, index, parse_timestamp("2023-01-01T00:00:00Z"), parse_timestamp("2025-08-01T00:00:00Z"), DAY)
    summary = summarize(tl)
    chart = render(tl, summary, "valdoria", DAY)
    path = tmp_path / "chart.png"
    save(chart, path)
    img = imread(path)[:, :, :3]
    height, width = img.shape[:2]
    assert (width, height) == tuple(round(v) for v in chart.figure.get_size_inches() * chart.figure.dpi)
    to_px = chart.axes.transData.transform

    def pixel(x: float, y: float) -> np.ndarray:
        px, py = to_px((x, y))
        return np.asarray(img[round(height - py), round(px)])

    # One lane per gate: down one column of the plot, the runs of lane colours are the lanes.
    quiet = next(i for i in range(len(tl.instants) // 2, len(tl.instants))
                 if all(tl.gates[g][j] is tl.gates[g][i] for g in tl.gates for j in range(i - 3, i + 4)))
    column_x = round(to_px((_num(tl.instants[quiet]) + 0.5, 0))[0])
    lane_colours = [_rgb(c) for c in COLOURS.values()]
    is_lane = [any(np.abs(img[row, column_x] - c).max() < 0.02 for c in lane_colours) for row in range(height)]
    bands = sum(1 for row in range(1, height) if is_lane[row] and not is_lane[row - 1])
    assert bands == len(plan.gates) == len(chart.lanes)

    # Colours along each lane at dates well inside a run of one status.
    checked = {True: 0, False: 0, None: 0}
    for g, statuses in tl.gates.items():
        for i in range(3, len(statuses) - 3, 7):
            if any(statuses[j] is not statuses[i] for j in range(i - 3, i + 4)):
                continue
            got = pixel(_num(tl.instants[i]) + 0.5, chart.lanes[g])
            assert np.abs(got - _rgb(COLOURS[statuses[i]])).max() < 0.02, (g, tl.instants[i], statuses[i], got)
            checked[statuses[i]] += 1
    assert all(n > 10 for n in checked.values()), checked

    # Every regression has its marker just above its lane.
    for g, s in summary.items():
        for r in s.regressions:
            got = pixel(_num(r.start), chart.lanes[g] + 0.42)
            assert np.abs(got - _rgb(REGRESSION)).max() < 0.25, (g, r)


def test_svg_is_written_and_other_suffixes_refused(valdoria: tuple[LoadedPlan, EvidenceIndex], tmp_path: Path) -> None:
    plan, index = valdoria
    t = parse_timestamp("2024-01-01T00:00:00Z")
    tl = timeline(plan, index, t, t + 30 * DAY, DAY)
    chart = render(tl, summarize(tl), "valdoria", DAY)
    save(chart, tmp_path / "c.svg")
    assert (tmp_path / "c.svg").read_text().lstrip().startswith("<?xml")
    with pytest.raises(ValueError, match=r"must end in \.png or \.svg"):
        save(chart, tmp_path / "c.jpg")
