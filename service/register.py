"""The role register as the service runs it (CONTRACT section 5): grants, ends, delegations and
imports, each checked by lifecycle.authority on the register as stored and written with its
audit entry in one transaction, then sent to the mission's workflows before the change returns.

The push: the new register (its version one higher) goes by an awaited `set_register` update
to the mission workflow first, then to each phase it runs; a phase the mission starts later
takes the mission's copy, and a workflow ignores a copy older than its own. So when a change
has returned, every act a workflow decides resolves with it, at the workflow's own instant.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from lifecycle import authority as au
from lifecycle import gate as lc
from schemas.ids import mission_workflow_id, phase_workflow_id
from schemas.register import Assignment, Register, RegisterChange
from store import now_us

from .errors import Caller, Refused
from .temporal import Gone, mission_status, update

if TYPE_CHECKING:
    from rules.plan import LoadedPlan

    from .core import Service

__all__ = ["Roles", "plan_roles", "resolve_act"]

log = logging.getLogger("exitgate.service")


def resolve_act(caller: Caller, role: str, reg: Register, *, kind: au.ActKind, gate: str | None = None,
                on_behalf_of: str | None = None, at: int | None = None) -> lc.Act:
    """The act as the service checks it now (`at`: the service's clock), where no workflow can
    (the workflow resolves it again, at its own instant, when it decides)."""
    return au.resolve(reg, caller.name, role, now_us() if at is None else at, kind=kind, gate=gate,
                      on_behalf_of=on_behalf_of)


def _coord(plan: LoadedPlan | None) -> list[str]:
    return plan.model.coordinators if plan is not None else []


def plan_roles(plan: LoadedPlan | None) -> set[str] | None:
    """Every role the plan names (None before the mission has a plan: an operator naming the
    first coordinator)."""
    if plan is None:
        return None
    roles = set(plan.model.coordinators)
    for ph in plan.model.phases:
        for g in ph.gates:
            a = g.approval
            roles |= set(a.roles) | set(a.waiver_roles or ()) | set(a.veto_roles or ())
    return roles


class Roles:
    """`Service.roles`: the register of each mission, read and changed."""

    def __init__(self, svc: Service):
        self.svc = svc

    # -- reading ---------------------------------------------------------------------------------

    async def register(self, mission: str) -> Register:
        await self.svc._plan(mission)
        return await asyncio.to_thread(self.svc.store.role_register, mission)

    async def current(self, mission: str) -> Register:
        """The register as stored now (empty while nobody has been granted anything)."""
        return await asyncio.to_thread(self.svc.store.role_register, mission)

    async def may_act_as(self, mission: str, person: str, roles: list[str], *, kind: au.ActKind = "vote",
                         gate: str | None = None) -> list[str]:
        """Of `roles`, those `person` holds now, directly or by a delegation covering the act."""
        reg = await self.current(mission)
        now = self.svc.clock()
        return [r for r in roles if au.resolve(reg, person, r, now, kind=kind, gate=gate).held]

    async def holders(self, mission: str, at: int | None = None) -> list[Assignment]:
        """Who holds what now, or held what at `at`."""
        await self.svc._plan(mission)
        return await asyncio.to_thread(self.svc.store.role_holders, mission, self.svc.clock() if at is None else at)

    # -- changing --------------------------------------------------------------------------------

    async def grant(self, mission: str, caller: Caller, by_role: str | None, person: str, role: str, *,
                    from_us: int | None = None, until_us: int | None = None, reason: str = "") -> Register:
        return await self._change("grant", mission, caller, by_role, {"person": person, "role": role},
                                  lambda plan, reg, now: au.grant(
                                      reg, _coord(plan), plan_roles(plan), by=caller.name, by_role=by_role,
                                      person=person, role=role, from_us=from_us, until_us=until_us, reason=reason,
                                      now=now))

    async def end_role(self, mission: str, caller: Caller, by_role: str | None, person: str, role: str,
                       reason: str = "") -> Register:
        return await self._change("end_role", mission, caller, by_role, {"person": person, "role": role},
                                  lambda plan, reg, now: au.end_role(
                                      reg, _coord(plan), by=caller.name, by_role=by_role, person=person,
                                      role=role, reason=reason, now=now))

    async def delegate(self, mission: str, caller: Caller, role: str, to: str, *, until_us: int | None,
                       from_us: int | None = None, gates: list[str] | None = None, reason: str = "") -> Register:
        return await self._change("delegate", mission, caller, role, {"role": role, "to": to, "gates": gates},
                                  lambda plan, reg, now: au.delegate(
                                      reg, list(plan.gates) if plan else [], by=caller.name, role=role, to=to, until_us=until_us,
                                      from_us=from_us, gates=gates, reason=reason, now=now))

    async def end_delegation(self, mission: str, caller: Caller, by_role: str | None, seq: int,
                             reason: str = "") -> Register:
        return await self._change("end_delegation", mission, caller, by_role, {"delegation": seq},
                                  lambda plan, reg, now: au.end_delegation(
                                      reg, _coord(plan), by=caller.name, by_role=by_role, seq=seq,
                                      reason=reason, now=now, operator=caller.operator))

    async def import_assignments(self, mission: str, caller: Caller, by_role: str | None, items: Any) -> Register:
        """All or nothing: a bad item refuses the whole import, every problem named by index
        and field (`Refused.problems`)."""
        return await self._change("roles_import", mission, caller, by_role,
                                  {"items": len(items) if isinstance(items, list) else None},
                                  lambda plan, reg, now: au.import_assignments(
                                      reg, _coord(plan), plan_roles(plan), items, by=caller.name,
                                      by_role=by_role, now=now))

    async def _change(self, kind: str, mission: str, caller: Caller, by_role: str | None, details: dict[str, Any],
                      decide: Callable[[LoadedPlan | None, Register, int], RegisterChange]) -> Register:
        async def op() -> Register:
            plan = await self.svc.plan_for_mission(mission)
            if plan is None and not (caller.operator and kind in ("grant", "roles_import")):
                raise Refused("UnknownMission", f"unknown mission {mission!r}: load its plan first (an operator "
                                                "may name its first coordinator before: roles grant --operator)")
            if caller.kind != "person":
                raise Refused("RoleNotHeld", f"system {caller.name!r} holds no role; the register is changed by "
                                             "people")
            if by_role is None and not caller.operator and kind not in ("delegate", "end_delegation"):
                raise Refused("RoleNotHeld", f"{caller.name} names no role: only an operator with access to the "
                                             "store changes the register without one")

            def run() -> Register:
                return self.svc.store.role_register_change(mission, lambda reg: decide(plan, reg, self.svc.clock()))

            try:
                reg = await asyncio.to_thread(run)
            except au.ImportRejected as exc:
                raise Refused("InvalidInput", f"the import is refused whole: {exc}", "items",
                              problems=exc.problems) from None
            await self.push(mission, reg)
            return reg
        return await self.svc._act(f"{kind}", caller, {"mission": mission, "by_role": by_role, **details}, op)

    # -- telling the workflows -------------------------------------------------------------------

    async def adopt(self, mission: str) -> None:
        """Give the register to a mission whose workflows started before there was one (their
        acts would otherwise be checked against no register at all): from now on they resolve
        every act with it, like any other."""
        log.info("mission %s: its workflows had no role register; sending version %s", mission,
                 (reg := await self.current(mission)).version)
        await self.push(mission, reg)

    async def push(self, mission: str, reg: Register) -> None:
        """Send the register to the mission workflow, then to every phase it runs, awaited."""
        client = self.svc.client
        if client is None:
            return
        try:
            await update(client, mission_workflow_id(mission), "set_register", reg, int)
        except Gone:
            return  # not started: the start takes the register in its input
        ms = await mission_status(client, mission)
        for rec in ms.phases if ms is not None else []:
            if rec.state != "running":
                continue
            with contextlib.suppress(Gone):  # completed meanwhile: nothing left to decide in it
                await update(client, phase_workflow_id(mission, rec.id), "set_register", reg, int)

