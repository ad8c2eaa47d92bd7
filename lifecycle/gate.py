"""The gate lifecycle of CONTRACT section 4, once: who may act, and what each act and each
evaluation does to a gate.

Plain, deterministic Python over the workflow's own state models (`GateSpec`, `GateState`):
no I/O, no clock (every function is told `now`, in microseconds), no Temporal. The phase
workflow drives it (its validators call the checks, its handlers the transitions); the service
calls the same checks for gates that have no running workflow to ask (a phase not started or
complete), so a refusal is the same wherever it comes from; unit tests run it directly.

Checks raise `Refusal` (or `InvalidInput`) and change nothing. Transitions mutate the
`GateState` they are given and return the audit events they caused, in order, for the caller
to record: `(kind, actor, payload)`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from schemas.messages import ApprovalRecord, GateSpec, GateState, GateStateName, WaiverInfo
from schemas.timefmt import format_timestamp, parse_timestamp

from .refusals import InvalidInput, Refusal

__all__ = [
    "Act",
    "Event",
    "GateContext",
    "PhaseState",
    "apply_evaluation",
    "approve",
    "check_coordinator",
    "check_revoke",
    "check_vote",
    "check_waive",
    "check_withdraw",
    "counted_vote",
    "due_notifications",
    "evaluation_expired",
    "expire_approvals",
    "expire_waivers",
    "migrate",
    "next_deadline",
    "principal_of",
    "quorum_met",
    "reject",
    "resume_episodes",
    "revoke_waiver",
    "start_episode",
    "vote_to_withdraw",
    "waive",
    "withdraw",
]

Event = tuple[str, str, dict[str, Any]]
PhaseState = Literal["not_started", "running", "paused", "complete"]


@dataclass(frozen=True)
class Act:
    """Who acts, under which role. `held` is the set of roles the acting person holds at this
    instant, where the caller knows it (None: the caller vouches for the role); with a role
    register, lifecycle.authority.resolve makes the Act. `principal`: the person a delegate acts
    for (None: the person themself); `why` says why the role is not held, when it is not."""

    person: str
    role: str
    held: frozenset[str] | None = None
    principal: str | None = None
    why: str | None = None

    @property
    def whose(self) -> str:
        """Whose vote this is: the principal's, for quorum and "already voted"."""
        return self.principal or self.person


@dataclass(frozen=True)
class GateContext:
    """A gate as the checks see it: its spec, its state (None before its phase starts), and
    what the phase knows about who started and reopened it."""

    spec: GateSpec
    state: GateState | None
    phase: PhaseState
    started_by: str
    reopened_by: str | None = None
    # The principals the starter and the reopener acted for, if they acted as delegates.
    started_for: str | None = None
    reopened_for: str | None = None


# --- checks (refusal order: CONTRACT section 4, "Refusal order") ---


def _authority(gid: str, act: Act, allowed: list[str], what: str) -> None:
    if act.role not in allowed:
        raise Refusal("RoleNotAllowed", f"gate {gid!r}: role {act.role!r} may not {what}; allowed roles: "
                      + ", ".join(allowed))
    _held(act)


def _held(act: Act) -> None:
    if act.held is not None and act.role not in act.held:
        raise Refusal("RoleNotHeld", act.why or f"{act.person} does not hold role {act.role!r}")


def check_coordinator(coordinator_roles: list[str], act: Act) -> None:
    """Who may start, reopen or migrate a mission's exit: a person holding a coordinator role."""
    if act.role not in coordinator_roles:
        raise Refusal("RoleNotAllowed", f"role {act.role!r} is not a coordinator role ("
                      + ", ".join(coordinator_roles) + ")")
    _held(act)


def _separation(gid: str, ctx: GateContext, act: Act) -> None:
    """Neither the person acting nor the principal they act for started the exit or reopened
    the phase (nor was the principal the starter or reopener stood in for)."""
    people = [act.person] + ([act.principal] if act.principal else [])
    started = {ctx.started_by} | ({ctx.started_for} if ctx.started_for else set())
    reopened = {ctx.reopened_by, ctx.reopened_for} - {None}
    for person in people:
        as_whom = "" if person == act.person else f" (for whom {act.person} acts)"
        if person in started:
            via = f" through {ctx.started_by}, their delegate," if person != ctx.started_by else ""
            raise Refusal("SeparationOfDuties", f"gate {gid!r}: {person}{as_whom} started the mission's exit{via} "
                          "and may not decide its gates")
        if person in reopened:
            via = f" through {ctx.reopened_by}, their delegate," if person != ctx.reopened_by else ""
            raise Refusal("SeparationOfDuties", f"gate {gid!r}: {person}{as_whom} reopened this phase{via} and may "
                          "not decide its gates")


