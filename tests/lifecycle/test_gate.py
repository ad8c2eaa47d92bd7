"""The pure gate lifecycle (lifecycle.gate), run directly: every check and transition, and the
refusal order of CONTRACT section 4, in microseconds and without a server."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from lifecycle import FORBIDDEN, REFUSAL_TYPES, InvalidInput, Refusal
from lifecycle import gate as lc
from schemas.messages import ApprovalRecord, ApprovalSpec, GateSpec, GateState, WaiverInfo
from schemas.timefmt import DAY, format_timestamp

NOW = 1_700_000_000_000_000
D1, D2 = "a" * 64, "b" * 64


def spec(**approval: Any) -> GateSpec:
    timers = approval.pop("timers", {})
    a: dict[str, Any] = {"roles": ["head", "host", "deputy"], "quorum": 2, **approval}
    return GateSpec(id="g1", name="gate", approval=ApprovalSpec(**a), indicators=["i"],
                    benchmarks=["b1", "b2", "under-not"], waivable=["b1", "b2"], **timers)


def awaiting(digest: str = D1, **kw: Any) -> GateState:
    return GateState(gate="g1", state="awaiting_approval", status="pass", digest=digest,
                     awaiting_since_us=NOW - DAY, **kw)


def ctx(st: GateState | None = None, phase: lc.PhaseState = "running", s: GateSpec | None = None,
        started_by: str = "starter", reopened_by: str | None = None) -> lc.GateContext:
    return lc.GateContext(s or spec(), st if st is not None or phase == "not_started" else awaiting(), phase,
                          started_by, reopened_by)


def refusal(fn: Any, *args: Any, **kw: Any) -> str:
    with pytest.raises(Refusal) as info:
        fn(*args, **kw)
    assert info.value.type in REFUSAL_TYPES
    return info.value.type


def vote(c: lc.GateContext, person: str = "ana", role: str = "head", digest: str = D1,
         held: frozenset[str] | None = None, approving: bool = True) -> None:
    lc.check_vote(c, lc.Act(person, role, held), digest, approving=approving)


# --- checks, one reason at a time ---


@pytest.mark.parametrize("approving", [True, False])
def test_each_reason_to_refuse_a_vote(approving: bool) -> None:
    def r(c: lc.GateContext, **kw: Any) -> str:
        return refusal(vote, c, approving=approving, **kw)

    assert r(ctx(), role="coordinator") == "RoleNotAllowed"
    assert r(ctx(), held=frozenset({"host"})) == "RoleNotHeld"
    assert r(ctx(), person="starter") == "SeparationOfDuties"
    assert r(ctx(reopened_by="ana")) == "SeparationOfDuties"
    assert r(ctx(None, phase="not_started")) == "PhaseNotStarted"
    assert r(ctx(phase="paused")) == "PhasePaused"
    assert r(ctx(GateState(gate="g1", state="collecting", status="fail", digest=D1))) == "NotAwaitingApproval"
    assert r(ctx(GateState(gate="g1", state="approved", status="pass", digest=D1), phase="complete")) == \
        "NotAwaitingApproval"
    voted = awaiting(approvals=[ApprovalRecord(person="ana", role="host", digest=D1, at="x")])
    assert r(ctx(voted)) == "AlreadyVoted"
    assert r(ctx(), digest=D2) == "StaleDigest"
    vote(ctx(), approving=approving, held=frozenset({"head"}))  # and nothing refuses a good one


def test_distinct_roles_refuses_a_second_approval_under_a_counted_role_but_not_a_rejection() -> None:
    st = awaiting(approvals=[ApprovalRecord(person="bea", role="head", digest=D1, at="x")])
    c = ctx(st, s=spec(distinct_roles=True))
    assert refusal(vote, c) == "RoleAlreadyCounted"
    vote(c, approving=False)
    vote(ctx(st))  # without distinct_roles the second head counts


# Every pair of reasons, both present: the refusal names the earlier in CONTRACT's order.
ORDER = ["RoleNotAllowed", "RoleNotHeld", "SeparationOfDuties", "PhaseNotStarted", "PhasePaused",
         "NotAwaitingApproval", "AlreadyVoted", "RoleAlreadyCounted", "StaleDigest"]


def _situation(reasons: set[str]) -> tuple[lc.GateContext, dict[str, Any]]:
    state = "collecting" if "NotAwaitingApproval" in reasons else "awaiting_approval"
    approvals = []
    if "AlreadyVoted" in reasons:
        approvals.append(ApprovalRecord(person="ana", role="host", digest=D1, at="x"))
    if "RoleAlreadyCounted" in reasons:
        approvals.append(ApprovalRecord(person="bea", role="head", digest=D1, at="x"))
    st = GateState(gate="g1", state=state, status="pass", digest=D1, approvals=approvals)
    phase: lc.PhaseState = ("not_started" if "PhaseNotStarted" in reasons
                            else "paused" if "PhasePaused" in reasons else "running")
    c = lc.GateContext(spec(distinct_roles=True), None if phase == "not_started" else st, phase,
                       "ana" if "SeparationOfDuties" in reasons else "starter")
    kw = {"role": "coordinator" if "RoleNotAllowed" in reasons else "head",
          "held": frozenset() if "RoleNotHeld" in reasons else None,
          "digest": D2 if "StaleDigest" in reasons else D1}
    return c, kw


@pytest.mark.parametrize(("first", "second"), list(itertools.combinations(ORDER, 2)))
def test_refusal_order(first: str, second: str) -> None:
    c, kw = _situation({first, second})
    assert refusal(vote, c, **kw) == first
    if first != "PhaseNotStarted":  # a gate not started has no later state to refuse on
        c, kw = _situation({second})
        assert refusal(vote, c, **kw) == second


def test_who_you_are_refusals_are_the_forbidden_ones() -> None:
    assert set(ORDER[:3]) == FORBIDDEN


def test_waiver_checks() -> None:
    def w(c: lc.GateContext, benchmark: str = "b1", role: str = "head", until: str | None = None,
          held: frozenset[str] | None = None) -> None:
        lc.check_waive(c, lc.Act("ana", role, held), benchmark, until, NOW)

    waivable = spec(waiver_roles=["head"])
    assert refusal(w, ctx(s=spec())) == "RoleNotAllowed"  # no waiver roles at all
    assert refusal(w, ctx(s=waivable), role="host") == "RoleNotAllowed"
    assert refusal(w, ctx(s=waivable), held=frozenset()) == "RoleNotHeld"
    assert refusal(w, ctx(s=waivable), benchmark="zzz") == "UnknownBenchmark"
    assert refusal(w, ctx(s=waivable), benchmark="under-not") == "NotWaivable"
    assert refusal(w, ctx(None, phase="not_started", s=waivable)) == "PhaseNotStarted"
    approved = GateState(gate="g1", state="approved", digest=D1)
    assert refusal(w, ctx(approved, s=waivable)) == "GateDecided"
    waived = awaiting(waivers=[WaiverInfo(benchmark="b1", by="x", justification="j")])
    assert refusal(w, ctx(waived, s=waivable)) == "AlreadyWaived"
    # Separation of duties does not apply to waivers; a paused phase takes them.
    w(lc.GateContext(waivable, awaiting(), "paused", started_by="ana", reopened_by="ana"))
    w(ctx(s=waivable), until=format_timestamp(NOW + 1))


def test_an_until_that_is_now_or_past_is_invalid_input_naming_the_field() -> None:
    for until in (NOW, NOW - 1):
        with pytest.raises(InvalidInput) as info:
            lc.check_waive(ctx(s=spec(waiver_roles=["head"])), lc.Act("ana", "head"), "b1", format_timestamp(until), NOW)
        assert info.value.field == "until" and "not in the future" in info.value.message


def test_revoke_checks() -> None:
    s = spec(waiver_roles=["head"])
    waived = awaiting(waivers=[WaiverInfo(benchmark="b1", by="x", justification="j")])
    assert refusal(lc.check_revoke, ctx(waived, s=s), lc.Act("ana", "host"), "b1") == "RoleNotAllowed"
    assert refusal(lc.check_revoke, ctx(awaiting(), s=s), lc.Act("ana", "head"), "b1") == "NoActiveWaiver"
    assert refusal(lc.check_revoke, ctx(waived, s=s), lc.Act("ana", "head"), "zzz") == "UnknownBenchmark"
    approved = GateState(gate="g1", state="approved", waivers=waived.waivers)
    assert refusal(lc.check_revoke, ctx(approved, s=s), lc.Act("ana", "head"), "b1") == "GateDecided"
    lc.check_revoke(ctx(waived, s=s), lc.Act("ana", "head"), "b1")


# --- transitions ---


def test_evaluations_move_the_gate_and_a_regression_voids_its_approvals() -> None:
    st = GateState(gate="g1")
    assert [e[0] for e in lc.apply_evaluation(st, "fail", D1, None, "t1", NOW)] == ["evaluation"]
    assert st.state == "collecting" and st.evaluations == 1
    events = lc.apply_evaluation(st, "pass", D2, None, "t2", NOW)
    assert [e[0] for e in events] == ["evaluation", "gate_transition"]
    assert st.state == "awaiting_approval" and st.awaiting_since_us == NOW and st.reminders_sent == 0
    lc.approve(st, spec(), lc.Act("ana", "head"), D2, "ok", NOW)
    events = lc.apply_evaluation(st, "unknown", D1, None, "t3", NOW)
    assert [e[0] for e in events] == ["evaluation", "approvals_void", "gate_transition"]
    assert st.state == "collecting" and st.approvals == [] and st.awaiting_since_us is None
    assert events[1][2]["approvals"][0]["person"] == "ana"


def test_approvals_stay_counted_while_the_rule_keeps_passing_on_a_new_digest() -> None:
    st = awaiting()
    lc.approve(st, spec(), lc.Act("ana", "head"), D1, None, NOW)
    assert [e[0] for e in lc.apply_evaluation(st, "pass", D2, None, "t", NOW)] == ["evaluation"]
    assert [a.person for a in st.approvals] == ["ana"] and st.digest == D2


def test_quorum_exactly_met_approves_and_required_roles_must_be_among_them() -> None:
    s = spec(quorum=2, required_roles=["host"])
    st = awaiting()
    assert [e[0] for e in lc.approve(st, s, lc.Act("ana", "head"), D1, None, NOW)] == ["approval"]
    assert [e[0] for e in lc.approve(st, s, lc.Act("dan", "deputy"), D1, None, NOW)] == ["approval"]
    assert st.state == "awaiting_approval"  # two people, but no host among them
    events = lc.approve(st, s, lc.Act("hal", "host"), D1, None, NOW)
    assert [e[0] for e in events] == ["approval", "gate_transition"] and st.state == "approved"
    assert events[1][1] == "hal" and events[0][2]["count"] == 3
    st2 = awaiting()
    lc.approve(st2, spec(quorum=2), lc.Act("ana", "head"), D1, None, NOW)
    lc.approve(st2, spec(quorum=2), lc.Act("hal", "host"), D1, None, NOW)
    assert st2.state == "approved"  # exactly the quorum


def test_a_decided_gate_ignores_evaluations() -> None:
    st = GateState(gate="g1", state="approved", status="pass", digest=D1)
    assert lc.apply_evaluation(st, "fail", D2, None, "t", NOW) == []
    assert st.digest == D1 and st.status == "pass"


def test_rejection_voids_and_locks_until_another_digest_whatever_its_status() -> None:
    st = awaiting()
    lc.approve(st, spec(), lc.Act("ana", "head"), D1, None, NOW)
    events = lc.reject(st, spec(), lc.Act("hal", "host"), D1, "not convinced", NOW)
    assert [e[0] for e in events] == ["rejection", "approvals_void", "gate_transition"]
    assert st.state == "collecting" and st.rejected_digest == D1
    lc.apply_evaluation(st, "pass", D1, None, "t", NOW)
    assert st.state == "collecting"  # same digest: still rejected
    lc.apply_evaluation(st, "fail", D2, None, "t", NOW)
    assert st.rejected_digest is None  # another digest lifts the lock, even failing
    lc.apply_evaluation(st, "pass", D1, None, "t", NOW)
    assert st.state == "awaiting_approval"


def test_waive_and_revoke_record_who_and_why() -> None:
    st = awaiting()
    [(kind, actor, payload)] = lc.waive(st, lc.Act("ana", "head"), "b1", "floods", format_timestamp(NOW + DAY))
    assert (kind, actor, payload["benchmark"]) == ("waiver", "ana", "b1")
    assert [w.benchmark for w in st.waivers] == ["b1"]
    assert lc.revoke_waiver(st, lc.Act("ana", "head"), "b1", "over")[0][0] == "waiver_revoked"
    assert st.waivers == []


def test_waivers_end_at_their_until_and_not_before() -> None:
    st = awaiting(waivers=[WaiverInfo(benchmark="b1", by="x", justification="j", until=format_timestamp(NOW)),
                           WaiverInfo(benchmark="b2", by="x", justification="j")])
    assert lc.expire_waivers(st, NOW - 1) == [] and len(st.waivers) == 2
    [(kind, _, payload)] = lc.expire_waivers(st, NOW)
    assert (kind, payload["benchmark"]) == ("waiver_expired", "b1")
    assert [w.benchmark for w in st.waivers] == ["b2"]


def test_migration_clears_votes_and_lock_and_keeps_waivers_still_waivable() -> None:
    st = awaiting(waivers=[WaiverInfo(benchmark="b1", by="x", justification="j"),
                           WaiverInfo(benchmark="b2", by="x", justification="j")])
    lc.approve(st, spec(), lc.Act("ana", "head"), D1, None, NOW)
    st.rejected_digest = D2
    new = spec().model_copy(update={"waivable": ["b1"]})
    events = lc.migrate(st, new, "c" * 64, "cora", NOW)
    assert [e[0] for e in events] == ["approvals_void", "gate_transition"] and events[1][1] == "cora"
    assert st.state == "collecting" and st.digest is None and st.rejected_digest is None
    assert [w.benchmark for w in st.waivers] == ["b1"]
    approved = GateState(gate="g1", state="approved", digest=D1)
    assert lc.migrate(approved, new, "c" * 64, "cora", NOW) == [] and approved.state == "approved"


def test_reminders_every_period_and_one_escalation() -> None:
    s = spec(timers={"remind_after_us": 7 * DAY, "escalate_after_us": 21 * DAY})
    st = awaiting()
    st.awaiting_since_us = NOW
    assert lc.due_notifications(st, s, NOW + 7 * DAY - 1) == []
    assert lc.next_deadline([(st, s)], paused=False) == NOW + 7 * DAY
    assert [k for k, _ in lc.due_notifications(st, s, NOW + 7 * DAY)] == ["reminder"]
    assert st.reminders_sent == 1
    assert [k for k, _ in lc.due_notifications(st, s, NOW + 21 * DAY)] == ["reminder", "escalation"]
    assert st.reminders_sent == 3 and st.escalated  # one catches up for the reminders missed
    assert lc.next_deadline([(st, s)], paused=False) == NOW + 28 * DAY
    assert lc.next_deadline([(st, s)], paused=True) is None  # nobody is reminded while paused
    assert [k for k, _ in lc.due_notifications(st, s, NOW + 28 * DAY)] == ["reminder"]


def test_next_deadline_is_the_earliest_of_valid_until_and_waiver_ends() -> None:
    st = GateState(gate="g1", valid_until=format_timestamp(NOW + 5 * DAY),
                   waivers=[WaiverInfo(benchmark="b1", by="x", justification="j", until=format_timestamp(NOW + DAY))])
    assert lc.next_deadline([(st, spec())], paused=True) == NOW + DAY
    assert lc.evaluation_expired(st, NOW + 5 * DAY) and not lc.evaluation_expired(st, NOW + 5 * DAY - 1)
    st.state = "approved"
    assert lc.next_deadline([(st, spec())], paused=False) is None and not lc.evaluation_expired(st, NOW + 9 * DAY)


def test_a_vote_on_an_evaluation_behind_the_store_is_stale() -> None:
    st = awaiting()
    st.evidence_position = 7
    vote(ctx(st), approving=True)  # the caller did not say how far the store is
    lc.check_vote(ctx(st), lc.Act("ana", "head"), D1, approving=True, evidence_position=7)
    for approving in (True, False):
        with pytest.raises(Refusal) as info:
            lc.check_vote(ctx(st), lc.Act("ana", "head"), D1, approving=approving, evidence_position=8)
        assert info.value.type == "StaleDigest" and "stored after its evaluation" in info.value.message
    st.evidence_position = None  # evaluated before positions were recorded: not checked
    lc.check_vote(ctx(st), lc.Act("ana", "head"), D1, approving=True, evidence_position=8)


def test_evaluations_record_the_store_position_they_saw() -> None:
    st = GateState(gate="g1")
    lc.apply_evaluation(st, "pass", D1, None, "t", NOW, evidence_position=3)
    assert st.evidence_position == 3


# --- votes: rejections counted toward a threshold, vetoes, withdrawal, expiry (CONTRACT 4, 5) ---


def test_rejections_below_the_threshold_are_counted_and_shown_and_the_threshold_rejects() -> None:
    s = spec(reject_threshold=2)
    st = awaiting()
    lc.approve(st, s, lc.Act("ana", "head"), D1, None, NOW)
    events = lc.reject(st, s, lc.Act("hal", "host"), D1, "not yet", NOW)
    assert [e[0] for e in events] == ["rejection"] and events[0][2]["count"] == 1
    assert st.state == "awaiting_approval" and [r.person for r in st.rejections] == ["hal"]
    assert st.rejections[0].comment == "not yet" and [a.person for a in st.approvals] == ["ana"]
    assert refusal(vote, ctx(st, s=s), person="hal") == "AlreadyVoted"  # reject again, or approve
    events = lc.reject(st, s, lc.Act("dan", "deputy"), D1, "no", NOW)
    assert [e[0] for e in events] == ["rejection", "approvals_void", "gate_transition"]
    void = events[1][2]
    assert [a["person"] for a in void["approvals"]] == ["ana"] and [r["person"] for r in void["rejections"]] == ["hal"]
    assert st.state == "collecting" and st.rejected_digest == D1 and st.rejections == st.approvals == []


def test_a_veto_rejects_at_once_whatever_the_threshold() -> None:
    s = spec(reject_threshold=3, veto_roles=["host"])
    st = awaiting()
    lc.reject(st, s, lc.Act("dan", "deputy"), D1, "hmm", NOW)
    assert st.state == "awaiting_approval"
    events = lc.reject(st, s, lc.Act("hal", "host"), D1, "vetoed", NOW)
    assert events[0][2]["veto"] is True and st.state == "collecting" and st.rejected_digest == D1


def test_default_threshold_rejects_at_the_first_rejection_with_the_old_audit_shape() -> None:
    st = awaiting()
    events = lc.reject(st, spec(), lc.Act("hal", "host"), D1, "no", NOW)
    assert events[0][2] == {"gate": "g1", "role": "host", "digest": D1, "reason": "no"}
    assert st.state == "collecting"


def test_regression_voids_rejections_as_it_voids_approvals() -> None:
    s = spec(reject_threshold=2)
    st = awaiting()
    lc.reject(st, s, lc.Act("hal", "host"), D1, "no", NOW)
    events = lc.apply_evaluation(st, "fail", D2, None, "t", NOW)
    assert [e[0] for e in events] == ["evaluation", "approvals_void", "gate_transition"]
    assert st.rejections == []


def test_withdraw_then_the_opposite_vote() -> None:
    s = spec(reject_threshold=2)
    st = awaiting()
    lc.approve(st, s, lc.Act("ana", "head"), D1, None, NOW)
    c = ctx(st, s=s)
    assert refusal(lc.check_withdraw, c, "bob", None) == "NoCountedVote"
    assert refusal(lc.check_withdraw, c, "ana", frozenset({"host"})) == "RoleNotHeld"
    assert refusal(lc.check_withdraw, ctx(st, s=s, phase="paused"), "ana", None) == "PhasePaused"
    lc.check_withdraw(c, "ana", frozenset({"head"}))
    [(kind, actor, payload)] = lc.withdraw(st, "ana", "changed my mind")
    assert (kind, actor, payload["vote"], payload["role"]) == ("vote_withdrawn", "ana", "approval", "head")
    assert st.approvals == []
    vote(ctx(st, s=s), approving=False)  # the opposite vote is open again
    lc.reject(st, s, lc.Act("ana", "head"), D1, "no", NOW)
    assert lc.withdraw(st, "ana", "ok")[0][2]["vote"] == "rejection" and st.rejections == []
    # NoCountedVote comes before every other reason
    assert refusal(lc.check_withdraw, ctx(None, phase="not_started", s=s), "ana", None) == "NoCountedVote"


def test_approvals_expire_while_awaiting_but_not_once_approved() -> None:
    s = spec(quorum=2, approval_valid_for_us=60 * DAY)
    st = awaiting()
    lc.approve(st, s, lc.Act("ana", "head"), D1, None, NOW)
    assert st.approvals[0].expires == format_timestamp(NOW + 60 * DAY)
    assert lc.next_deadline([(st, s)], paused=False) == NOW + 60 * DAY
    assert lc.expire_approvals(st, NOW + 60 * DAY - 1) == []
    [(kind, _, payload)] = lc.expire_approvals(st, NOW + 60 * DAY)
    assert (kind, payload["person"]) == ("approval_expired", "ana") and st.approvals == []
    vote(ctx(st, s=s))  # the person may approve again
    lc.approve(st, s, lc.Act("ana", "head"), D1, None, NOW + 61 * DAY)
    lc.approve(st, s, lc.Act("hal", "host"), D1, None, NOW + 62 * DAY)
    assert st.state == "approved"
    assert lc.expire_approvals(st, NOW + 999 * DAY) == [] and len(st.approvals) == 2


# --- edges the mutation run (scripts/mutate.py lifecycle/gate.py) found untested ---


def test_a_phase_not_started_refuses_even_with_a_state_at_hand() -> None:
    c = lc.GateContext(spec(), awaiting(), "not_started", "starter")
    assert refusal(vote, c) == "PhaseNotStarted"


def test_required_roles_exactly_the_roles_counted_meet_the_quorum() -> None:
    s = spec(quorum=2, required_roles=["head", "host"])
    st = awaiting()
    lc.approve(st, s, lc.Act("ana", "head"), D1, None, NOW)
    lc.approve(st, s, lc.Act("hal", "host"), D1, None, NOW)
    assert st.state == "approved"


def test_a_new_awaiting_episode_starts_unescalated_with_no_reminders() -> None:
    st = GateState(gate="g1", state="collecting", reminders_sent=4, escalated=True)
    lc.apply_evaluation(st, "pass", D1, None, "t", NOW)
    assert (st.state, st.awaiting_since_us, st.reminders_sent, st.escalated) == ("awaiting_approval", NOW, 0, False)


def test_a_resume_starts_a_new_episode_for_gates_awaiting_approval_only() -> None:
    waiting = awaiting(reminders_sent=2, escalated=True)
    collecting = GateState(gate="g2", state="collecting")
    approved = GateState(gate="g3", state="approved", awaiting_since_us=NOW - DAY)
    assert lc.resume_episodes([waiting, collecting, approved], NOW) == ["g1"]
    assert (waiting.awaiting_since_us, waiting.reminders_sent, waiting.escalated) == (NOW, 0, False)
    assert collecting.awaiting_since_us is None and approved.awaiting_since_us == NOW - DAY


def test_void_entries_carry_an_expiry_only_where_there_is_one() -> None:
    st = awaiting()
    lc.approve(st, spec(), lc.Act("ana", "head"), D1, None, NOW)
    lc.approve(st, spec(quorum=3, approval_valid_for_us=DAY), lc.Act("hal", "host"), D1, None, NOW)
    [_, void, _] = lc.apply_evaluation(st, "fail", D2, None, "t", NOW)
    ana, hal = void[2]["approvals"]
    assert "expires" not in ana and hal["expires"] == format_timestamp(NOW + DAY)


def test_only_a_gate_awaiting_approval_is_reminded() -> None:
    s = spec(timers={"remind_after_us": DAY, "escalate_after_us": DAY})
    st = GateState(gate="g1", state="collecting", awaiting_since_us=NOW - 30 * DAY)
    assert lc.due_notifications(st, s, NOW) == []


def test_next_deadline_counts_valid_until_and_the_escalation_alone() -> None:
    st = GateState(gate="g1", valid_until=format_timestamp(NOW + 5 * DAY))
    assert lc.next_deadline([(st, spec())], paused=False) == NOW + 5 * DAY
    s = spec(timers={"remind_after_us": 7 * DAY, "escalate_after_us": 3 * DAY})
    st = awaiting()
    st.awaiting_since_us = NOW
    assert lc.next_deadline([(st, s)], paused=False) == NOW + 3 * DAY


# --- what a refusal says, and which vote a withdrawal for a principal takes back (CONTRACT 5) ---


def message(fn: Any, *args: Any, **kw: Any) -> str:
    with pytest.raises(Refusal) as info:
        fn(*args, **kw)
    return info.value.message


def test_role_not_held_says_why_when_the_caller_knows() -> None:
    assert message(vote, ctx(), held=frozenset()) == "ana does not hold role 'head'"
    why = "ana's assignment of role 'head' ended at 2023-11-13T22:13:20Z"
    assert message(lc.check_vote, ctx(), lc.Act("ana", "head", frozenset(), why=why), D1, approving=True) == why


def test_separation_of_duties_names_the_delegate_and_the_principal() -> None:
    for_bruno = lc.Act("dana", "head", principal="bruno")
    assert message(lc.check_vote, ctx(started_by="dana"), for_bruno, D1, approving=True) == \
        "gate 'g1': dana started the mission's exit and may not decide its gates"
    assert message(lc.check_vote, ctx(started_by="bruno"), for_bruno, D1, approving=True) == \
        "gate 'g1': bruno (for whom dana acts) started the mission's exit and may not decide its gates"
    through = lc.GateContext(spec(), awaiting(), "running", started_by="zed", started_for="bruno")
    assert message(lc.check_vote, through, lc.Act("bruno", "head"), D1, approving=True) == \
        "gate 'g1': bruno started the mission's exit through zed, their delegate, and may not decide its gates"
    assert message(lc.check_vote, ctx(reopened_by="bruno"), for_bruno, D1, approving=True) == \
        "gate 'g1': bruno (for whom dana acts) reopened this phase and may not decide its gates"
    reopened = lc.GateContext(spec(), awaiting(), "running", started_by="s", reopened_by="zed", reopened_for="bruno")
    assert message(lc.check_vote, reopened, lc.Act("bruno", "head"), D1, approving=True) == \
        "gate 'g1': bruno reopened this phase through zed, their delegate, and may not decide its gates"


def test_already_voted_says_how_and_through_whom() -> None:
    approved = awaiting(approvals=[ApprovalRecord(person="ana", role="host", digest=D1, at="x")])
    assert message(vote, ctx(approved)) == "gate 'g1': ana has already approved it; withdraw first"
    rejected = awaiting(rejections=[ApprovalRecord(person="dana", role="head", digest=D1, at="x", principal="ana")])
    assert message(vote, ctx(rejected)) == "gate 'g1': ana has already rejected it (through dana); withdraw first"


def test_a_rejection_for_a_principal_is_recorded_as_by_the_delegate_for_them() -> None:
    st = awaiting(approvals=[ApprovalRecord(person="ana", role="host", digest=D1, at="x")])
    events = lc.reject(st, spec(), lc.Act("dana", "head", principal="bruno"), D1, "no", NOW)
    assert events[1][2]["reason"] == "rejected by dana for bruno: no"
    st = awaiting(approvals=[ApprovalRecord(person="ana", role="host", digest=D1, at="x")])
    assert lc.reject(st, spec(), lc.Act("hal", "head"), D1, "no", NOW)[1][2]["reason"] == "rejected by hal: no"


def test_a_withdrawal_for_a_principal_takes_back_only_that_principals_vote() -> None:
    by_dana_for_bruno = ApprovalRecord(person="dana", role="head", digest=D1, at="x", principal="bruno")
    by_dana_for_cleo = ApprovalRecord(person="dana", role="host", digest=D1, at="x", principal="cleo")
    st = awaiting(approvals=[by_dana_for_cleo, by_dana_for_bruno])
    assert lc.vote_to_withdraw(st, "dana", "bruno") == ("approval", by_dana_for_bruno)
    assert lc.vote_to_withdraw(st, "bruno", "bruno") == ("approval", by_dana_for_bruno)  # the principal's own
    assert lc.vote_to_withdraw(st, "eve", "bruno") is None  # another delegate of bruno's cast none
    only_cleo = awaiting(approvals=[by_dana_for_cleo])
    assert lc.vote_to_withdraw(only_cleo, "dana", "bruno") is None
    c = ctx(only_cleo)
    assert message(lc.check_withdraw, c, "dana", None, "bruno") == \
        "gate 'g1': dana has no counted vote for bruno to withdraw"
    assert message(lc.check_withdraw, ctx(awaiting()), "dana", None, "dana") == \
        "gate 'g1': dana has no counted vote to withdraw"


def test_a_withdrawal_refused_for_a_role_not_held_says_why() -> None:
    st = awaiting(approvals=[ApprovalRecord(person="ana", role="head", digest=D1, at="x")])
    assert message(lc.check_withdraw, ctx(st), "ana", frozenset()) == \
        "ana does not hold role 'head', under which the vote was given"
    assert message(lc.check_withdraw, ctx(st), "ana", frozenset(), None, "ended yesterday") == "ended yesterday"
