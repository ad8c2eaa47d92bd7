"""Chaos run: the real stack under faults, with invariants checked after every trial.

Starts the Temporal dev server, two `exitgate worker`s and one `exitgate api` as separate
processes on a fresh PostgreSQL database (127.0.0.1:5432), creates API keys with `exitgate
api-key create`, and runs N trials. Each trial loads and starts its own mission through the
HTTP API, then evidence posters and approvers work concurrently while faults strike at random
points: kill -9 of a worker, of the API, of the dev server (each restarted; the server on the
same database file), SIGSTOP then SIGCONT of the server. Afterwards (everything back, the
gates settled, waited for on conditions) the invariants of chaos_checks.py are checked. At the
end the same trial scripts run again, without faults, on a second fresh stack, and each
trial's final gate states must equal its fault-free replica's (invariant f).

    python benchmarks/chaos.py [--trials 100] [--quick] [--seed S] [--json] [--keep]

Exit code 1 when any invariant was violated. Progress goes to stderr. See docs/chaos.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from chaos_checks import INVARIANTS, Observer
from chaos_clients import Acks, Api, approve_once, approver, ensure_probe, poster
from chaos_script import APPROVERS, COORDINATOR, Fault, Script, make_script, plan_document
from chaos_stack import FAULT_KINDS, ROOT, Stack, StackError


@dataclass(frozen=True)
class Settings:
    trials: int
    seed: int
    records: int
    posters: int
    storm_s: float
    faults_per_trial: int
    request_timeout_s: float
    settle_s: float
    client_grace_s: float
    parallel_replicas: int
    concurrency: int
    keep: bool
    quick: bool
    progress: Path | None = None


@dataclass
class TrialResult:
    trial: int
    mission: str
    faults: list[Fault]
    acks: Acks
    violations: dict[str, list[str]] = field(default_factory=lambda: {k: [] for k in INVARIANTS})
    final: dict[str, Any] = field(default_factory=dict)
    unverifiable_d: int = 0
    seconds: float = 0.0


_T0 = time.monotonic()
CLI_TIMEOUT_S = 300  # one CLI command during setup; a hang still fails, with its name


def say(text: str) -> None:
    print(f"[{time.monotonic() - _T0:6.1f}s] {text}", file=sys.stderr, flush=True)


# --- setting up a stack ---

def _cli_all(stack: Stack, what: str, runs: dict[str, list[str]]) -> dict[str, str]:
    """Run `exitgate <args>` for each name, as many at once as there are CPUs; their outputs,
    or StackError naming the one that failed. All at once, five CLI processes importing the
    product on a loaded 2-core machine took over the limit (seen in a CI run at load 17)."""
    outs: dict[str, str] = {}
    pending = list(runs.items())
    width = max(1, os.cpu_count() or 1)
    while pending:
        batch, pending = pending[:width], pending[width:]
        procs = {who: subprocess.Popen([sys.executable, "-m", "cli", *args], stdout=subprocess.PIPE,
                                       stderr=subprocess.PIPE, text=True, cwd=ROOT, env={**os.environ, **stack.env})
                 for who, args in batch}
        for who, proc in procs.items():
            try:
                out, err = proc.communicate(timeout=CLI_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                for p in procs.values():
                    p.kill()
                raise StackError(f"`exitgate {what}` for {who} did not finish in {CLI_TIMEOUT_S} s") from None
            if proc.returncode != 0:
                raise StackError(f"`exitgate {what}` for {who} failed: {err.strip()}")
            outs[who] = out
    return outs


def grant_roles(stack: Stack, missions: list[str]) -> None:
    """Who holds what in each mission, imported before its plan is loaded (as an operator does)."""
    roster = [{"person": COORDINATOR, "role": "coordinator"}] + [
        {"person": p, "role": role} for p, (role, _) in APPROVERS.items()]
    path = Path(tempfile.mkdtemp(prefix="chaos-roles-")) / "roles.json"
    path.write_text(json.dumps(roster))
    _cli_all(stack, "roles import", {m: ["roles", "import", m, str(path), "--as", "chaos-operator", "--operator"]
                                     for m in missions})


def create_keys(stack: Stack, missions: list[str]) -> dict[str, str]:
    """The operator's keys, made with `exitgate api-key create` as an operator would (who holds
    which role is the register's: grant_roles)."""
    wanted = {COORDINATOR: ["--person", COORDINATOR],
              "feed": ["--system", "feed", "--mission", ",".join(missions), "--sources", "feed"]}
    wanted.update({p: ["--person", p] for p in APPROVERS})
    outs = _cli_all(stack, "api-key create", {who: ["api-key", "create", *args, "--json"] for who, args in wanted.items()})
    return {who: json.loads(out)["key"] for who, out in outs.items()}


