"""Fuzz run: evidence records, plans and action bodies, drawn from the published JSON Schemas
(hypothesis-jsonschema) and made hostile by hand, sent to the running API of `exitgate dev`.

    .venv/bin/python scripts/fuzz.py [--quick] [--json] [--seed S] [--records N]

It starts `exitgate dev` on free ports in a temporary folder (SQLite store), creates a
coordinator, an approver and a system key, loads the lakeland plan of tests/api/conftest.py
and starts its mission. Then it sends, in batches (JSON arrays and JSON Lines):

- evidence records: good ones (which must be stored), schema-drawn ones (mostly refused:
  random ids, missions, timestamps, values), and good ones with one field made hostile (a lone
  surrogate, NaN, Infinity, integers beyond 2**53, 1e400, arrays and objects nested 3,000 deep,
  repeated keys, control characters, 5 MB strings, wrong types, impossible dates) and lines
  of invalid UTF-8;
- plans: the lakeland plan with one part (an indicator, a benchmark, the approval, the mission,
  the timers) replaced by one drawn from schemas/exit-plan.schema.json, or one value made
  hostile, or its rule nested 3,000 deep;
- action bodies (approve, reject, waive, withdraw, start, reopen, revoke, migrate): drawn from
  the request schemas of the API's own /openapi.json, or a valid body with one value made
  hostile, or a key repeated.

What must hold, counted as violations: no answer 5xx (`server_error`); every 4xx says what was
wrong (`unnamed_4xx`: a 422 names the field in detail[].loc, a refused record names its field,
other 4xx carry a detail); nothing stored from a record answered rejected (`rejected_stored`),
and the store holds exactly the records answered stored (`store_count`); every good record of
a mixed batch is stored as sent (`good_not_stored`); no record holding a value no correct
server takes is stored (`hostile_stored`). Exit code 1 on any violation.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from fuzz_inputs import (
    BIG,
    draw_examples,
    hostile_values,
    inline,
    leaf_paths,
    obj_text,
    published,
    repeated_key,
    with_hostile,
)

from tests.api.conftest import MISSION, PLAN, record
from tests.devstack import DevStack, dev_stack

VIOLATIONS = ("server_error", "unnamed_4xx", "rejected_stored", "store_count", "good_not_stored", "hostile_stored")
GOOD_VALUES = {"security.incidents": lambda r: r.randint(0, 40), "police.coverage": lambda r: round(r.uniform(0, 100), 3)}


@dataclass
class Tally:
    requests: Counter[str] = field(default_factory=Counter)  # kind -> requests
    status: Counter[str] = field(default_factory=Counter)  # "kind status" -> count
    records: Counter[str] = field(default_factory=Counter)  # sent, stored, rejected, duplicate, by class
    violations: Counter[str] = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=dict)
    stored: dict[str, Any] = field(default_factory=dict)  # id -> value, as answered stored
    rejected: set[str] = field(default_factory=set)
    good: dict[str, Any] = field(default_factory=dict)  # id -> value: must be stored
    hostile: set[str] = field(default_factory=set)  # ids whose record holds an invalid value
    keep: Path | None = None  # --keep: where the stack's folder and every 5xx request are kept

    def bad(self, kind: str, what: str) -> None:
        self.violations[kind] += 1
        self.examples.setdefault(kind, [])
        if len(self.examples[kind]) < 5:
            self.examples[kind].append(what[:400])


def _names_what(r: httpx.Response) -> bool:
    """A 4xx that says what was wrong: the field for a 422, a detail otherwise."""
    try:
        body = r.json()
    except ValueError:
        return False
    if r.status_code == 422:
        detail = body.get("detail") if isinstance(body, dict) else None
        return isinstance(detail, list) and bool(detail) and all(
            isinstance(d, dict) and d.get("loc") and d.get("msg") for d in detail)
    return isinstance(body, dict) and bool(body.get("detail") or body.get("type"))


def check_answer(t: Tally, kind: str, r: httpx.Response, sent: str) -> None:
    t.requests[kind] += 1
    t.status[f"{kind} {r.status_code}"] += 1
    if r.status_code >= 500:
        t.bad("server_error", f"{kind} {r.status_code}: {r.text[:200]} <- {sent[:200]}")
        if t.keep is not None:  # the whole request, to replay it
            n = t.violations["server_error"]
            (t.keep / f"5xx-{n}.request").write_bytes(f"{r.request.method} {r.request.url}\n".encode() + r.request.content)
    elif r.status_code >= 400 and not _names_what(r):
        t.bad("unnamed_4xx", f"{kind} {r.status_code}: {r.text[:200]} <- {sent[:200]}")


# --- evidence -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sent:
    rid: str | None  # the id the record carries, if it is one we can look up
    text: str | bytes  # the record as JSON text (bytes: a line that is not UTF-8)
    cls: str  # good | schema | hostile | utf8
    value: Any = None
    invalid: bool = False


class Evidence:
    def __init__(self, rng: random.Random, seed: int, n_schema: int):
        self.rng = rng
        self.n = 0
        self.schema = draw_examples(published("evidence"), n_schema, seed)
        self.hostile = hostile_values(rng)

    def _id(self, cls: str) -> str:
        self.n += 1
        return f"fz-{cls}-{self.n}"

    def good(self) -> Sent:
        rid = self._id("g")
        ind = self.rng.choice(list(GOOD_VALUES))
        value = GOOD_VALUES[ind](self.rng)
        day = self.rng.randint(1, 28)
        return Sent(rid, json.dumps(record(rid, ind, value, observed_at=f"2025-02-{day:02d}T00:00:00Z")), "good", value)

    def drawn(self) -> Sent:
        doc = dict(self.rng.choice(self.schema))
        rid = self._id("s")
        doc["id"] = rid
        if self.rng.random() < 0.6:  # mostly the right mission and a known indicator, to go deeper
            doc["mission"] = MISSION
            doc["indicator"] = self.rng.choice(list(GOOD_VALUES))
        doc.pop("supersedes", None)  # a correction of a random id is refused for that alone
        return Sent(rid, json.dumps(doc), "schema")

    def hostile_one(self, big: bool = False) -> Sent:
        base = json.loads(self.good().text)
        rid = self._id("h")
        base["id"] = rid
        h = BIG if big else self.rng.choice(self.hostile)
        roll = self.rng.random()
        if roll < 0.08:
            text = repeated_key(base, "value", 7)  # a repeated key: refused (CONTRACT section 0)
            return Sent(rid, text, "hostile", invalid=True)
        target: list[str | int] = self.rng.choice([["value"], ["value"], ["source"], ["observed_at"], ["indicator"],
                                                   ["provenance"], ["provenance", "note"], ["reported_at"]])
        if target[0] == "provenance" and len(target) == 2:
            base["provenance"] = {"note": None}
        text = with_hostile(base, target, h)
        # An invalid value anywhere is a refusal; elsewhere a value may be fine (a string in provenance).
        invalid = h.invalid and (target == ["value"] or h.name.startswith("lone") or h.name in ("NaN", "Infinity",
                                                                                                "-Infinity"))
        return Sent(rid, text, "hostile", invalid=invalid)

    def bad_utf8(self) -> Sent:
        rid = self._id("u")
        text = json.dumps(record(rid, value=1)).encode().replace(b'"jmac"', b'"jm\xff\xfeac"')
        return Sent(rid, text, "utf8", invalid=True)

    def batch(self, size: int) -> list[Sent]:
        out = []
        for _ in range(size):
            roll = self.rng.random()
            out.append(self.good() if roll < 0.35 else self.drawn() if roll < 0.6 else self.hostile_one())
        return out


def send_batch(c: httpx.Client, t: Tally, batch: list[Sent], jsonl: bool) -> None:
    if jsonl:
        body = b"\n".join(s.text if isinstance(s.text, bytes) else s.text.encode("utf-8", "surrogatepass")
                          for s in batch)
        headers = {"Content-Type": "application/x-ndjson"}
    else:
        body = ("[" + ", ".join(str(s.text) for s in batch) + "]").encode("utf-8", "surrogatepass")
        headers = {"Content-Type": "application/json"}
    r = c.post(f"/v1/missions/{MISSION}/evidence", content=body, headers=headers)
    check_answer(t, "evidence", r, body[:300].decode("utf-8", "replace"))
    for s in batch:
        t.records[f"sent {s.cls}"] += 1
        if s.invalid and s.rid:
            t.hostile.add(s.rid)
    if r.status_code != 200:
        if any(s.cls == "good" for s in batch) and r.status_code < 500:
            # A whole body refused (it is not JSON at all: a deep array may be): its good records
            # were not taken, and are not counted as lost; the batch's answer said so.
            t.records["in refused bodies"] += len(batch)
        return
    results = r.json()["results"]
    if len(results) != len(batch):
        t.bad("unnamed_4xx", f"{len(batch)} records sent, {len(results)} results")
        return
    for s, res in zip(batch, results, strict=True):
        status = res["status"]
        t.records[f"{status} {s.cls}"] += 1
        if status == "rejected":
            if not res["errors"] or not all(e.get("field") and e.get("reason") for e in res["errors"]):
                t.bad("unnamed_4xx", f"record rejected without its field: {res}")
            if s.rid:
                t.rejected.add(s.rid)
        elif status == "stored" and s.rid:
            t.stored[s.rid] = s.value
        if s.cls == "good":
            if status != "stored":
                t.bad("good_not_stored", f"{s.rid}: answered {res}")
            elif s.rid is not None:
                t.good[s.rid] = s.value


def check_store(st: DevStack, t: Tally, data: Path) -> None:
    from store import Store

    with Store.from_url(f"sqlite:///{data / 'exitgate.sqlite'}", migrate_db=False) as store:
        found = store.records_by_id(MISSION, [*t.rejected, *t.good, *t.hostile])
        count = store.evidence_count(MISSION)
    answered = sum(n for k, n in t.records.items() if k.startswith("stored "))
    if count != answered + 2:  # the two records the setup stored
        t.bad("store_count", f"{count} records stored, {answered} + 2 answered stored")
    for rid in t.rejected:
        if rid in found:
            t.bad("rejected_stored", f"{rid} was answered rejected and is stored")
    for rid in t.hostile:
        if rid in found:
            t.bad("hostile_stored", f"{rid} holds a value no correct server takes, and is stored")
    for rid, value in t.good.items():
        rec = found.get(rid)
        if rec is None or rec.value != value:
            t.bad("good_not_stored", f"{rid}: {value!r} answered stored, store has {rec and rec.value!r}")


# --- plans ------------------------------------------------------------------------------------


class Plans:
    PARTS: ClassVar[dict[str, tuple[list[str | int], int]]] = {"Indicator": (["indicators", 1], 1), "BenchmarkNode": (["phases", 0, "gates", 0, "rule", "all", 0], 1),
             "Approval": (["phases", 0, "gates", 0, "approval"], 1), "Mission": (["mission"], 1),
             "Timers": (["phases", 0, "gates", 0, "timers"], 1)}

    def __init__(self, rng: random.Random, seed: int, per_part: int):
        self.rng = rng
        doc = json.loads((Path(__file__).resolve().parent.parent / "schemas" / "exit-plan.schema.json").read_text())
        defs = doc["$defs"]
        self.parts = {name: draw_examples(inline(defs[name], defs, depth), per_part, seed)
                      for name, (_, depth) in self.PARTS.items()}
        self.hostile = hostile_values(rng)

    def one(self) -> tuple[str, str]:
        base = json.loads(json.dumps(PLAN))
        base["plan"] = f"fuzz-{self.rng.randint(0, 10**9)}"
        roll = self.rng.random()
        if roll < 0.5:
            name = self.rng.choice(list(self.parts))
            path = self.PARTS[name][0]
            node: Any = base
            for p in path[:-1]:
                node = node[p]
            node[path[-1]] = self.rng.choice(self.parts[name])
            return f"drawn {name}", json.dumps(base)
        if roll < 0.9:
            path = self.rng.choice(leaf_paths(base))
            h = self.rng.choice(self.hostile)
            return f"hostile {h.name}", with_hostile(base, path, h)
        if roll < 0.95:
            deep = self.rng.randint(200, 3000)
            rule = json.dumps(base["phases"][0]["gates"][0]["rule"])
            base["phases"][0]["gates"][0]["rule"] = "@RULE@"
            return "deep rule", json.dumps(base).replace('"@RULE@"', '{"not": ' * deep + rule + "}" * deep)
        return "repeated key", repeated_key(base, "version", "2")


# --- action bodies --------------------------------------------------------------------------


def action_routes(spec: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(path template, body schema inlined) of every POST taking a JSON body of its own model."""
    comps = spec["components"]["schemas"]
    out = []
    for path, ops in spec["paths"].items():
        body = ops.get("post", {}).get("requestBody", {}).get("content", {}).get("application/json", {})
        ref = body.get("schema", {}).get("$ref")
        if ref and path.startswith("/v1/missions/{mission}/"):
            out.append((path, inline({"$ref": ref}, comps)))
    return out


