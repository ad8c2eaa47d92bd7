"""Each scenario action as the service's own operation, and its outcome for the transcript.

People act under the roles the scenario's register gives them at the action's instant: the
service is called with a `Caller` holding exactly those roles, so `RoleNotHeld` and every other
refusal is the product's (lifecycle checks in the workflows' validators, or the service's own
for gates with no running workflow). Register actions (grant, end_role, delegate) come with the
role register (CONTRACT section 5); `rehearsal.scenario` refuses them until then.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from schemas.scenario import Approve, Migrate, Reject, Reopen, RevokeWaiver, Start, Waive, Withdraw
from schemas.timefmt import format_timestamp, parse_timestamp
from service import Caller, Refused, Unavailable

if TYPE_CHECKING:
    from .runner import _Run

__all__ = ["Performer"]

# Real seconds one act may take before the rehearsal says which act did not finish.
ACT_PATIENCE_S = 60.0


class Performer:
    def __init__(self, run: _Run, shift: int):
        self.run = run
        self.shift = shift
        self.register = run.scn.doc.roles

    def held(self, person: str, at: int) -> frozenset[str]:
        return frozenset(a.role for a in self.register if a.person == person
                         and parse_timestamp(a.from_) <= at and (a.until is None or at < parse_timestamp(a.until)))

    async def perform(self, n: int, act: Any) -> dict[str, Any]:
        at = parse_timestamp(act.at)
        doc: dict[str, Any] = {"n": n, "at": act.at, "do": "start" if isinstance(act, Start) else act.do,
                               **act.model_dump(by_alias=True, exclude_none=True, exclude={"at", "do", "note"})}
        caller = Caller(act.person, "person", self.held(act.person, at))
        try:
            extra = await asyncio.wait_for(self._call(act, caller), timeout=ACT_PATIENCE_S)
        except Refused as exc:
            if exc.type == "InvalidInput":
                return {**doc, "outcome": "invalid", "field": exc.field, "reason": exc.message}
            return {**doc, "outcome": "refused", "refusal": exc.type, "reason": exc.message}
        except (TimeoutError, Unavailable) as exc:
            from .runner import RehearsalFailed

            raise RehearsalFailed(f"action {n} ({doc['do']} at {act.at}) did not finish: {exc or 'timed out'}; "
                                  "open work:\n  " + "\n  ".join(await self.run.watch.busy())) from None
        return {**doc, **extra, "outcome": "accepted"}

    async def _digest(self, act: Approve | Reject) -> str:
        if act.digest is not None:
            return act.digest
        st = await self.run.gate_state(act.gate)
        return st.digest if st is not None and st.digest else ""

    async def _call(self, act: Any, caller: Caller) -> dict[str, Any]:
        svc, mission = self.run.service, self.run.mission
        if isinstance(act, Start):
            await svc.start_mission(mission, caller, act.role)
        elif isinstance(act, Approve):
            await svc.approve(mission, act.gate, caller, act.role, await self._digest(act), act.comment)
        elif isinstance(act, Reject):
            await svc.reject(mission, act.gate, caller, act.role, await self._digest(act), act.reason)
        elif isinstance(act, Withdraw):
            await svc.withdraw(mission, act.gate, caller, act.reason)
        elif isinstance(act, Waive):
            until = format_timestamp(parse_timestamp(act.until) + self.shift) if act.until else None
            await svc.waive(mission, act.gate, caller, act.role, act.benchmark, act.justification, until)
        elif isinstance(act, RevokeWaiver):
            await svc.revoke_waiver(mission, act.gate, caller, act.role, act.benchmark, act.reason)
        elif isinstance(act, Reopen):
            await svc.reopen(mission, act.phase, caller, act.role, act.reason)
        elif isinstance(act, Migrate):
            sha = self.run.scn.migrations[act.plan].sha256
            await svc.migrate(mission, caller, act.role, sha)
            return {"plan_sha256": sha}
        else:  # pragma: no cover - rehearsal.scenario refuses the register's actions for now
            raise AssertionError(f"no operation for action {act.do!r}")
        return {}