def _started(gid: str, ctx: GateContext) -> GateState:
    if ctx.state is None or ctx.phase == "not_started":
        raise Refusal("PhaseNotStarted", f"gate {gid!r}: its phase has not started")
    return ctx.state


def _open_for_votes(gid: str, ctx: GateContext) -> GateState:
    """Votes and withdrawals alike: a started, running phase, the gate awaiting approval."""
    st = _started(gid, ctx)
    if ctx.phase == "paused":
        raise Refusal("PhasePaused", f"gate {gid!r}: the phase is paused until the phase it depends on "
                      "completes again")
    if st.state != "awaiting_approval":
        raise Refusal("NotAwaitingApproval", f"gate {gid!r} is {st.state}, not awaiting approval")
    return st


def check_vote(ctx: GateContext, act: Act, digest: str, *, approving: bool,
               evidence_position: int | None = None) -> None:
    """What an approval (approving=True) or a rejection must pass. `evidence_position`: how far
    the caller saw the store for this gate's indicators; a vote on an evaluation that read less
    would sign a decision that ignores evidence already stored."""
    gid = ctx.spec.id
    _authority(gid, act, ctx.spec.approval.roles, "decide")
    _separation(gid, ctx, act)
    st = _open_for_votes(gid, ctx)
    voted = counted_vote(st, act.whose)
    if voted is not None:
        did = "approved" if voted[0] == "approval" else "rejected"
        by = "" if voted[1].person == act.whose else f" (through {voted[1].person})"
        raise Refusal("AlreadyVoted", f"gate {gid!r}: {act.whose} has already {did} it{by}; withdraw first")
    if approving and ctx.spec.approval.distinct_roles and any(a.role == act.role for a in st.approvals):
        raise Refusal("RoleAlreadyCounted", f"gate {gid!r}: an approval under role {act.role!r} is already "
                      "counted and this gate needs distinct roles")
    if digest != st.digest:
        raise Refusal("StaleDigest", f"gate {gid!r}: digest {digest} is not the current evaluation {st.digest}")
    if evidence_position is not None and st.evidence_position is not None and st.evidence_position < evidence_position:
        raise Refusal("StaleDigest", f"gate {gid!r}: evidence was stored after its evaluation (store position "
                      f"{evidence_position}, evaluated at {st.evidence_position}); it is being re-evaluated: "
                      "sign the new digest")


def principal_of(v: ApprovalRecord) -> str:
    """Whose vote it is: the principal a delegate cast it for, else its signer."""
    return v.principal or v.person


def _votes(st: GateState) -> list[tuple[str, ApprovalRecord]]:
    return [("approval", v) for v in st.approvals] + [("rejection", v) for v in st.rejections]


def counted_vote(st: GateState, principal: str) -> tuple[str, ApprovalRecord] | None:
    """The principal's counted vote on the gate, if any: ("approval" | "rejection", the vote)."""
    return next(((k, v) for k, v in _votes(st) if principal_of(v) == principal), None)


def vote_to_withdraw(st: GateState | None, person: str, on_behalf_of: str | None = None
                     ) -> tuple[str, ApprovalRecord] | None:
    """The vote a withdrawal by `person` takes back (CONTRACT section 5): the principal's own
    vote (whoever cast it) or one the person cast for `on_behalf_of`; without it, the person's
    own vote if any, else the first they cast for a principal."""
    if st is None:
        return None
    votes = _votes(st)
    if on_behalf_of is not None:
        return next(((k, v) for k, v in votes if principal_of(v) == on_behalf_of
                     and (on_behalf_of == person or v.person == person)), None)
    return counted_vote(st, person) or next(((k, v) for k, v in votes if v.person == person), None)


