"""The timeline as JSON (what `exitgate timeline --format json` prints and
`GET /v1/missions/{mission}/timeline` returns) and as CSV; the what-if of two plan versions
as JSON (`exitgate timeline --compare NEW --format json`, `GET .../timeline/compare`)."""

from __future__ import annotations

import csv
import io
from typing import Any

from rules.evaluate import STATUS
from rules.plan import LoadedPlan
from rules.timeline import Timeline
from rules.timeline_summary import GateSummary
from rules.whatif import WhatIf
from schemas.timefmt import format_timestamp

__all__ = ["to_csv", "to_json", "whatif_to_json"]


def to_json(tl: Timeline, summary: dict[str, GateSummary], head: dict[str, Any]) -> dict[str, Any]:
    def ts(us: int | None) -> str | None:
        return None if us is None else format_timestamp(us)

    return {
        **head,
        "steps": [{"as_of": format_timestamp(t), "gates": tl.at(i)} for i, t in enumerate(tl.instants)],
        "summary": {
            g: {"first_pass": ts(s.first_pass), "final": s.final, "pass_steps": s.pass_steps,
                "longest_blocking": None if s.blocking is None else {"benchmark": s.blocking, "steps": s.blocking_steps},
                "regressions": [{"from": ts(r.start), "until": ts(r.end), "fell_to": r.fell_to}
                                for r in s.regressions]}
            for g, s in summary.items()
        },
    }


def to_csv(tl: Timeline) -> str:
    """Long format: one row per gate and per benchmark per step (benchmark empty on gate rows)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["as_of", "gate", "benchmark", "status", "value", "points"])
    for i, t in enumerate(tl.instants):
        when = format_timestamp(t)
        for g, statuses in tl.gates.items():
            w.writerow([when, g, "", STATUS[statuses[i]], "", ""])
            for bid in tl.gate_benchmarks[g]:
                b = tl.benchmarks[bid]
                v = b.value[i]
                text = "" if v is None else ("true" if v is True else "false" if v is False else repr(v))
                w.writerow([when, g, bid, STATUS[b.status[i]], text, b.points[i]])
    return buf.getvalue()


def whatif_to_json(result: WhatIf, old: LoadedPlan, new: LoadedPlan, start_us: int, end_us: int,
                   step: str) -> dict[str, Any]:
    """Both versions (id, version, sha256) and, per gate, the comparison (rules.whatif)."""
    def head(p: LoadedPlan) -> dict[str, Any]:
        return {"plan": p.id, "version": p.model.version, "sha256": p.sha256}

    return {"old": head(old), "new": head(new), "mission": old.mission_id,
            "from": format_timestamp(start_us), "to": format_timestamp(end_us),
            "step": step, "gates": [g.to_json() for g in result.gates.values()]}