async def open_mission(api: Api, script: Script) -> None:
    r = await api.call(COORDINATOR, "POST", "/v1/plans", plan_document(script.mission))
    if r is None or r.status_code != 200:
        raise StackError(f"loading the plan of {script.mission}: {None if r is None else (r.status_code, r.text)}")
    r = await api.call(COORDINATOR, "POST", f"/v1/missions/{script.mission}/start", {"role": "coordinator"})
    if r is None or (r.status_code != 200 and "already been started" not in r.text):
        raise StackError(f"starting {script.mission}: {None if r is None else (r.status_code, r.text)}")


# --- faults ---

async def inject(stack: Stack, faults: list[Fault], t0: float) -> None:
    """One fault at a time, each at its moment (or at once if the one before ran late)."""
    for f in sorted(faults, key=lambda f: f.at_s):
        await asyncio.sleep(max(0.0, t0 + f.at_s - time.monotonic()))
        stack.faults[f.kind] += 1
        if f.kind == "stop_server":
            stack.stop(f.target)
            await asyncio.sleep(f.hold_s)
            stack.cont(f.target)
            continue
        stack.kill(f.target)
        await asyncio.sleep(f.hold_s)
        stack.start(f.target)
        if f.kind == "kill_server":
            await asyncio.to_thread(stack.wait_port, "temporal", 120)


async def watchdog(stack: Stack, stop: asyncio.Event) -> None:
    while not stop.is_set():
        stack.revive()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=2.0)


# --- a batch of trials: their storms run together, under the faults of all of them ---

async def run_batch(cfg: Settings, stack: Stack, obs: Observer, keys: dict[str, str],
                    batch: list[tuple[int, Script]], with_faults: bool, label: str) -> list[TrialResult]:
    started = time.monotonic()
    results = [TrialResult(n, s.mission, s.faults if with_faults else [], Acks()) for n, s in batch]
    apis = [Api(stack.base, keys, cfg.request_timeout_s, time.monotonic() + 180, r.acks) for r in results]
    try:
        await asyncio.gather(*(open_mission(api, s) for api, (_, s) in zip(apis, batch, strict=True)))
        t0 = time.monotonic()
        stop = asyncio.Event()
        work: list[Any] = []
        approvers = []
        for api, (n, script) in zip(apis, batch, strict=True):
            rng = random.Random(f"clients:{cfg.seed}:{n}")
            api.deadline = t0 + cfg.storm_s + cfg.client_grace_s
            pace = cfg.storm_s / max(1, max(len(lane) for lane in script.posters))
            work += [poster(api, script, lane, pace, rng) for lane in script.posters]
            approvers += [asyncio.create_task(approver(api, script, person, gates, stop, rng))
                          for person, (_, gates) in APPROVERS.items()]
        dog = asyncio.create_task(watchdog(stack, stop)) if with_faults else None
        if with_faults:
            work.append(inject(stack, [f for r in results for f in r.faults], t0))
        await asyncio.gather(*work)
        stop.set()
        await asyncio.gather(*approvers)
        if dog is not None:
            await dog
            await asyncio.to_thread(stack.healthy, 180)
        say(f"{label} storm over after {time.monotonic() - t0:.1f} s; settling")
        await asyncio.gather(*(after_storm(cfg, obs, api, s, r)
                               for api, (_, s), r in zip(apis, batch, results, strict=True)))
    finally:
        for api in apis:
            await api.aclose()
    for r in results:
        r.seconds = time.monotonic() - started
    return results


async def after_storm(cfg: Settings, obs: Observer, api: Api, script: Script, res: TrialResult) -> None:
    # (b): the gates reflect the store once things settle (waited for, up to settle_s).
    res.violations["b_gates_reflect_store"] = await obs.wait_settled(script.mission, cfg.settle_s)
    # The end of the script, the same in every run: both approvers vote on whatever awaits.
    api.deadline = time.monotonic() + cfg.settle_s + 60
    await ensure_probe(api, script)
    await finish(api, obs, script.mission, cfg.settle_s)
    res.final = await obs.final_states(script.mission)
    res.violations["a_stored_once"] = await asyncio.to_thread(obs.check_a, script.mission, res.acks)
    res.violations["c_approvals_accounted"] = await obs.check_c(script.mission, res.acks, wait_s=20)
    res.violations["d_no_bad_approval"], res.unverifiable_d = await obs.check_d(script.mission, res.acks)


