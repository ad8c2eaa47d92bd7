"""Authority over time (lifecycle.authority), run directly: who holds what at an instant, how an
act resolves (direct first, then delegations in the order made), and the checks on every change
to the register (CONTRACT section 5, "Precise rules of authority")."""

from __future__ import annotations

from typing import Any

import pytest

from lifecycle import InvalidInput, Refusal
from lifecycle import authority as au
from lifecycle import gate as lc
from schemas.messages import ApprovalSpec, GateSpec, GateState
from schemas.register import Assignment, Delegation, Register
from schemas.timefmt import DAY, format_timestamp

NOW = 1_700_000_000_000_000
COORD = ["coordinator"]
ROLES = ["coordinator", "head", "host", "deputy"]
GATES = ["g1", "g2"]
D1 = "a" * 64


def reg(*items: Assignment | Delegation) -> Register:
    r = Register(mission="m1", version=1)
    for n, it in enumerate(items, start=1):
        it.seq = n
        (r.assignments if isinstance(it, Assignment) else r.delegations).append(it)
    return r


def held(person: str, role: str, frm: int = NOW - 10 * DAY, until: int | None = None) -> Assignment:
    return Assignment(person=person, role=role, from_us=frm, until_us=until, granted_by="op")


def deleg(delegator: str, role: str, delegate: str, frm: int = NOW - DAY, until: int = NOW + DAY,
          gates: list[str] | None = None) -> Delegation:
    return Delegation(delegator=delegator, role=role, delegate=delegate, from_us=frm, until_us=until,
                      gates=gates, made_by=delegator)


def refusal(fn: Any, *args: Any, **kw: Any) -> str:
    with pytest.raises(Refusal) as info:
        fn(*args, **kw)
    return info.value.type


# --- who holds what, when ---


def test_an_assignment_holds_from_its_start_until_its_end_exclusive() -> None:
    r = reg(held("ana", "head", NOW, NOW + DAY))
    assert not au.holds(r, "ana", "head", NOW - 1)
    assert au.holds(r, "ana", "head", NOW)
    assert au.holds(r, "ana", "head", NOW + DAY - 1)
    assert not au.holds(r, "ana", "head", NOW + DAY)
    assert [a.person for a in au.holders(r, NOW)] == ["ana"] and au.holders(r, NOW + DAY) == []
    assert au.roles_of(r, "ana", NOW) == {"head"}


def test_resolve_direct_first_then_the_first_delegation_made() -> None:
    r = reg(held("bruno", "deputy"), held("cleo", "deputy"), held("dana", "deputy"),
            deleg("bruno", "deputy", "dana"), deleg("cleo", "deputy", "eve"), deleg("bruno", "deputy", "eve"))
    own = au.resolve(r, "dana", "deputy", NOW)
    assert own.held == {"deputy"} and own.principal is None  # her own assignment, not bruno's
    assert au.resolve(r, "dana", "deputy", NOW, on_behalf_of="bruno").principal == "bruno"
    assert au.resolve(r, "eve", "deputy", NOW).principal == "cleo"  # the first made
    assert au.resolve(r, "eve", "deputy", NOW, on_behalf_of="bruno").principal == "bruno"
    nobody = au.resolve(r, "eve", "deputy", NOW, on_behalf_of="ana")
    assert nobody.held == frozenset() and "no delegation" in (nobody.why or "")
    mine = au.resolve(r, "eve", "deputy", NOW, on_behalf_of="eve")  # only her own assignment
    assert mine.held == frozenset()


def test_a_delegation_covers_only_while_in_force_and_while_the_delegator_holds_the_role() -> None:
    r = reg(held("bruno", "deputy", until=NOW), deleg("bruno", "deputy", "dana", NOW - DAY, NOW + DAY))
    assert au.resolve(r, "dana", "deputy", NOW - 1).principal == "bruno"
    lost = au.resolve(r, "dana", "deputy", NOW)
    assert lost.held == frozenset()
    r = reg(held("bruno", "deputy"), deleg("bruno", "deputy", "dana", NOW - DAY, NOW))
    assert au.resolve(r, "dana", "deputy", NOW).held == frozenset()
    r = reg(held("bruno", "deputy"), deleg("bruno", "deputy", "dana", NOW + 1, NOW + DAY))
    assert au.resolve(r, "dana", "deputy", NOW).held == frozenset()