def check_withdraw(ctx: GateContext, person: str, held: frozenset[str] | None,
                   on_behalf_of: str | None = None, why: str | None = None) -> None:
    """NoCountedVote first; then the vote's own role must be held (for the vote's principal:
    `held` is what the caller resolved for that role), and the gate open."""
    gid = ctx.spec.id
    vote = vote_to_withdraw(ctx.state, person, on_behalf_of)
    if vote is None:
        whose = "" if on_behalf_of in (None, person) else f" for {on_behalf_of}"
        raise Refusal("NoCountedVote", f"gate {gid!r}: {person} has no counted vote{whose} to withdraw")
    role = vote[1].role
    if held is not None and role not in held:
        raise Refusal("RoleNotHeld", why or f"{person} does not hold role {role!r}, under which the vote was given")
    _open_for_votes(gid, ctx)


def _waiver_target(ctx: GateContext, act: Act, benchmark: str) -> GateState:
    gid, spec = ctx.spec.id, ctx.spec
    if not spec.approval.waiver_roles:
        raise Refusal("RoleNotAllowed", f"gate {gid!r} has no waiver roles: nothing in it can be waived")
    _authority(gid, act, spec.approval.waiver_roles, "waive")
    if benchmark not in spec.benchmarks:
        raise Refusal("UnknownBenchmark", f"gate {gid!r} has no benchmark {benchmark!r}")
    st = _started(gid, ctx)
    if st.state == "approved":
        raise Refusal("GateDecided", f"gate {gid!r} is already approved")
    return st


def check_waive(ctx: GateContext, act: Act, benchmark: str, until: str | None, now: int) -> None:
    if until is not None and parse_timestamp(until) <= now:
        raise InvalidInput("until", f"{until} is not in the future")
    st = _waiver_target(ctx, act, benchmark)
    if benchmark not in ctx.spec.waivable:
        raise Refusal("NotWaivable", f"benchmark {benchmark!r} is under a `not` and cannot be waived")
    if any(w.benchmark == benchmark for w in st.waivers):
        raise Refusal("AlreadyWaived", f"benchmark {benchmark!r} is already waived; revoke that waiver first")


def check_revoke(ctx: GateContext, act: Act, benchmark: str) -> None:
    st = _waiver_target(ctx, act, benchmark)
    if not any(w.benchmark == benchmark for w in st.waivers):
        raise Refusal("NoActiveWaiver", f"gate {ctx.spec.id!r}: benchmark {benchmark!r} is not waived")


# --- transitions ---


def quorum_met(spec: GateSpec, approvals: list[ApprovalRecord]) -> bool:
    people = {principal_of(a) for a in approvals}
    roles = {a.role for a in approvals}
    return len(people) >= spec.approval.quorum and set(spec.approval.required_roles) <= roles


def start_episode(st: GateState, now: int) -> None:
    """A new `awaiting_approval` episode: its timers and reminder count start afresh."""
    st.awaiting_since_us, st.reminders_sent, st.escalated = now, 0, False


def resume_episodes(states: Iterable[GateState], now: int) -> list[str]:
    """On resume of a paused phase every gate awaiting approval starts a new awaiting episode
    (CONTRACT section 4): a pause is not time anyone could have acted in, so the reminders and
    the escalation count from the resume, not from before the pause. Returns those gates."""
    resumed = []
    for st in states:
        if st.state == "awaiting_approval":
            start_episode(st, now)
            resumed.append(st.gate)
    return resumed


def _transition(st: GateState, to: GateStateName, reason: str, now: int, actor: str = "system") -> Event:
    event: Event = ("gate_transition", actor, {"gate": st.gate, "from": st.state, "to": to,
                                               "reason": reason, "digest": st.digest})
    st.state = to
    if to == "awaiting_approval":
        start_episode(st, now)
    else:
        st.awaiting_since_us = None
    return event


def _vote_doc(v: ApprovalRecord) -> dict[str, Any]:
    # Without an expiry or a principal, the shape audit entries had before either existed.
    return v.model_dump(exclude={k for k in ("expires", "principal") if getattr(v, k) is None})


def _for(act: Act) -> dict[str, Any]:
    """The audit payload's principal, when a delegate acts (absent otherwise, as before)."""
    return {"principal": act.principal} if act.principal else {}


def _void(st: GateState, reason: str) -> list[Event]:
    if not st.approvals and not st.rejections:
        return []
    payload: dict[str, Any] = {"gate": st.gate, "reason": reason,
                               "approvals": [_vote_doc(a) for a in st.approvals]}
    if st.rejections:
        payload["rejections"] = [_vote_doc(r) for r in st.rejections]
    st.approvals, st.rejections = [], []
    return [("approvals_void", "system", payload)]