async def finish(api: Api, obs: Observer, mission: str, settle_s: float) -> None:
    """Approve (ann and bob) every gate awaiting approval, phase after phase, until none awaits."""
    deadline = time.monotonic() + settle_s + 60
    while time.monotonic() < deadline:
        await obs.wait_settled(mission, settle_s)
        gates = await obs.gate_states(mission)
        awaiting = [g.gate for g in gates.values() if g.state == "awaiting_approval"]
        if not awaiting:
            return
        for gate in awaiting:
            for person in APPROVERS:
                await approve_once(api, mission, person, gate)
        await asyncio.sleep(0.3)
    raise StackError(f"{mission}: gates still awaiting approval after the final approvals ({settle_s + 60:.0f} s)")


async def bring_up(stack: Stack, scripts: list[Script], label: str) -> dict[str, str]:
    say(f"{label}: starting in {stack.dir}")
    await asyncio.to_thread(stack.prepare)
    _, keys = await asyncio.gather(asyncio.to_thread(stack.up, 180),
                                   asyncio.to_thread(create_keys, stack, [s.mission for s in scripts]))
    await asyncio.to_thread(grant_roles, stack, [s.mission for s in scripts])  # needs Temporal up
    say(f"{label}: up (Temporal on {stack.temporal_port}, API on {stack.api_port}), keys made, roles granted")
    return keys


async def run_stack(cfg: Settings, scripts: list[Script], with_faults: bool,
                    chaos_up: asyncio.Event) -> tuple[list[TrialResult], Counter[str], list[dict[str, Any]]]:
    """All trials on one fresh stack, `concurrency` at a time; the audit chain is verified
    after each batch (while the next one runs). The replica starts once the chaos stack is up:
    on two cores, starting both at once only slows both."""
    label = "chaos" if with_faults else "replica"
    size = cfg.concurrency if with_faults else cfg.parallel_replicas
    results: list[TrialResult] = []
    if not with_faults:
        await chaos_up.wait()
    with Stack(label, keep=cfg.keep) as stack:
        try:
            keys = await bring_up(stack, scripts, label)
        finally:
            chaos_up.set()
        obs = Observer(stack)
        verify: asyncio.Task[list[str]] | None = None
        last = 0
        try:
            numbered = list(enumerate(scripts, 1))
            for i in range(0, len(numbered), size):
                batch = numbered[i:i + size]
                if with_faults:
                    for n, s in batch:
                        say(f"[{n}/{len(scripts)}] {s.mission}: "
                            + ", ".join(f"{f.kind}({f.target}) at {f.at_s} s" for f in s.faults))
                done = await run_batch(cfg, stack, obs, keys, batch, with_faults, label)
                if verify is not None:
                    results[-1].violations["e_audit_verifies"] = await verify
                    progress(cfg, stack, results[-size:], label)  # the batch before, now verified
                last = len(done)
                verify = asyncio.create_task(asyncio.to_thread(obs.check_e))
                results += done
                for r in done:
                    say(_line(r, f"{label} [{r.trial}/{len(scripts)}]"))
                    for k in INVARIANTS:
                        for msg in r.violations[k][:3]:
                            say(f"    {k}: {msg}")
            if verify is not None:
                results[-1].violations["e_audit_verifies"] = await verify
                progress(cfg, stack, results[-last:], label)
        finally:
            obs.close()
            say(f"{label}: stopping")
    return results, stack.unexpected_exits, stack.exit_notes


def progress(cfg: Settings, stack: Stack, done: list[TrialResult], label: str) -> None:
    """Append each finished trial (and any unexpected exit since) to --progress, one JSON line
    each, so a run stopped early still has its figures (--summarize)."""
    if cfg.progress is None:
        return
    with cfg.progress.open("a") as fh:
        for r in done:
            fh.write(json.dumps(row(r, label)) + "\n")
        for note in stack.exit_notes[stack.notes_written:]:
            fh.write(json.dumps({"exit_note": note}) + "\n")
    stack.notes_written = len(stack.exit_notes)


