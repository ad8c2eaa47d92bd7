"""The rehearsal chart: one lane per gate, a cell per checkpoint coloured by the gate's state
(approved green, awaiting approval amber, collecting red, not started grey), with the number
of counted approvals written in it. matplotlib on its Agg backend; PNG or SVG by suffix."""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["STATE_COLOURS", "save_chart"]

STATE_COLOURS = {"approved": "#2e7d32", "awaiting_approval": "#f9a825", "collecting": "#c62828",
                 "not_started": "#bdbdbd"}


def save_chart(transcript: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    cps = transcript["checkpoints"]
    gates = list(cps[-1]["gates"]) if cps else []
    fig, ax = plt.subplots(figsize=(max(6.0, 1.1 * len(cps) + 2), 0.5 * len(gates) + 1.5))
    for x, cp in enumerate(cps):
        for y, gid in enumerate(gates):
            g = cp["gates"].get(gid)
            state = g["state"] if g else "not_started"
            ax.add_patch(Rectangle((x, y), 0.95, 0.8, color=STATE_COLOURS.get(state, "#9e9e9e")))
            if g and g["approvals"]:
                ax.text(x + 0.47, y + 0.4, str(len(g["approvals"])), ha="center", va="center", fontsize=8)
    ax.set_xlim(0, len(cps))
    ax.set_ylim(0, len(gates))
    ax.set_xticks([x + 0.47 for x in range(len(cps))], [cp["at"][:10] for cp in cps], rotation=45, ha="right",
                  fontsize=8)
    ax.set_yticks([y + 0.4 for y in range(len(gates))], gates, fontsize=8)
    ax.set_title(f"rehearsal {transcript['scenario']}", fontsize=10)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