def apply_evaluation(st: GateState, status: str, digest: str, valid_until: str | None,
                     as_of: str, now: int, evidence_position: int | None = None) -> list[Event]:
    """An evaluation as of `as_of` arrived. A decided gate ignores it (it was approved while the
    evaluation ran)."""
    if st.state == "approved":
        return []
    st.evaluations += 1
    st.evidence_position = evidence_position
    st.status, st.digest, st.valid_until, st.evaluated_at = status, digest, valid_until, as_of
    events: list[Event] = [("evaluation", "system", {"gate": st.gate, "status": status, "digest": digest,
                                                      "valid_until": valid_until, "as_of": as_of})]
    if st.rejected_digest is not None and digest != st.rejected_digest:
        st.rejected_digest = st.rejection_reason = None  # something changed since the rejection
    if st.state == "collecting" and status == "pass" and st.rejected_digest is None:
        events.append(_transition(st, "awaiting_approval", "rule passes", now))
    elif st.state == "awaiting_approval" and status != "pass":
        events += _void(st, f"rule is {status}")
        events.append(_transition(st, "collecting", f"rule stopped passing ({status})", now))
    return events


def approve(st: GateState, spec: GateSpec, act: Act, digest: str, comment: str | None, now: int) -> list[Event]:
    """A checked approval (check_vote first): counted, and the gate approved at quorum."""
    valid_for = spec.approval.approval_valid_for_us
    st.approvals.append(ApprovalRecord(person=act.person, role=act.role, digest=digest, comment=comment,
                                       at=format_timestamp(now), principal=act.principal,
                                       expires=format_timestamp(now + valid_for) if valid_for else None))
    events: list[Event] = [("approval", act.person, {
        "gate": st.gate, "role": act.role, **_for(act), "digest": digest, "comment": comment,
        "count": len(st.approvals), "quorum": spec.approval.quorum})]
    if quorum_met(spec, st.approvals):
        events.append(_transition(st, "approved", "quorum reached", now, act.person))
    return events


def reject(st: GateState, spec: GateSpec, act: Act, digest: str, reason: str, now: int) -> list[Event]:
    """A checked rejection. It is counted; at `reject_threshold` distinct people, or at once
    under a veto role, the gate is rejected: its other votes are void and it collects until an
    evaluation gives another digest."""
    a = spec.approval
    vetoed = act.role in a.veto_roles
    counted = len({principal_of(r) for r in st.rejections} | {act.whose})
    payload: dict[str, Any] = {"gate": st.gate, "role": act.role, **_for(act), "digest": digest, "reason": reason}
    if a.reject_threshold != 1 or a.veto_roles:
        payload.update(count=counted, threshold=a.reject_threshold, veto=vetoed)
    events: list[Event] = [("rejection", act.person, payload)]
    if not vetoed and counted < a.reject_threshold:
        st.rejections.append(ApprovalRecord(person=act.person, role=act.role, digest=digest, comment=reason,
                                            at=format_timestamp(now), principal=act.principal))
        return events
    by = act.person if act.principal is None else f"{act.person} for {act.principal}"
    events += _void(st, f"rejected by {by}: {reason}")
    st.rejected_digest, st.rejection_reason = digest, reason
    events.append(_transition(st, "collecting", f"rejected: {reason}", now, act.person))
    return events


def withdraw(st: GateState, person: str, reason: str, on_behalf_of: str | None = None) -> list[Event]:
    """A checked withdrawal (check_withdraw first): the vote stops counting at once."""
    found = vote_to_withdraw(st, person, on_behalf_of)
    assert found is not None, "check_withdraw first"
    kind, vote = found
    st.approvals = [v for v in st.approvals if v is not vote]
    st.rejections = [v for v in st.rejections if v is not vote]
    whose = {"principal": vote.principal} if vote.principal else {}
    return [("vote_withdrawn", person, {"gate": st.gate, "vote": kind, "role": vote.role, **whose,
                                        "digest": vote.digest, "reason": reason})]


def waive(st: GateState, act: Act, benchmark: str, justification: str, until: str | None) -> list[Event]:
    """A checked waiver; the caller re-evaluates the gate at once."""
    st.waivers.append(WaiverInfo(benchmark=benchmark, by=act.person, role=act.role,
                                 justification=justification, until=until))
    return [("waiver", act.person, {"gate": st.gate, "role": act.role, **_for(act), "benchmark": benchmark,
                                    "justification": justification, "until": until})]