async def both(cfg: Settings, scripts: list[Script]) -> tuple[list[TrialResult], list[TrialResult], Counter[str],
                                                             list[dict[str, Any]]]:
    """The chaos run and its fault-free replica, each on its own stack, side by side: no fault
    touches the replica's processes, and a trial's final states depend on its script alone."""
    up = asyncio.Event()
    (runs, exits, notes), (refs, _, _) = await asyncio.gather(run_stack(cfg, scripts, True, up),
                                                              run_stack(cfg, scripts, False, up))
    return runs, refs, exits, notes


def settings(args: argparse.Namespace) -> Settings:
    if args.quick:
        return Settings(trials=args.trials or 5, seed=args.seed, records=14, posters=2, storm_s=10.0,
                        faults_per_trial=1, request_timeout_s=8.0, settle_s=args.settle or 150.0,
                        client_grace_s=120.0, parallel_replicas=5,
                        concurrency=args.concurrency or 5, keep=args.keep, quick=True,
                        progress=args.progress)
    return Settings(trials=args.trials or 100, seed=args.seed, records=40, posters=3, storm_s=14.0,
                    faults_per_trial=3, request_timeout_s=10.0, settle_s=args.settle or 150.0,
                    client_grace_s=150.0, parallel_replicas=10,
                    concurrency=args.concurrency or 4, keep=args.keep, quick=False, progress=args.progress)


def scripts_for(cfg: Settings, base_us: int) -> list[Script]:
    return [make_script(cfg.seed, n, records=cfg.records, posters=cfg.posters, storm_s=cfg.storm_s,
                        faults=cfg.faults_per_trial, base_us=base_us,
                        first_fault=FAULT_KINDS[(n - 1) % len(FAULT_KINDS)], workers_early=cfg.quick)
            for n in range(1, cfg.trials + 1)]


def _line(r: TrialResult, label: str) -> str:
    faults = ", ".join(f"{f.kind}({f.target})" for f in r.faults) or "none"
    v = " ".join(f"{k[0]}={len(r.violations[k])}" for k in INVARIANTS)
    return (f"{label} trial {r.trial} {r.mission}: {r.seconds:.1f} s, faults {faults}; "
            f"{len(r.acks.records)} records and {len(r.acks.approvals)} approvals acknowledged; violations {v}")


def row(r: TrialResult, label: str) -> dict[str, Any]:
    """One finished trial, as written to --progress and as the summary counts it."""
    return {"label": label, "trial": r.trial, "mission": r.mission, "faults": [f.kind for f in r.faults],
            "violations": r.violations, "final": r.final, "records": len(r.acks.records),
            "approvals": len(r.acks.approvals), "unverifiable_d": r.unverifiable_d,
            "stats": dict(r.acks.stats), "unexpected": r.acks.unexpected, "seconds": round(r.seconds, 1)}