class Actions:
    def __init__(self, rng: random.Random, seed: int, spec: dict[str, Any], per_route: int):
        self.rng = rng
        self.routes = action_routes(spec)
        self.drawn = {p: draw_examples(s, per_route, seed) for p, s in self.routes}
        self.hostile = hostile_values(rng)

    def one(self) -> tuple[str, str, str]:
        path, _ = self.rng.choice(self.routes)
        url = (path.replace("{mission}", MISSION).replace("{gate}", self.rng.choice(["g1", "g2", "nope"]))
               .replace("{phase}", self.rng.choice(["p1", "p2"])).replace("{benchmark}", "incidents-low"))
        examples = self.drawn[path]
        base = dict(self.rng.choice(examples)) if examples else {}
        roll = self.rng.random()
        if roll < 0.5 or not base:
            return path, url, json.dumps(base)
        if roll < 0.9:
            key = self.rng.choice(list(base))
            h = BIG if self.rng.random() < 0.02 else self.rng.choice(self.hostile)
            return path, url, with_hostile(base, [key], h)
        key = self.rng.choice(list(base))
        return path, url, obj_text([(k, json.dumps(v)) for k, v in base.items()] + [(key, json.dumps(base[key]))])


# --- the run ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sizes:
    records: int
    plans: int
    actions: int
    big: int  # records holding a 5 MB string (each in a batch of its own, with one good record)