def revoke_waiver(st: GateState, act: Act, benchmark: str, reason: str | None) -> list[Event]:
    st.waivers = [w for w in st.waivers if w.benchmark != benchmark]
    return [("waiver_revoked", act.person, {"gate": st.gate, "role": act.role, **_for(act), "benchmark": benchmark,
                                            "reason": reason})]


def migrate(st: GateState, spec: GateSpec, plan_sha256: str, by: str, now: int) -> list[Event]:
    """The phase moved to another plan: an undecided gate loses its votes and its rejection lock,
    keeps the waivers it may still have, and collects until it is evaluated under the new plan."""
    if st.state == "approved":
        return []
    events = _void(st, f"plan migrated to {plan_sha256}")
    st.waivers = [w for w in st.waivers if w.benchmark in spec.waivable]
    if st.state != "collecting":
        events.append(_transition(st, "collecting", "plan migrated", now, by))
    st.digest = st.status = st.valid_until = None
    st.rejected_digest = st.rejection_reason = None
    return events


# --- time ---


def expire_waivers(st: GateState, now: int) -> list[Event]:
    """Waivers whose `until` has come end; the caller re-evaluates the gate when any did."""
    kept = [w for w in st.waivers if w.until is None or parse_timestamp(w.until) > now]
    events: list[Event] = [("waiver_expired", "system", {"gate": st.gate, "benchmark": w.benchmark,
                                                         "until": w.until})
                           for w in st.waivers if w not in kept]
    st.waivers = kept
    return events


def expire_approvals(st: GateState, now: int) -> list[Event]:
    """Approvals older than approval_valid_for stop counting; nothing expires once approved."""
    if st.state == "approved":
        return []
    gone = [a for a in st.approvals if a.expires is not None and parse_timestamp(a.expires) <= now]
    st.approvals = [a for a in st.approvals if a not in gone]
    return [("approval_expired", "system", {"gate": st.gate, "person": a.person, "role": a.role,
                                            **({"principal": a.principal} if a.principal else {}),
                                            "digest": a.digest, "expires": a.expires}) for a in gone]


def evaluation_expired(st: GateState, now: int) -> bool:
    """Its last result may differ now with no new evidence (CONTRACT section 3, valid_until)."""
    return st.state != "approved" and bool(st.valid_until) and parse_timestamp(st.valid_until or "") <= now


def due_notifications(st: GateState, spec: GateSpec, now: int) -> list[tuple[str, str]]:
    """The reminder and escalation due now for a gate awaiting approval, as (kind, message);
    the episode's counters move. After a long pause one reminder catches up, not a burst."""
    if st.state != "awaiting_approval" or st.awaiting_since_us is None:
        return []
    out: list[tuple[str, str]] = []
    since = st.awaiting_since_us
    if spec.remind_after_us and since + (st.reminders_sent + 1) * spec.remind_after_us <= now:
        st.reminders_sent = (now - since) // spec.remind_after_us
        out.append(("reminder", f"gate {st.gate} awaits approval (reminder {st.reminders_sent})"))
    if spec.escalate_after_us and not st.escalated and since + spec.escalate_after_us <= now:
        st.escalated = True
        out.append(("escalation", f"gate {st.gate} escalated: awaiting approval too long"))
    return out


def next_deadline(gates: Iterable[tuple[GateState, GateSpec]], paused: bool) -> int | None:
    """The earliest instant at which time alone changes something: an evaluation's valid_until,
    a waiver's end, and (unless paused, when nobody is reminded) a reminder or the escalation."""
    times: list[int] = []
    for st, spec in gates:
        if st.state == "approved":
            continue
        if st.valid_until:
            times.append(parse_timestamp(st.valid_until))
        times.extend(parse_timestamp(w.until) for w in st.waivers if w.until)
        times.extend(parse_timestamp(a.expires) for a in st.approvals if a.expires)
        if st.state == "awaiting_approval" and st.awaiting_since_us is not None and not paused:
            if spec.remind_after_us:
                times.append(st.awaiting_since_us + (st.reminders_sent + 1) * spec.remind_after_us)
            if spec.escalate_after_us and not st.escalated:
                times.append(st.awaiting_since_us + spec.escalate_after_us)
    return min(times) if times else None