def test_no_redelegation_a_delegated_role_does_not_pass_on() -> None:
    r = reg(held("bruno", "deputy"), deleg("bruno", "deputy", "dana"), deleg("dana", "deputy", "eve"))
    assert au.resolve(r, "eve", "deputy", NOW).held == frozenset()  # dana holds it only by delegation
    assert refusal(au.delegate, r, GATES, by="dana", role="deputy", to="eve", until_us=NOW + DAY,
                   now=NOW) == "CannotRedelegate"
    assert refusal(au.delegate, r, GATES, by="zed", role="deputy", to="eve", until_us=NOW + DAY,
                   now=NOW) == "RoleNotHeld"


def test_a_gate_limited_delegation_covers_votes_withdrawals_and_waivers_on_its_gates_only() -> None:
    r = reg(held("cora", "coordinator"), held("bruno", "head"),
            deleg("bruno", "head", "dana", gates=["g1"]), deleg("cora", "coordinator", "dana", gates=["g1"]))
    for kind in ("vote", "withdraw", "waive"):
        assert au.resolve(r, "dana", "head", NOW, kind=kind, gate="g1").principal == "bruno"
        assert au.resolve(r, "dana", "head", NOW, kind=kind, gate="g2").held == frozenset()
    for kind in ("coordinate", "grant"):
        assert au.resolve(r, "dana", "coordinator", NOW, kind=kind, gate="g1").held == frozenset()
    whole = reg(held("cora", "coordinator"), deleg("cora", "coordinator", "dana"))
    assert au.resolve(whole, "dana", "coordinator", NOW, kind="coordinate").principal == "cora"


def test_why_not_says_ended_or_not_yet() -> None:
    r = reg(held("ana", "head", NOW - 5 * DAY, NOW - DAY), held("ana", "host", NOW + DAY))
    assert "ended at " + format_timestamp(NOW - DAY) in (au.resolve(r, "ana", "head", NOW).why or "")
    assert "only from " + format_timestamp(NOW + DAY) in (au.resolve(r, "ana", "host", NOW).why or "")


# --- votes through a delegate (lifecycle.gate with a resolved Act) ---


def spec(**approval: Any) -> GateSpec:
    a: dict[str, Any] = {"roles": ["head", "host", "deputy"], "quorum": 2, **approval}
    return GateSpec(id="g1", name="gate", approval=ApprovalSpec(**a), indicators=["i"], benchmarks=["b1"],
                    waivable=["b1"])


def awaiting() -> GateState:
    return GateState(gate="g1", state="awaiting_approval", status="pass", digest=D1, awaiting_since_us=NOW - DAY)


def test_votes_count_per_principal_and_the_second_vote_of_a_principal_is_refused() -> None:
    r = reg(held("bruno", "deputy"), held("hal", "host"), held("dana", "head"), deleg("bruno", "deputy", "dana"))
    s, st = spec(distinct_roles=True), awaiting()
    ctx = lc.GateContext(s, st, "running", "starter")
    act = au.resolve(r, "dana", "deputy", NOW)
    lc.check_vote(ctx, act, D1, approving=True)
    lc.approve(st, s, act, D1, None, NOW)
    assert st.approvals[0].principal == "bruno" and st.state == "awaiting_approval"
    assert refusal(lc.check_vote, ctx, au.resolve(r, "bruno", "deputy", NOW), D1, approving=True) == "AlreadyVoted"
    # dana in her own right is another principal, but deputy is already counted (distinct roles)
    own = au.resolve(r, "dana", "head", NOW)
    assert own.principal is None
    lc.check_vote(ctx, own, D1, approving=False)
    events = lc.approve(st, s, au.resolve(r, "hal", "host", NOW), D1, None, NOW)
    assert st.state == "approved" and events[0][2].get("principal") is None


