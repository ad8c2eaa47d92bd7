"""The gate review workspace: what changed since the evaluation a person last signed, what
would open the gate, what goes stale before it can be decided, and which acts the person may
take now (the lifecycle's own checks, as `Service.gates_awaiting` uses them).

"Before" is the evaluation the person's newest vote signed (its audit entry gives the instant
and the waivers it was made with), recomputed from the store exactly as the dossier does;
"after" is the gate's current evaluation. Each benchmark that differs gets its cause: a plan
change, a waiver, a correction or withdrawal of a record it read, new data, or evidence ageing
(the same records, a different instant).
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import bindparam, text

from lifecycle import Refusal
from lifecycle import authority as au
from lifecycle import gate as lc
from rules.evaluate import Waiver
from schemas.timefmt import DAY, format_timestamp, parse_duration, parse_timestamp
from store import now_us
from store.queries import explain_gate

from .dossier import fold
from .errors import Caller, Refused
from .reads import Reads
from .register import resolve_act
from .views import GateView

__all__ = ["BenchmarkChange", "Changes", "Opener", "Review", "review"]

FOR = " for "  # the page's "deputy for bruno" choices (api/ui.py)
STALE_WARNING_US = 7 * DAY  # warn when evidence goes stale within this and the gate is undecided


@dataclass
class BenchmarkChange:
    benchmark: str
    before: dict[str, Any] | None  # value, points, status
    after: dict[str, Any] | None
    causes: list[str]


@dataclass
class Changes:
    since_digest: str
    origin: str  # signed (the person's newest vote) | viewed (the evaluation they last looked at)
    since_seq: int  # the vote's audit entry, or the viewed evaluation's
    since_as_of: str
    benchmarks: list[BenchmarkChange]
    arrived: list[str]
    corrected: list[tuple[str, str]]  # (old record, its correction)
    withdrawn: list[tuple[str, str]]
    plan_changed: bool
    waivers_changed: bool


@dataclass
class Opener:
    benchmark: str
    status: str
    needs: list[str]  # what would make it pass, in words


@dataclass
class Review:
    changes: Changes | None
    openers: list[Opener]
    stale_warnings: list[str]
    may_approve: list[str]  # roles under which the person may approve now
    may_reject: list[str]
    may_waive: list[str]
    cannot: dict[str, str]  # act -> why not
    signed: list[tuple[str, int]] = field(default_factory=list)  # (digest, seq) of the person's votes
    vote_seqs: dict[tuple[str, str], int] = field(default_factory=dict)  # (person, digest) -> audit entry
    whatif: PlanWhatIf | None = None


def _benchmarks(node: dict[str, Any]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    stack = [node]
    while stack:
        n = stack.pop()
        if n.get("node") == "benchmark":
            out[n["benchmark"]] = n
        stack.extend(n.get("children", ()))
    return out


def _brief(n: dict[str, Any] | None) -> dict[str, Any] | None:
    if n is None:
        return None
    return {"value": n.get("value"), "points": n.get("points"), "status": n.get("status"),
            "waived": bool(n.get("waived")), "evidence": list(n.get("evidence", ()))}


def openers(explanation: dict[str, Any], as_of: int) -> list[Opener]:
    """Per failing or unknown benchmark (not waived): the distance to its threshold, the points
    missing, or the report needed to make it fresh."""
    out = []
    for bid, n in sorted(_benchmarks(explanation).items()):
        if n.get("status") == "pass" or n.get("waived"):
            continue
        needs = []
        points, min_points = n.get("points") or 0, n.get("min_points") or 0
        if points < min_points:
            within = f" within {n['window']}" if n.get("window") else ""
            needs.append(f"{min_points - points} more point(s){within} (has {points}, needs {min_points})")
        if n.get("max_age") and n.get("newest_observed_at"):
            fresh_from = as_of - parse_duration(n["max_age"])
            if parse_timestamp(n["newest_observed_at"]) < fresh_from:
                needs.append(f"a report observed after {format_timestamp(fresh_from)} (newest is "
                             f"{n['newest_observed_at']}, max age {n['max_age']})")
        elif n.get("max_age") and points == 0:
            needs.append(f"a report within the max age {n['max_age']}")
        value, op, threshold = n.get("value"), n.get("op"), n.get("threshold")
        if isinstance(value, (int, float)) and not isinstance(value, bool) and n.get("status") == "fail":
            needs.append(_distance(float(value), str(op), threshold))
        elif n.get("status") == "fail" and value is not None:
            needs.append(f"the value to become {op} {threshold} (is {value})")
        out.append(Opener(bid, str(n.get("status")), needs or [str(n.get("reason", ""))]))
    return out


def _distance(value: float, op: str, threshold: Any) -> str:
    def num(x: float) -> str:
        return f"{x:g}"

    if op == "between" and isinstance(threshold, list):
        low, high = float(threshold[0]), float(threshold[1])
        gap = low - value if value < low else value - high
        return f"{num(gap)} {'up' if value < low else 'down'} to enter [{num(low)}, {num(high)}] (is {num(value)})"
    t = float(threshold)
    if op in ("<", "<="):
        return f"{num(value - t)} down to reach {op} {num(t)} (is {num(value)})"
    if op in (">", ">="):
        return f"{num(t - value)} up to reach {op} {num(t)} (is {num(value)})"
    return f"the value to become {op} {num(t)} (is {num(value)})"


def _corrections(reads: Reads, mission: str, ids: list[str]) -> list[tuple[str, str, Any]]:
    """(record, the record that corrects it, the correction's value) for stored corrections."""
    if not ids:
        return []
    q = text("SELECT supersedes, id, value FROM evidence WHERE mission = :m AND supersedes IN :ids"
             ).bindparams(bindparam("ids", expanding=True))
    with reads.store.read() as conn:
        return [(r[0], r[1], json.loads(r[2])) for r in conn.execute(q, {"m": mission, "ids": ids}).all()]


def changes_since(reads: Reads, view: GateView, person: str, digest: str | None = None,
                  viewed: str | None = None) -> tuple[Changes | None, dict[tuple[str, str], int]]:
    """Blocking. What changed since the later of the person's newest vote and the evaluation
    they last viewed (`viewed`, a digest), or since `digest`; and the audit entry of every vote
    on the gate, by (person, digest)."""
    plan_now = reads.store.plan_for_mission(view.mission)
    if plan_now is None or view.evaluation is None:
        return None, {}
    entries = reads.audit_of_gate(view.mission, view.gate, view.phase)
    cast = {(e.actor or "", str(e.payload.get("digest"))): e.seq for e in entries
            if e.kind in ("approval", "rejection")}
    votes = [e for e in entries if e.kind in ("approval", "rejection") and e.actor == person]

    def evaluation_of(d: str | None, before: int | None = None) -> Any:
        return next((e for e in reversed(entries) if e.kind == "evaluation" and e.payload.get("digest") == d
                     and (before is None or e.seq < before)), None)

    bases = []  # (the evaluation entry, "signed" | "viewed", the vote's seq or None)
    if digest is not None:
        vote = next((e for e in reversed(votes) if e.payload.get("digest") == digest), None)
        bases.append((evaluation_of(digest, vote.seq if vote else None), "signed" if vote else "viewed",
                      vote.seq if vote else None))
    else:
        if votes:
            bases.append((evaluation_of(votes[-1].payload.get("digest"), votes[-1].seq), "signed", votes[-1].seq))
        if viewed is not None:
            bases.append((evaluation_of(viewed), "viewed", None))
    bases = [b for b in bases if b[0] is not None]
    if not bases:
        return None, cast
    base, origin, vote_seq = max(bases, key=lambda b: b[0].seq)
    signed_digest = base.payload.get("digest")
    if signed_digest == view.evaluation.get("digest"):
        return None, cast
    evals = [base]
    at_eval = fold([e for e in entries if e.seq <= evals[-1].seq])
    before_plan = reads._plan(at_eval.plan_sha256) if at_eval.plan_sha256 else plan_now
    waivers = [Waiver(w["benchmark"], w["by"] or "", w["justification"] or "",
                      parse_timestamp(w["until"]) if w.get("until") else None) for w in at_eval.evaluation_waivers]
    as_of = str(evals[-1].payload["as_of"])
    before_ev, _ = explain_gate(reads.store, before_plan, view.gate, parse_timestamp(as_of), waivers)
    before, after = _benchmarks(before_ev["explanation"]), _benchmarks(view.evaluation["explanation"])
    before_ids = sorted({i for n in before.values() for i in n.get("evidence", ())})
    after_ids = {i for n in after.values() for i in n.get("evidence", ())}
    fixes = _corrections(reads, view.mission, before_ids)
    corrected = [(old, new) for old, new, value in fixes if value is not None]
    withdrawn = [(old, new) for old, new, value in fixes if value is None]
    correcting = {new for _, new, _ in fixes}
    arrived = sorted(after_ids - set(before_ids) - correcting)
    plan_changed = before_plan.sha256 != plan_now.sha256
    waived_before = {w.benchmark for w in waivers}
    waived_after = {w.benchmark for w in view.waivers}
    out = []
    for bid in sorted(set(before) | set(after)):
        b, a = _brief(before.get(bid)), _brief(after.get(bid))
        same = b is not None and a is not None and all(b[k] == a[k] for k in ("value", "points", "status", "waived"))
        if same and b is not None and a is not None and b["evidence"] == a["evidence"]:
            continue
        causes = []
        if plan_changed and (b is None or a is None or before_plan.benchmarks.get(bid) != plan_now.benchmarks.get(bid)):
            causes.append("plan change")
        if (bid in waived_before) != (bid in waived_after):
            causes.append("waiver")
        b_ids = set(b["evidence"]) if b else set()
        a_ids = set(a["evidence"]) if a else set()
        if any(old in b_ids for old, _ in corrected):
            causes.append("correction")
        if any(old in b_ids for old, _ in withdrawn):
            causes.append("withdrawal")
        if (a_ids - b_ids) - correcting:
            causes.append("new data")
        if not causes:
            causes.append("evidence ageing")
        out.append(BenchmarkChange(bid, b, a, causes))
    return Changes(since_digest=str(signed_digest), origin=origin, since_seq=vote_seq or base.seq,
                   since_as_of=as_of, benchmarks=out,
                   arrived=arrived, corrected=corrected, withdrawn=withdrawn, plan_changed=plan_changed,
                   waivers_changed=waived_before != waived_after), cast


def stale_warnings(view: GateView, now: int) -> list[str]:
    """Benchmarks whose evidence goes stale soon while the gate is undecided."""
    if view.evaluation is None or view.state == "approved":
        return []
    out = []
    for bid, n in sorted(_benchmarks(view.evaluation["explanation"]).items()):
        if not n.get("max_age") or not n.get("newest_observed_at"):
            continue
        stale_at = parse_timestamp(n["newest_observed_at"]) + parse_duration(n["max_age"])
        if now < stale_at <= now + STALE_WARNING_US:
            missing = max(view.quorum - len(view.approvals), 0)
            out.append(f"{bid} goes stale at {format_timestamp(stale_at)} (newest point {n['newest_observed_at']}, "
                       f"max age {n['max_age']}), with {missing} approval(s) still needed")
    return out


async def review(reads: Reads, view: GateView, caller: Caller, since: str | None = None,
                 viewed: str | None = None, votes_as: list[str] | None = None,
                 waives_as: list[str] | None = None) -> Review:
    """`votes_as`, `waives_as`: the page's "as" choices from the register ("deputy", or
    "deputy for bruno" under a delegation); each is offered only if the lifecycle lets it through."""
    now = now_us()
    changes, cast = await asyncio.to_thread(changes_since, reads, view, caller.name, since, viewed)
    signed = sorted(((d, seq) for (who, d), seq in cast.items() if who == caller.name), key=lambda x: x[1])
    opens = openers(view.evaluation["explanation"], parse_timestamp(view.evaluation["as_of"])) \
        if view.evaluation and view.evaluation.get("as_of") else []
    _, ctx = await reads.gate_context(view.mission, view.gate)
    reg = await reads.service.roles.current(view.mission)
    digest = view.evaluation["digest"] if view.evaluation else ""
    cannot: dict[str, str] = {}

    def allowed(choices: list[str], act: str, kind: au.ActKind, roles: list[str], check: Any) -> list[str]:
        """The choices under which the lifecycle lets the act through now, with the act resolved
        as the service resolves it (service.register.resolve_act)."""
        ok, why = [], []
        for choice in choices:
            role, _, principal = choice.partition(FOR)
            try:
                check(resolve_act(caller, role, reg, kind=kind, gate=view.gate, on_behalf_of=principal or None))
            except Refusal as exc:
                why.append(exc.message)
            except Refused as exc:
                why.append(exc.message)
            else:
                ok.append(choice)
        if not ok:
            cannot[act] = why[0] if why else (
                f"{caller.name} holds none of the roles that may {act} here ({', '.join(roles)}), "
                "nor acts for anyone who does" if roles else f"this gate names no role that may {act}")
        return ok

    approve = allowed(votes_as or [], "approve", "vote", list(view.roles),
                      lambda a: lc.check_vote(ctx, a, digest, approving=True))
    reject = allowed(votes_as or [], "reject", "vote", list(view.roles),
                     lambda a: lc.check_vote(ctx, a, digest, approving=False))
    benchmarks = list(_benchmarks(view.evaluation["explanation"])) if view.evaluation else []
    waive = allowed(waives_as or [], "waive", "waive", list(view.waiver_roles),
                    lambda a: lc.check_waive(ctx, a, benchmarks[0], None, now)) if benchmarks else []
    whatif = await asyncio.to_thread(plan_whatif, reads, view.mission, view.gate)
    return Review(changes, opens, stale_warnings(view, now), approve, reject, waive, cannot, signed, cast, whatif)


@dataclass
class PlanWhatIf:
    """The gate's history replayed under a newer loaded plan beside the running one."""

    new_sha256: str
    new_version: str | None
    start: int
    end: int
    step: str
    comparison: dict[str, Any]  # rules.whatif.GateComparison.to_json()


DAY_STEPS = 400


def plan_whatif(reads: Reads, mission: str, gate: str) -> PlanWhatIf | None:
    """When a plan newer than the mission's is loaded: this gate under both, from the mission's
    first observation to now (daily steps, or weekly beyond DAY_STEPS days). Blocking."""
    from rules.timeline import timeline
    from rules.whatif import compare_timelines
    from schemas.timefmt import WEEK

    current = reads.store.plan_for_mission(mission)
    if current is None:
        return None
    plans = reads.plans_of(mission)
    created = next((c for s, _, c in plans if s == current.sha256), None)
    newer = [p for p in plans if p[0] != current.sha256 and created is not None and p[2] > created]
    if not newer:
        return None
    sha, version, _ = newer[-1]
    new_plan = reads._plan(sha)
    index = reads.store.evidence_index(mission)
    now = now_us()
    firsts = [int(s.obs[0]) for s in index.series.values() if len(s.obs)]
    start = min(min(firsts, default=now - 30 * DAY), now)
    step_us, step = (DAY, "P1D") if now - start <= DAY_STEPS * DAY else (WEEK, "P1W")
    start = now - ((now - start) // step_us) * step_us
    old = timeline(current, index, start, now, step_us, gates=[gate] if gate in current.gates else [])
    new = timeline(new_plan, index, start, now, step_us, gates=[gate] if gate in new_plan.gates else [])
    cmp = compare_timelines(old, new).get(gate)
    if cmp is None:
        return None
    return PlanWhatIf(sha, version, start, now, step, cmp.to_json())