def setup(st: DevStack) -> dict[str, str]:
    # Keys say who a person is; what they may do is the mission's register, named here by an
    # operator before the plan is loaded (as the first coordinator always is).
    for person, role in (("dave", "coordinator"), ("alice", "mission_head")):
        st.cli("roles", "grant", MISSION, person, role, "--as", "fuzz-operator", "--operator")
    keys = {"dave": st.cli("api-key", "create", "--person", "dave").stdout.strip(),
            "alice": st.cli("api-key", "create", "--person", "alice").stdout.strip(),
            "jmac": st.cli("api-key", "create", "--system", "jmac", "--mission", MISSION,
                           "--sources", "jmac,unpol").stdout.strip()}
    with httpx.Client(base_url=st.base, headers={"X-API-Key": keys["dave"]}, timeout=60) as c:
        assert c.post("/v1/plans", json=PLAN).status_code == 200
        assert c.post(f"/v1/missions/{MISSION}/start", json={"role": "coordinator"}).status_code == 200
    with httpx.Client(base_url=st.base, headers={"X-API-Key": keys["jmac"]}, timeout=60) as c:
        r = c.post(f"/v1/missions/{MISSION}/evidence", json=[record("setup-1"), record("setup-2", "police.coverage", 60.0)])
        assert r.status_code == 200 and r.json()["stored"] == 2, r.text
    return keys


