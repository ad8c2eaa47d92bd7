"""The demo's story on the embedded stack: a real Temporal dev server, a worker, the store.

The bundled Valdoria evidence (two and a half years, with its mistakes) is shifted so that it
ends an hour ago, then arrives month by month as live updates, as the mission's systems would
have sent it. Each gate is evaluated as of now, so the live view shows the readiness picture
filling in; the phase workflows re-evaluate on every `evidence_changed` signal. Every role
comes from the mission's role register: an operator names the first coordinator, who grants the
rest. Then demo approvers sign each gate, phase by phase; one signs for an absent colleague by
delegation, and two refused approvals are shown with their reasons (the starter's, and one
whose role has ended). The demo ends with the audit chain verified.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Group
from rich.live import Live
from rich.panel import Panel
from rich.table import Table

from rules.plan import LoadedPlan, load_plan_file
from schemas.timefmt import DAY, format_timestamp, parse_timestamp
from service import Caller, GateView, MissionView, Refused, Service
from store import Store, now_us
from store.queries import evaluate_from_store

from .render import COLOURS, MARKS, out, state_label

COORDINATOR = ("amara", "srsg")  # the SRSG starts the exit, so she may not decide its gates
APPROVERS = {  # one demo person per role
    "dsrsg_rc": "bruno", "gov_focal_point": "chen", "police_commissioner": "dana", "force_commander": "emeka",
}
ROTATED = ("farid", "police_commissioner")  # granted, then rotated out: his approval is refused
DEPUTY = "gita"  # signs for bruno (dsrsg_rc) on the first gate he would sign, by delegation


@dataclass
class Story:
    plan: LoadedPlan
    svc: Service
    events: list[str] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    month: str = ""
    now_rules: dict[str, str] = field(default_factory=dict)
    status: MissionView | None = None
    live: Live | None = None

    def say(self, text: str, keep: bool = False) -> None:
        """Into the live panel; `keep` also prints it above the view so it stays in the scrollback."""
        self.events.append(text)
        del self.events[:-9]
        if keep and self.live is not None:
            self.live.console.print(text, soft_wrap=True)


def shifted_evidence(path: Path, end: int) -> list[tuple[str, dict[str, Any] | str]]:
    """(month, raw line) in the order the records were reported, every timestamp moved by the
    same amount so the newest report is at `end`. Lines that are not JSON objects, or carry
    unreadable times, stay as they are: the store rejects them as it would have then."""
    lines = [ln for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]
    parsed: list[tuple[int, dict[str, Any] | str]] = []
    last = 0
    for ln in lines:
        try:
            raw = json.loads(ln)
            key = parse_timestamp(raw.get("reported_at") or raw["observed_at"])
        except (ValueError, KeyError, TypeError, AttributeError):
            parsed.append((last, ln))
            continue
        last = max(last, key)
        parsed.append((key, raw))
    newest = max(k for k, _ in parsed)
    delta = (end - newest) // 1_000_000 * 1_000_000
    out_: list[tuple[str, dict[str, Any] | str]] = []
    for key, raw in sorted(parsed, key=lambda kr: kr[0]):
        if isinstance(raw, dict):
            for f in ("observed_at", "reported_at"):
                with contextlib.suppress(ValueError, KeyError, TypeError):
                    raw[f] = format_timestamp(parse_timestamp(raw[f]) + delta)
        out_.append((format_timestamp(key)[:7], raw))
    return out_


def _light(status: str | None) -> str:
    if status is None:
        return "[dim]-[/dim]"
    colour = COLOURS.get(status, "white")
    return f"[{colour}]{MARKS.get(status, '?')} {status}[/{colour}]"


def view(story: Story) -> Group:
    table = Table(title=f"{story.plan.model.mission.name}", title_justify="left", expand=True)
    for col in ("phase", "gate", "rules as of now", "workflow state", "approvals", "digest"):
        table.add_column(col)
    st = story.status
    for ph in st.phases if st else []:
        for g in ph.gates:
            ev = g.evaluation or {}
            table.add_row(f"{ph.phase} [dim]{ph.state}[/dim]", f"{g.gate} {g.name}",
                          _light(story.now_rules.get(g.gate)), state_label(g.state),
                          f"{len(g.approvals)}/{g.quorum}", (ev.get("digest") or "")[:12])
    c = story.counts
    feed = (f"evidence month {story.month or '-'}: {c['stored']} stored, {c['duplicate']} duplicate, "
            f"{c['rejected']} rejected")
    return Group(table, Panel("\n".join(story.events) or " ", title=feed, title_align="left"))


async def refresh(story: Story, live: Live) -> None:
    story.status = await story.svc.status(story.plan.mission_id)
    now = now_us()
    result = await asyncio.to_thread(evaluate_from_store, story.plan.mission_id, [now], story.svc.store)
    story.now_rules = {g["gate"]: g["status"] for g in result[0]["gates"]}
    live.update(view(story))


async def wait_for(story: Story, live: Live, pred: Any, what: str, timeout_s: float = 90.0) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        await refresh(story, live)
        if pred(story.status):
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"the demo waited {timeout_s:.0f} s for {what}")
        await asyncio.sleep(0.25)


async def approve_gate(story: Story, live: Live, gate: GateView, refusals_left: list[str]) -> None:
    mission = story.plan.mission_id
    assert gate.evaluation is not None
    digest = gate.evaluation["digest"]
    roles = [r for r in gate.roles if r in APPROVERS][:gate.quorum]
    tries = []
    if "separation" in refusals_left:
        refusals_left.remove("separation")
        tries.append(COORDINATOR)
    if "ended" in refusals_left and ROTATED[1] in roles:
        refusals_left.remove("ended")
        tries.append(ROTATED)
    for person, role in tries:
        try:
            await story.svc.approve(mission, gate.gate, Caller(person), role, digest)
        except Refused as exc:  # the service audits it
            story.counts["refused"] += 1
            story.say(f"[red]refused[/red] {person} ({role}) approving {gate.gate}: {exc.message}", keep=True)
    for role in roles:
        person, principal = APPROVERS[role], None
        if "delegation" in refusals_left and role == "dsrsg_rc":
            refusals_left.remove("delegation")
            person, principal = DEPUTY, APPROVERS[role]
        view_ = await story.svc.approve(mission, gate.gate, Caller(person), role, digest, "reviewed in the demo",
                                        on_behalf_of=principal)
        story.counts["approvals"] += 1
        who = f"{person} for {principal}" if principal else person
        story.say(f"[green]approved[/green] {gate.gate} by {who} ({role}) on digest {digest[:12]}"
                  + (" [bold green]-> gate approved[/bold green]" if view_.state == "approved" else ""), keep=bool(principal))
        await refresh(story, live)
        await asyncio.sleep(0.2)


async def run(sample: Path, svc: Service, pace_s: float) -> Story:
    plan = load_plan_file(sample / "plan.json")
    story = Story(plan, svc)
    mission = plan.mission_id
    person, _role = COORDINATOR
    # The operator (store access, no role) names the first coordinator; she loads the plan.
    await svc.roles.grant(mission, Caller("operator", operator=True), None, person, "coordinator",
                          reason="the mission's first coordinator")
    loaded = await svc.load_plan(plan, Caller(person))
    out.print(f"plan {loaded.plan} loaded, sha256 {loaded.sha256[:16]}…")
    await grant_roles(svc, plan)
    out.print(f"role register: {person} named coordinator by the operator; she granted "
              + ", ".join(f"{p} {r}" for r, p in APPROVERS.items())
              + f"; {ROTATED[0]} ({ROTATED[1]}) rotated out; {APPROVERS['dsrsg_rc']} delegated dsrsg_rc to {DEPUTY}")
    await svc.start_mission(mission, Caller(person), "coordinator")
    out.print(f"mission {mission} started by {person} (coordinator); phase p1 is running")
    feed = shifted_evidence(sample / "evidence.jsonl", now_us() - 3600 * 1_000_000)
    months: dict[str, list[Any]] = {}
    for month, raw in feed:
        months.setdefault(month, []).append(raw)
    span_days = (now_us() - parse_timestamp(next(r for _, r in feed if isinstance(r, dict))["observed_at"])) // DAY
    out.print(f"{len(feed)} evidence lines over {span_days} days (shifted to end an hour ago) arrive month by month")
    with Live(view(story), console=out, refresh_per_second=8) as live:
        story.live = live
        for n, (month, raws) in enumerate(months.items(), 1):
            story.month = f"{n}/{len(months)} (reported {month})"
            outcomes = await svc.ingest(mission, [r if isinstance(r, dict) else _unparsed(r) for r in raws],
                                                 actor="system:demo-feed")
            for o in outcomes:
                story.counts[o.status] += 1
                if o.status == "rejected":
                    story.say(f"[red]rejected[/red] {o.message}", keep=True)
            await refresh(story, live)
            await asyncio.sleep(pace_s)
        story.say("all evidence in; approvers review the gates that await them")
        refusals = ["separation", "ended", "delegation"]
        for ph in plan.model.phases:
            await wait_for(story, live, lambda s, p=ph.id: _phase(s, p).state in ("running", "complete")
                           and all(g.evaluation is not None for g in _phase(s, p).gates), f"phase {ph.id} to start")
            for g in ph.gates:
                await wait_for(story, live, lambda s, gid=g.id: _gate(s, gid).state in ("awaiting_approval", "approved"),
                               f"gate {g.id} to await approval")
                gv = _gate(story.status, g.id)
                if gv.state == "awaiting_approval":
                    await approve_gate(story, live, gv, refusals)
            await wait_for(story, live, lambda s, p=ph.id: _phase(s, p).state == "complete", f"phase {ph.id} to complete")
            story.say(f"[bold]phase {ph.id} complete[/bold]", keep=True)
        await refresh(story, live)
    return story


async def grant_roles(svc: Service, plan: LoadedPlan) -> None:
    """The register the story runs on, made by its coordinator as a deployment would (each change
    audited)."""
    mission = plan.mission_id
    amara = Caller(COORDINATOR[0])
    for role, person in [("srsg", amara.name), *APPROVERS.items(), (ROTATED[1], ROTATED[0])]:
        await svc.roles.grant(mission, amara, "coordinator", person, role, reason="demo roster")
    await svc.roles.end_role(mission, amara, "coordinator", *ROTATED, reason="rotated out")
    await svc.roles.delegate(mission, Caller(APPROVERS["dsrsg_rc"]), "dsrsg_rc", DEPUTY,
                             until_us=now_us() + 7 * DAY, reason="on leave during the review")


def _unparsed(line: str) -> Any:
    try:
        return json.loads(line)
    except ValueError:
        return line  # the store rejects it, naming why


def _phase(st: MissionView | None, pid: str) -> Any:
    assert st is not None
    return next(p for p in st.phases if p.phase == pid)


def _gate(st: MissionView | None, gid: str) -> GateView:
    assert st is not None
    return next(g for p in st.phases for g in p.gates if g.gate == gid)


def summary(story: Story, store: Store, started: float) -> bool:
    verify = store.audit_verify()
    kinds = Counter(e.kind for e in store.audit_entries())
    out.print()
    table = Table(title="summary", title_justify="left", show_header=False)
    table.add_column("")
    table.add_column("")
    st = story.status
    done = st is not None and all(p.state == "complete" for p in st.phases)
    table.add_row("mission", f"{story.plan.mission_id}: {'[green]exit complete[/green]' if done else '[red]not complete[/red]'}")
    table.add_row("evidence", f"{story.counts['stored']} stored, {story.counts['duplicate']} duplicate, "
                              f"{story.counts['rejected']} rejected")
    table.add_row("approvals", f"{story.counts['approvals']} given, {story.counts['refused']} refused")
    table.add_row("evaluations", str(kinds["evaluation"]))
    table.add_row("audit log", f"{verify.entries} entries, " + (
        "[green]hash chain verified[/green]" if verify.ok else f"[red]BROKEN at entry {verify.first_bad}: {verify.reason}[/red]"))
    table.add_row("time", f"{time.monotonic() - started:.1f} s")
    out.print(table)
    return done and verify.ok
