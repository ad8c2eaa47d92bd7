"""Each scenario action as the service's own operation, and its outcome for the transcript.

The scenario's `roles` are imported into the mission's role register before anything runs
(CONTRACT section 5), and grants, role ends and delegations change it through the service as
they would live: who holds what at an instant is the register's answer, resolved by the
workflows at their own instant, so `RoleNotHeld` and every other refusal is the product's.
"""

from __future__ import annotations

import asyncio
import re
from typing import TYPE_CHECKING, Any

from temporalio.service import RPCError

from schemas.scenario import (
    Approve,
    Assignment,
    Delegate,
    EndRole,
    Grant,
    Migrate,
    Reject,
    Reopen,
    RevokeWaiver,
    Start,
    Waive,
    Withdraw,
)
from schemas.timefmt import format_timestamp, parse_timestamp
from service import Caller, Refused, Unavailable

from .errors import RehearsalFailed

if TYPE_CHECKING:
    from .runner import _Run

__all__ = ["Performer"]

_TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,6})?(?:Z|[+-]\d\d:\d\d)")
# Real seconds one act may take before the rehearsal says which act did not finish.
ACT_PATIENCE_S = 60.0


class Performer:
    def __init__(self, run: _Run, shift: int):
        self.run = run
        self.shift = shift

    def unshifted(self, message: str) -> str:
        """The product's words with its instants on the scenario's clock ("ended at
        2423-06-01T00:00:00Z" is 2023-06-01 in the scenario)."""
        def back(m: re.Match[str]) -> str:
            us = parse_timestamp(m.group(0))
            return format_timestamp(us - self.shift) if us >= self.shift else m.group(0)
        return _TIMESTAMP.sub(back, message)

    def moved(self, text: str | None) -> int | None:
        return None if text is None else parse_timestamp(text) + self.shift

    async def seed(self, assignments: list[Assignment], first: int) -> None:
        """The register when the scenario starts, imported by an operator at its earliest
        instant (no assignment may start before the instant it is made)."""
        if not assignments:
            return
        self.run.server_now = min([first, *(parse_timestamp(a.from_) for a in assignments)]) + self.shift
        items = [{"person": a.person, "role": a.role, "from": format_timestamp(parse_timestamp(a.from_) + self.shift),
                  **({"until": format_timestamp(parse_timestamp(a.until) + self.shift)} if a.until else {}),
                  **({"reason": a.reason} if a.reason else {})} for a in assignments]
        await self.run.service.roles.import_assignments(self.run.mission, Caller("rehearsal", operator=True), None,
                                                        items)

    async def perform(self, n: int, act: Any) -> dict[str, Any]:
        doc: dict[str, Any] = {"n": n, "at": act.at, "do": "start" if isinstance(act, Start) else act.do,
                               **act.model_dump(by_alias=True, exclude_none=True, exclude={"at", "do", "note"})}
        # A person, never an operator: nobody holds a role but by the register.
        caller = Caller(getattr(act, "by", None) or act.person, "person")
        try:
            extra = await asyncio.wait_for(self._call(act, caller), timeout=ACT_PATIENCE_S)
        except Refused as exc:
            reason = self.unshifted(exc.message)
            if exc.type == "InvalidInput":
                return {**doc, "outcome": "invalid", "field": exc.field, "reason": reason}
            return {**doc, "outcome": "refused", "refusal": exc.type, "reason": reason}
        except (TimeoutError, Unavailable) as exc:
            raise RehearsalFailed(f"action {n} ({doc['do']} at {act.at}) did not finish: {exc or 'timed out'}; "
                                  "open work:\n  " + "\n  ".join(await self.run.watch.busy())) from None
        except (RuntimeError, RPCError) as exc:
            # Neither accepted nor refused: the product failed. Say where, and stop.
            raise RehearsalFailed(f"action {n} ({doc['do']} at {act.at}) failed in the service: "
                                  f"{type(exc).__name__}: {exc}") from exc
        return {**doc, **extra, "outcome": "accepted"}

    async def _digest(self, act: Approve | Reject) -> str:
        if act.digest is not None:
            return act.digest
        st = await self.run.gate_state(act.gate)
        return st.digest if st is not None and st.digest else ""

    async def _call(self, act: Any, caller: Caller) -> dict[str, Any]:
        svc, mission = self.run.service, self.run.mission
        behalf = getattr(act, "on_behalf_of", None)
        if isinstance(act, Start):
            await svc.start_mission(mission, caller, act.role)
        elif isinstance(act, Approve):
            await svc.approve(mission, act.gate, caller, act.role, await self._digest(act), act.comment, behalf)
        elif isinstance(act, Reject):
            await svc.reject(mission, act.gate, caller, act.role, await self._digest(act), act.reason, behalf)
        elif isinstance(act, Withdraw):
            await svc.withdraw(mission, act.gate, caller, act.reason, behalf)
        elif isinstance(act, Waive):
            until = format_timestamp(parse_timestamp(act.until) + self.shift) if act.until else None
            await svc.waive(mission, act.gate, caller, act.role, act.benchmark, act.justification, until, behalf)
        elif isinstance(act, RevokeWaiver):
            await svc.revoke_waiver(mission, act.gate, caller, act.role, act.benchmark, act.reason, behalf)
        elif isinstance(act, Reopen):
            await svc.reopen(mission, act.phase, caller, act.role, act.reason)
        elif isinstance(act, Migrate):
            sha = self.run.scn.migrations[act.plan].sha256
            await svc.migrate(mission, caller, act.role, sha)
            return {"plan_sha256": sha}
        elif isinstance(act, Grant):
            await svc.roles.grant(mission, caller, act.by_role, act.person, act.role, until_us=self.moved(act.until),
                                  reason=act.reason or "")
        elif isinstance(act, EndRole):
            await svc.roles.end_role(mission, caller, act.by_role, act.person, act.role, reason=act.reason or "")
        elif isinstance(act, Delegate):
            await svc.roles.delegate(mission, caller, act.role, act.to, until_us=self.moved(act.until),
                                     from_us=self.moved(act.from_), gates=act.gates, reason=act.reason or "")
        else:  # pragma: no cover - the scenario model admits no other action
            raise AssertionError(f"no operation for action {act.do!r}")
        return {}
