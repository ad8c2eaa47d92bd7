"""`exitgate demo`: the README's first command.

Until the embedded Temporal stack lands, the demo shows the rule engine on the bundled sample
mission: evidence taken line by line (with its rejections), then every gate evaluated at the
sample's checkpoints, as a Rich tree.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

SAMPLE = Path(__file__).resolve().parent.parent / "samples" / "valdoria"


def register(app: typer.Typer) -> None:
    @app.command("demo")
    def demo() -> None:
        """Evaluate the bundled Valdoria sample mission at its checkpoints."""
        from rules.evaluate import evaluate
        from rules.evidence import read_jsonl
        from rules.plan import load_plan_file
        from rules.series import EvidenceIndex
        from schemas.timefmt import parse_timestamp

        from .render import out, print_rejections, print_tree

        plan = load_plan_file(SAMPLE / "plan.json")
        out.rule(f"[bold]exitgate demo[/bold]: {plan.model.mission.name}")
        out.print(f"plan {plan.id} sha256 {plan.sha256[:16]}..., {len(plan.phases)} phases, "
                  f"{len(plan.gates)} gates, {len(plan.benchmarks)} benchmarks")
        ledger, outcomes = read_jsonl((SAMPLE / "evidence.jsonl").read_text(), plan)
        print_rejections(outcomes, out)
        index = EvidenceIndex(ledger.records.values())
        for text in json.loads((SAMPLE / "checkpoints.json").read_text()):
            out.rule(f"as of {text}")
            print_tree(evaluate(plan, index, parse_timestamp(text)))