def test_separation_of_duties_applies_to_delegate_and_principal() -> None:
    r = reg(held("cora", "head"), held("bruno", "head"), deleg("cora", "head", "dana"), deleg("bruno", "head", "eve"))
    ctx = lc.GateContext(spec(), awaiting(), "running", started_by="cora")
    assert refusal(lc.check_vote, ctx, au.resolve(r, "dana", "head", NOW), D1, approving=True) == "SeparationOfDuties"
    ctx = lc.GateContext(spec(), awaiting(), "running", started_by="eve")
    assert refusal(lc.check_vote, ctx, au.resolve(r, "eve", "head", NOW), D1, approving=True) == "SeparationOfDuties"
    # the starter acted for a principal: the principal decides no gate either
    ctx = lc.GateContext(spec(), awaiting(), "running", started_by="zed", started_for="bruno")
    assert refusal(lc.check_vote, ctx, au.resolve(r, "bruno", "head", NOW), D1, approving=True) == "SeparationOfDuties"


def test_role_not_allowed_comes_before_role_not_held() -> None:
    ctx = lc.GateContext(spec(), awaiting(), "running", "starter")
    assert refusal(lc.check_vote, ctx, au.resolve(reg(), "ana", "coordinator", NOW), D1,
                   approving=True) == "RoleNotAllowed"
    assert refusal(lc.check_vote, ctx, au.resolve(reg(), "ana", "head", NOW), D1, approving=True) == "RoleNotHeld"


def test_a_veto_under_a_delegated_role_vetoes() -> None:
    r = reg(held("hal", "host"), deleg("hal", "host", "dana"))
    s, st = spec(veto_roles=["host"], reject_threshold=3), awaiting()
    lc.reject(st, s, au.resolve(r, "dana", "host", NOW), D1, "no", NOW)
    assert st.state == "collecting" and st.rejected_digest == D1


def test_withdrawal_by_the_delegate_or_the_principal_under_the_votes_role() -> None:
    r = reg(held("bruno", "deputy"), deleg("bruno", "deputy", "dana"))
    s, st = spec(), awaiting()
    lc.approve(st, s, au.resolve(r, "dana", "deputy", NOW), D1, None, NOW)
    act = au.withdrawal_act(r, st, "dana", NOW, "g1")
    assert act is not None and act.principal == "bruno" and act.held == {"deputy"}
    by_principal = au.withdrawal_act(r, st, "bruno", NOW, "g1")
    assert by_principal is not None and by_principal.principal is None and by_principal.held == {"deputy"}
    assert au.withdrawal_act(r, st, "eve", NOW, "g1") is None
    ctx = lc.GateContext(s, st, "running", "starter")
    assert refusal(lc.check_withdraw, ctx, "eve", None) == "NoCountedVote"
    later = NOW + 2 * DAY  # the delegation has ended: dana may no longer withdraw it
    gone = au.withdrawal_act(r, st, "dana", later, "g1")
    assert gone is not None and gone.held == frozenset()
    assert refusal(lc.check_withdraw, ctx, "dana", gone.held, None, gone.why) == "RoleNotHeld"
    events = lc.withdraw(st, "bruno", "changed my mind")
    assert st.approvals == [] and events[0][2]["principal"] == "bruno"


def test_an_approval_given_for_a_principal_expires_as_theirs() -> None:
    r = reg(held("bruno", "deputy"), deleg("bruno", "deputy", "dana"))
    s, st = spec(approval_valid_for_us=DAY), awaiting()
    lc.approve(st, s, au.resolve(r, "dana", "deputy", NOW), D1, None, NOW)
    [(kind, _, payload)] = lc.expire_approvals(st, NOW + DAY)
    assert kind == "approval_expired" and (payload["person"], payload["principal"]) == ("dana", "bruno")
    assert st.approvals == []


def test_a_counted_approval_keeps_its_role_after_the_assignment_ends() -> None:
    r = reg(held("ana", "head", until=NOW + 1), held("hal", "host"))
    s, st = spec(required_roles=["head"]), awaiting()
    lc.approve(st, s, au.resolve(r, "ana", "head", NOW), D1, None, NOW)
    lc.approve(st, s, au.resolve(r, "hal", "host", NOW + DAY), D1, None, NOW + DAY)
    assert st.state == "approved"


