"""The chaos run's clients: evidence posters and approvers over HTTP, as real systems behave.

Every request has a timeout; one that errors, times out or answers 5xx is sent again, the
same body (the same record ids, the same digest), until the client's deadline. What was
acknowledged is logged: records answered 2xx as stored or duplicate, approvals answered 200.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx
from chaos_script import APPROVERS, PROBER, QUORUM, Script

__all__ = ["Acks", "Api", "approver", "poster"]


@dataclass
class ApprovalAck:
    person: str
    gate: str
    digest: str
    first_sent_us: int  # the first attempt's send time (wall clock, microseconds)


@dataclass
class Acks:
    records: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> record as sent
    acked_us: dict[str, int] = field(default_factory=dict)  # id -> when first acknowledged
    probes_posted: int = 0
    approvals: list[ApprovalAck] = field(default_factory=list)
    # (person, gate, digest) -> first send time of any attempt, acknowledged or not
    attempts: dict[tuple[str, str, str], int] = field(default_factory=dict)
    stats: Counter[str] = field(default_factory=Counter)
    unexpected: list[str] = field(default_factory=list)  # answers no correct server gives


def wall_us() -> int:
    return time.time_ns() // 1000


@dataclass
class Api:
    base: str
    keys: dict[str, str]  # person or "feed" -> API key
    timeout_s: float
    deadline: float  # monotonic: past it, a client gives up retrying
    acks: Acks
    client: httpx.AsyncClient = field(default_factory=lambda: httpx.AsyncClient(http2=False))

    async def call(self, who: str, method: str, path: str, body: Any = None) -> httpx.Response | None:
        """Send until answered below 500 or the deadline passes (None then)."""
        delay = 0.1
        while True:
            try:
                r = await self.client.request(method, self.base + path, json=body, timeout=self.timeout_s,
                                              headers={"Authorization": f"Bearer {self.keys[who]}"})
                if r.status_code < 500 and r.status_code != 429:
                    return r
                self.acks.stats[f"http_{r.status_code}"] += 1
            except httpx.TimeoutException:
                self.acks.stats["timeouts"] += 1
            except httpx.TransportError:
                self.acks.stats["connection_errors"] += 1
            if time.monotonic() + delay > self.deadline:
                self.acks.stats["gave_up"] += 1
                return None
            await asyncio.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, 2.0)

    async def aclose(self) -> None:
        await self.client.aclose()


async def post(api: Api, mission: str, recs: list[dict[str, Any]]) -> bool:
    """One request (a single record, or a batch); True when every record was acknowledged."""
    body: Any = recs[0] if len(recs) == 1 else recs
    resp = await api.call("feed", "POST", f"/v1/missions/{mission}/evidence", body)
    api.acks.stats["evidence_posts"] += 1
    if resp is None:
        return False
    if resp.status_code != 200:
        api.acks.unexpected.append(f"evidence POST answered {resp.status_code}: {resp.text[:300]}")
        return False
    now = wall_us()
    by_id = {rec["id"]: rec for rec in recs}
    ok = 0
    for res in resp.json()["results"]:
        if res["status"] in ("stored", "duplicate") and res["id"] in by_id:
            api.acks.records[res["id"]] = by_id[res["id"]]
            api.acks.acked_us.setdefault(res["id"], now)
            api.acks.stats[f"records_{res['status']}"] += 1
            ok += 1
        else:
            api.acks.unexpected.append(f"record {res.get('id')} answered {res['status']}: {res.get('errors')}")
    return ok == len(recs)


async def poster(api: Api, script: Script, lane: list[int], pace_s: float, rng: random.Random) -> None:
    for r in lane:
        await post(api, script.mission, [script.records[i] for i in script.requests[r]])
        await asyncio.sleep(pace_s * (0.5 + rng.random()))


async def ensure_probe(api: Api, script: Script) -> None:
    """A probe record is part of every run's evidence, whether or not bob got to use one."""
    if not api.acks.probes_posted and await post(api, script.mission, script.probes[:1]):
        api.acks.probes_posted = 1


async def approve_once(api: Api, mission: str, person: str, gate: str, probe: Script | None = None) -> bool:
    """GET the gate; approve it on its digest if it awaits approval and the person's vote is not
    counted. True when an approval was acknowledged. With `probe` (bob on g-steady in the
    storm): only as the vote that completes the quorum, storing the next probe record in between."""
    role = APPROVERS[person][0]
    resp = await api.call(person, "GET", f"/v1/missions/{mission}/gates/{gate}")
    if resp is None or resp.status_code != 200:
        if resp is not None:
            api.acks.unexpected.append(f"GET gate {gate} answered {resp.status_code}: {resp.text[:300]}")
        return False
    view = resp.json()
    ev = view.get("evaluation") or {}
    digest = ev.get("digest")
    if view["state"] != "awaiting_approval" or not digest or any(a["person"] == person for a in view["approvals"]):
        return False
    if probe is not None and api.acks.probes_posted < len(probe.probes):
        if len(view["approvals"]) + 1 < QUORUM:
            return False
        if not await post(api, mission, [probe.probes[api.acks.probes_posted]]):
            return False
        api.acks.probes_posted += 1
    sent = wall_us()
    api.acks.attempts.setdefault((person, gate, digest), sent)
    resp = await api.call(person, "POST", f"/v1/missions/{mission}/gates/{gate}/approve",
                          {"digest": digest, "role": role, "comment": "chaos"})
    if resp is None:
        return False
    if resp.status_code == 200:
        api.acks.approvals.append(ApprovalAck(person, gate, digest, api.acks.attempts[(person, gate, digest)]))
        api.acks.stats["approvals_acknowledged"] += 1
        return True
    if resp.status_code == 409:  # stale digest, already voted (a retry of one that went through), ...
        api.acks.stats["approvals_refused"] += 1
        return False
    api.acks.unexpected.append(f"approve {gate} by {person} answered {resp.status_code}: {resp.text[:300]}")
    return False


async def approver(api: Api, script: Script, person: str, gates: tuple[str, ...], stop: asyncio.Event,
                   rng: random.Random) -> None:
    while not stop.is_set():
        for gate in gates:
            await approve_once(api, script.mission, person, gate,
                               script if (person, gate) == PROBER else None)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=0.2 + rng.random() * 0.4)