def summary(cfg: Settings, runs: list[dict[str, Any]], refs: list[dict[str, Any]], exits: Counter[str],
            seconds: float, exit_notes: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The figures over the trials given; (f) over those whose replica finished too."""
    ref_of = {ref["mission"]: ref for ref in refs}
    for r in runs:
        ref = ref_of.get(r["mission"])
        if ref is None:
            continue
        mine, theirs = r["final"], ref["final"]
        r["violations"]["f_same_as_fault_free"] = [
            f"{r['mission']} {k}: {mine.get(k)} with faults, {theirs.get(k)} without"
            for k in sorted(set(mine) | set(theirs)) if mine.get(k) != theirs.get(k)]
    faults = Counter(kind for r in runs for kind in r["faults"])
    stats: Counter[str] = Counter()
    for r in runs:
        stats.update(r["stats"])
    return {
        "trials": len(runs), "faults": sum(faults.values()),
        "faults_by_kind": {k: faults[k] for k in FAULT_KINDS},
        "violations": {k: sum(len(r["violations"][k]) for r in runs) for k in INVARIANTS},
        "replica_violations": {k: sum(len(r["violations"][k]) for r in refs) for k in INVARIANTS if k[0] != "f"},
        "examples": {k: [m for r in runs for m in r["violations"][k]][:5] for k in INVARIANTS
                     if any(r["violations"][k] for r in runs)},
        "replica_examples": {k: [m for r in refs for m in r["violations"][k]][:5] for k in INVARIANTS
                             if any(r["violations"][k] for r in refs)},
        "records_acknowledged": sum(r["records"] for r in runs),
        "approvals_acknowledged": sum(r["approvals"] for r in runs),
        "approved_gates_unverifiable_d": sum(r["unverifiable_d"] for r in runs),
        "unexpected_exits": dict(exits),
        "unexpected_exit_notes": (exit_notes or [])[:10],
        "unexpected_answers": [u for r in runs + refs for u in r["unexpected"]][:10],
        "client": dict(sorted(stats.items())),
        "seed": cfg.seed, "seconds": round(seconds, 1),
    }


def from_progress(cfg: Settings, path: Path) -> dict[str, Any]:
    """The summary of the trials a --progress file holds (of a run that has not finished)."""
    lines = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    rows = [x for x in lines if "label" in x]
    notes = [n for x in lines if "exit_note" in x for n in [x["exit_note"]]]
    runs = [r for r in rows if r["label"] == "chaos"]
    exits = Counter(n["process"] for n in notes)
    s = summary(cfg, runs, [r for r in rows if r["label"] == "replica"], exits, 0.0, notes)
    s["seconds"] = None  # not in the file: trials overlap, their own durations do not add up
    replicated = {r["mission"] for r in rows if r["label"] == "replica"}
    s["trials_with_replica"] = sum(1 for r in runs if r["mission"] in replicated)
    return s


def table(s: dict[str, Any]) -> str:
    rows = [("trials", str(s["trials"])), ("faults", str(s["faults"]))]
    rows += [(f"  {k}", str(v)) for k, v in s["faults_by_kind"].items()]
    rows += [("records acknowledged", str(s["records_acknowledged"])),
             ("approvals acknowledged", str(s["approvals_acknowledged"])), ("violations", "")]
    for k, v in s["violations"].items():
        ref = s["replica_violations"].get(k)
        rows.append((f"  {k}", f"{v}" + ("" if ref is None else f"   (fault-free replica: {ref})")))
    c = s["client"]
    rows.append(("client retries", f"{c.get('timeouts', 0)} timeouts, {c.get('connection_errors', 0)} connection "
                                   f"errors, {sum(v for k, v in c.items() if k.startswith('http_5'))} 5xx; "
                                   f"{c.get('gave_up', 0)} given up"))
    rows.append(("unexpected exits", ", ".join(f"{k} {v}" for k, v in s["unexpected_exits"].items()) or "none"))
    rows.append(("seconds", str(s["seconds"])))
    width = max(len(a) for a, _ in rows)
    return "\n".join(f"{a.ljust(width)}  {b}" for a, b in rows)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--trials", type=int, default=None, help="default 100 (5 with --quick)")
    ap.add_argument("--quick", action="store_true", help="5 short trials, one fault each")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--settle", type=float, default=None,
                    help="seconds the gates get to reflect the store after a trial (default 150: "
                         "more than the 2-minute activity timeout a killed worker's task waits out)")
    ap.add_argument("--concurrency", type=int, default=None,
                    help="trials whose storms run together under the faults of all of them "
                         "(default 4; --quick: all 5)")
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    ap.add_argument("--keep", action="store_true", help="keep the stacks' folders (logs) afterwards")
    ap.add_argument("--progress", type=Path, default=None,
                    help="append each finished trial to this file, one JSON line each")
    ap.add_argument("--summarize", type=Path, default=None, metavar="PROGRESS",
                    help="print the figures of the trials a --progress file holds, and run nothing")
    args = ap.parse_args()
    cfg = settings(args)
    if args.summarize is not None:
        s = from_progress(cfg, args.summarize)
        print(json.dumps(s) if args.json else table(s))
        return 0
    started = time.monotonic()
    scripts = scripts_for(cfg, (time.time_ns() // 1000) - 86_400_000_000)
    try:
        runs, refs, exits, notes = asyncio.run(both(cfg, scripts))
    except StackError as exc:
        say(f"chaos: {exc}")
        return 2
    s = summary(cfg, [row(r, "chaos") for r in runs], [row(r, "replica") for r in refs], exits,
                time.monotonic() - started, notes)
    print(json.dumps(s) if args.json else table(s))
    bad = sum(s["violations"].values()) + sum(s["replica_violations"].values())
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