# --- changes to the register ---


def test_grant_by_a_coordinator_or_an_operator_never_backdated() -> None:
    r = reg(held("cora", "coordinator"), held("ana", "head"))
    ch = au.grant(r, COORD, ROLES, by="cora", by_role="coordinator", person="dana", role="deputy", reason="rota",
                  now=NOW)
    [a] = ch.add_assignments
    assert (a.person, a.role, a.from_us, a.until_us, a.granted_by_role) == ("dana", "deputy", NOW, None, "coordinator")
    [note] = ch.audit
    assert note.kind == "role_granted" and note.payload["by"] == "cora" and "operator" not in note.payload
    op = au.grant(reg(), COORD, ROLES, by="root", by_role=None, person="cora", role="coordinator", now=NOW)
    assert op.audit[0].payload["operator"] is True and op.add_assignments[0].granted_by_role is None
    assert refusal(au.grant, r, COORD, ROLES, by="ana", by_role="head", person="x", role="host",
                   now=NOW) == "RoleNotAllowed"
    assert refusal(au.grant, r, COORD, ROLES, by="ana", by_role="coordinator", person="x", role="host",
                   now=NOW) == "RoleNotHeld"
    for kw, field in (({"from_us": NOW - 1}, "from"), ({"until_us": NOW}, "until"), ({"role": "chef"}, "role"),
                      ({"person": "no spaces"}, "person")):
        args: dict[str, Any] = {"person": "dana", "role": "deputy", **kw}
        with pytest.raises(InvalidInput) as info:
            au.grant(r, COORD, ROLES, by="cora", by_role="coordinator", now=NOW, **args)
        assert info.value.field == field


def test_end_role_ends_every_active_assignment_and_leaves_later_ones() -> None:
    r = reg(held("cora", "coordinator"), held("ana", "head"), held("ana", "head", NOW - DAY),
            held("ana", "head", NOW + DAY), held("ana", "host"))
    ch = au.end_role(r, COORD, by="cora", by_role="coordinator", person="ana", role="head", now=NOW)
    assert ch.end_assignments == [2, 3] and ch.audit[0].kind == "role_ended"
    assert refusal(au.end_role, r, COORD, by="cora", by_role="coordinator", person="bo", role="head",
                   now=NOW) == "NoActiveAssignment"


def test_delegate_needs_an_end_and_known_gates() -> None:
    r = reg(held("bruno", "deputy"))
    ch = au.delegate(r, GATES, by="bruno", role="deputy", to="dana", until_us=NOW + DAY, gates=["g1"], now=NOW)
    assert ch.add_delegation is not None and ch.add_delegation.from_us == NOW
    assert ch.audit[0].payload["delegator"] == "bruno" and ch.audit[0].payload["delegate"] == "dana"
    for kw, field in (({"until_us": None}, "until"), ({"gates": ["nope"]}, "gates"), ({"to": "bruno"}, "to"),
                      ({"from_us": NOW - 1}, "from"), ({"gates": []}, "gates")):
        args: dict[str, Any] = {"until_us": NOW + DAY, "to": "dana", **kw}
        with pytest.raises(InvalidInput) as info:
            au.delegate(r, GATES, by="bruno", role="deputy", now=NOW, **args)
        assert info.value.field == field