def fuzz(sizes: Sizes, seed: int, say: Any, keep: Path | None = None) -> dict[str, Any]:
    rng = random.Random(seed)
    t = Tally(keep=keep)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="exitgate-fuzz-") as scratch:
        tmp = str(keep / "stack") if keep is not None else scratch
        if keep is not None:
            (keep / "stack").mkdir(parents=True, exist_ok=False)
        return _fuzz(sizes, seed, say, rng, t, started, tmp)


def _fuzz(sizes: Sizes, seed: int, say: Any, rng: random.Random, t: Tally, started: float, tmp: str) -> dict[str, Any]:
    with dev_stack(Path(tmp)) as st:
        keys = setup(st)
        say(f"stack up at {st.base}; drawing examples from the schemas")
        # Drawing is the slow part (hypothesis-jsonschema): a pool of examples, reused at random.
        ev = Evidence(rng, seed, max(50, min(1000, sizes.records // 4)))
        plans = Plans(rng, seed, max(10, min(60, sizes.plans // 5)))
        with httpx.Client(base_url=st.base, timeout=120) as c:
            spec = c.get("/openapi.json").json()
        actions = Actions(rng, seed, spec, max(10, min(100, sizes.actions // 8)))
        drawn_at = time.monotonic()
        say(f"examples drawn in {drawn_at - started:.0f} s; sending")
        with httpx.Client(base_url=st.base, headers={"X-API-Key": keys["jmac"]}, timeout=120) as c:
            sent = 0
            while sent < sizes.records:
                size = min(sizes.records - sent, rng.randint(1, 40))
                batch = ev.batch(size)
                if rng.random() < 0.15:
                    batch.insert(rng.randrange(len(batch) + 1), ev.bad_utf8())
                jsonl = any(isinstance(s.text, bytes) for s in batch) or rng.random() < 0.4
                send_batch(c, t, batch, jsonl)
                sent += len(batch)
            for _ in range(sizes.big):
                send_batch(c, t, [ev.good(), ev.hostile_one(big=True)], jsonl=rng.random() < 0.5)
        say(f"{sum(n for k, n in t.records.items() if k.startswith('sent'))} records sent")
        with httpx.Client(base_url=st.base, headers={"X-API-Key": keys["dave"]}, timeout=120) as c:
            for _ in range(sizes.plans):
                what, text = plans.one()
                r = c.post("/v1/plans", content=text.encode("utf-8", "surrogatepass"),
                           headers={"Content-Type": "application/json"})
                check_answer(t, "plan", r, f"{what}: {text[:200]}")
                t.status[f"plan {what.split()[0]} {r.status_code}"] += 1
        for n in range(sizes.actions):
            _, url, text = actions.one()
            who = keys["alice"] if n % 2 else keys["dave"]
            with httpx.Client(base_url=st.base, headers={"X-API-Key": who}, timeout=120) as c:
                r = c.post(url, content=text.encode("utf-8", "surrogatepass"), headers={"Content-Type": "application/json"})
            check_answer(t, "action", r, f"{url} {text[:200]}")
        check_store(st, t, Path(tmp))
    return {
        "records_sent": sum(n for k, n in t.records.items() if k.startswith("sent")),
        "plans_sent": t.requests["plan"], "action_bodies_sent": t.requests["action"],
        "requests": sum(t.requests.values()),
        "records": dict(sorted(t.records.items())),
        "status": dict(sorted(t.status.items())),
        "violations": {k: t.violations[k] for k in VIOLATIONS},
        "examples": t.examples, "seed": seed,
        "seconds": round(time.monotonic() - started, 1), "seconds_drawing": round(drawn_at - started, 1),
    }


def table(s: dict[str, Any]) -> str:
    rows = [("records sent", str(s["records_sent"])), ("plans sent", str(s["plans_sent"])),
            ("action bodies sent", str(s["action_bodies_sent"])), ("requests", str(s["requests"]))]
    rows += [(f"  {k}", str(v)) for k, v in s["records"].items()]
    rows.append(("answers", ""))
    rows += [(f"  {k}", str(v)) for k, v in s["status"].items()]
    rows.append(("violations", ""))
    rows += [(f"  {k}", str(v)) for k, v in s["violations"].items()]
    rows.append(("seconds", f"{s['seconds']} ({s['seconds_drawing']} drawing examples)"))
    width = max(len(a) for a, _ in rows)
    out = "\n".join(f"{a.ljust(width)}  {b}" for a, b in rows)
    for k, ex in s["examples"].items():
        out += f"\n{k}:\n" + "\n".join(f"  {e}" for e in ex)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="a short pass (the test command's)")
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--records", type=int, default=None, help="evidence records to send (default 10,000; --quick 400)")
    ap.add_argument("--keep", type=Path, default=None, metavar="DIR",
                    help="a new folder to keep the stack's data and logs in, and every request answered 5xx")
    args = ap.parse_args()
    sizes = Sizes(400, 40, 80, 1) if args.quick else Sizes(10_000, 600, 1500, 4)
    if args.records is not None:
        sizes = Sizes(args.records, sizes.plans, sizes.actions, sizes.big)
    t0 = time.monotonic()

    def say(text: str) -> None:
        print(f"[{time.monotonic() - t0:6.1f}s] {text}", file=sys.stderr, flush=True)

    s = fuzz(sizes, args.seed, say, args.keep)
    print(json.dumps(s) if args.json else table(s))
    return 1 if any(s["violations"].values()) else 0


if __name__ == "__main__":
    raise SystemExit(main())