def test_end_delegation_by_the_delegator_or_a_coordinator() -> None:
    r = reg(held("cora", "coordinator"), held("bruno", "deputy"), deleg("bruno", "deputy", "dana"),
            deleg("bruno", "deputy", "eve", NOW - 2 * DAY, NOW - DAY))
    assert au.end_delegation(r, COORD, by="bruno", by_role=None, seq=3, now=NOW).end_delegation == 3
    assert au.end_delegation(r, COORD, by="cora", by_role="coordinator", seq=3, now=NOW).end_delegation == 3
    assert refusal(au.end_delegation, r, COORD, by="dana", by_role="deputy", seq=3, now=NOW) == "RoleNotAllowed"
    assert refusal(au.end_delegation, r, COORD, by="dana", by_role=None, seq=3, now=NOW) == "RoleNotHeld"
    assert au.end_delegation(r, COORD, by="root", by_role=None, seq=3, now=NOW, operator=True).end_delegation == 3
    assert refusal(au.end_delegation, r, COORD, by="bruno", by_role=None, seq=4, now=NOW) == "NoActiveAssignment"
    with pytest.raises(InvalidInput):
        au.end_delegation(r, COORD, by="bruno", by_role=None, seq=99, now=NOW)


def test_import_is_all_or_nothing_with_every_problem_by_index_and_field() -> None:
    r = reg(held("cora", "coordinator"))
    later = format_timestamp(NOW + DAY)
    ok = [{"person": "ana", "role": "head"}, {"person": "bo", "role": "host", "from": later, "reason": "rota"}]
    ch = au.import_assignments(r, COORD, ROLES, ok, by="cora", by_role="coordinator", now=NOW)
    assert [a.person for a in ch.add_assignments] == ["ana", "bo"] and len(ch.audit) == 2
    bad = [{"person": "ana", "role": "chef"}, {"person": "bo", "role": "host", "until": "yesterday"},
           {"person": "cy", "role": "head", "from": format_timestamp(NOW - 1)}, "x", {"person": "d", "role": "head",
                                                                                    "colour": "red"}]
    with pytest.raises(au.ImportRejected) as info:
        au.import_assignments(r, COORD, ROLES, bad, by="cora", by_role="coordinator", now=NOW)
    assert [p for p, _ in info.value.problems] == ["[0].role", "[1].until", "[2].from", "[3]", "[4].colour"]
    assert refusal(au.import_assignments, r, COORD, ROLES, ok, by="ana", by_role="coordinator", now=NOW) == "RoleNotHeld"


# --- edges the mutation run (scripts/mutate.py lifecycle/authority.py) found untested ---


def test_roles_of_is_one_persons_roles_in_force() -> None:
    r = reg(held("ana", "head"), held("bo", "host"), held("ana", "deputy", NOW + DAY))
    assert au.roles_of(r, "ana", NOW) == {"head"}
    assert au.roles_of(r, "cy", NOW) == set()


def test_why_a_delegation_does_not_cover_says_which_and_when() -> None:
    t = format_timestamp
    r = reg(held("bruno", "head"), held("cleo", "head"),
            deleg("cleo", "head", "dana"), deleg("bruno", "host", "dana"), deleg("bruno", "head", "eve"))
    # another delegator's, another role's and another delegate's delegations are not dana's from bruno
    assert au.resolve(r, "dana", "head", NOW, on_behalf_of="bruno").why == \
        "dana holds no delegation of role 'head' from bruno"
    # the last one made is the one explained
    r = reg(held("bruno", "head"), deleg("bruno", "head", "dana", NOW - 3 * DAY, NOW - 2 * DAY),
            deleg("bruno", "head", "dana", NOW + DAY, NOW + 2 * DAY))
    assert au.resolve(r, "dana", "head", NOW, on_behalf_of="bruno").why == (
        f"dana's delegation of role 'head' from bruno is in force from {t(NOW + DAY)} until {t(NOW + 2 * DAY)}, "
        f"not at {t(NOW)}")
    r = reg(held("bruno", "head"), deleg("bruno", "head", "dana", gates=["g1", "g2"]))
    assert au.resolve(r, "dana", "head", NOW, kind="grant", on_behalf_of="bruno").why == \
        "dana's delegation of role 'head' from bruno covers only votes and waivers on gates g1, g2"
    r = reg(held("bruno", "head", until=NOW), deleg("bruno", "head", "dana"))
    assert au.resolve(r, "dana", "head", NOW, on_behalf_of="bruno").why == \
        "bruno no longer holds role 'head', so dana cannot act for them under it"


def test_why_an_assignment_does_not_hold_names_the_latest_end() -> None:
    r = reg(held("ana", "head", NOW - 5 * DAY, NOW - 3 * DAY), held("ana", "head", NOW - 2 * DAY, NOW - DAY),
            held("ana", "head", NOW - 9 * DAY, NOW - 8 * DAY))
    assert au.resolve(r, "ana", "head", NOW).why == \
        f"ana's assignment of role 'head' ended at {format_timestamp(NOW - DAY)}"


def test_a_change_made_through_a_delegation_records_the_principal() -> None:
    r = reg(held("cora", "coordinator"), deleg("cora", "coordinator", "dana"))
    ch = au.grant(r, COORD, ROLES, by="dana", by_role="coordinator", person="ana", role="head", now=NOW)
    assert (ch.audit[0].payload["by"], ch.audit[0].payload["by_for"]) == ("dana", "cora")
    direct = au.grant(r, COORD, ROLES, by="cora", by_role="coordinator", person="ana", role="head", now=NOW)
    assert "by_for" not in direct.audit[0].payload


def test_ids_are_checked_before_the_plan_is_known() -> None:
    with pytest.raises(InvalidInput) as info:
        au.grant(reg(), COORD, None, by="root", by_role=None, person="ana", role="no spaces", now=NOW)
    assert info.value.field == "role"
    with pytest.raises(InvalidInput) as info:
        au.delegate(reg(held("bruno", "deputy")), GATES, by="bruno", role="deputy", to="no spaces",
                    until_us=NOW + DAY, now=NOW)
    assert info.value.field == "to"


def test_a_delegation_ending_now_has_ended_and_who_ended_one_is_recorded() -> None:
    r = reg(held("cora", "coordinator"), held("bruno", "deputy"), deleg("bruno", "deputy", "dana", NOW - DAY, NOW))
    assert refusal(au.end_delegation, r, COORD, by="bruno", by_role=None, seq=3, now=NOW) == "NoActiveAssignment"
    r = reg(held("cora", "coordinator"), held("bruno", "deputy"), deleg("bruno", "deputy", "dana"))

    def who(**kw: Any) -> dict[str, Any]:
        p = au.end_delegation(r, COORD, seq=3, now=NOW, **kw).audit[0].payload
        return {k: p[k] for k in ("by", "by_role", "as", "operator") if k in p}

    assert who(by="bruno", by_role=None) == {"by": "bruno", "by_role": None, "as": "delegator"}
    assert who(by="cora", by_role="coordinator") == {"by": "cora", "by_role": "coordinator"}
    assert who(by="root", by_role=None, operator=True) == {"by": "root", "by_role": None, "operator": True}


def test_an_import_item_with_an_unreadable_time_still_reports_its_other_problems() -> None:
    items = [{"person": "ana", "role": "chef", "until": "yesterday"},
             {"person": "bo", "role": "head", "from": format_timestamp(NOW + DAY), "until": format_timestamp(NOW)}]
    with pytest.raises(au.ImportRejected) as info:
        au.import_assignments(reg(held("cora", "coordinator")), COORD, ROLES, items, by="cora", by_role="coordinator",
                              now=NOW)
    assert [p for p, _ in info.value.problems] == ["[0].until", "[0].role", "[1].until"]


def test_an_import_item_with_an_unreadable_until_still_reports_a_from_in_the_past() -> None:
    items = [{"person": "ana", "role": "head", "from": format_timestamp(NOW - DAY), "until": "tomorrow"}]
    with pytest.raises(au.ImportRejected) as info:
        au.import_assignments(reg(held("cora", "coordinator")), COORD, ROLES, items, by="cora", by_role="coordinator",
                              now=NOW)
    assert [p for p, _ in info.value.problems] == ["[0].until", "[0].from"]


def test_an_assignment_ended_the_instant_it_began_is_explained_as_ended() -> None:
    # end_role at the instant of the grant stores until == from (store/register.py)
    r = reg(held("ana", "head", NOW, NOW))
    assert au.resolve(r, "ana", "head", NOW).why == f"ana's assignment of role 'head' ended at {format_timestamp(NOW)}"
