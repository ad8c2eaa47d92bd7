"""`exitgate dev` as a user runs it, and the coordinator and approver commands against it.

The supervisor starts the real dev server, an `exitgate worker` and an `exitgate api`; the CLI
commands reach them through settings (EXITGATE_TEMPORAL_ADDRESS, EXITGATE_DATA_DIR), as they
would reach a remote deployment; Ctrl-C (SIGINT) stops every process.
"""

from __future__ import annotations

import json
import re
import socket
from pathlib import Path

import httpx

from .devstack import ROOT, dev_stack, until

PLAN = ROOT / "samples" / "valdoria" / "plan.json"


def _closed(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return False
    except OSError:
        return True


def test_dev_stack_serves_cli_and_api_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    with dev_stack(tmp_path) as st:
        base, cli = st.base, st.cli
        assert httpx.get(f"{base}/docs").status_code == 200

        # The register: an operator names the first coordinator, who imports the rest.
        cli("roles", "grant", "valdoria", "amara", "coordinator", "--as", "ops", "--operator")
        # Coordinator: load the plan, start the exit (a role that is not a coordinator's is refused).
        out = cli("plan", "load", str(PLAN), "--as", "amara").stdout
        assert "mission valdoria runs on it" in out
        cli("roles", "import", "valdoria", str(PLAN.parent / "roles.yaml"), "--as", "amara", "--by-role", "coordinator")
        cli("roles", "grant", "valdoria", "amara", "srsg", "--as", "amara", "--by-role", "coordinator")
        held = cli("roles", "list", "valdoria").stdout
        assert "bruno as dsrsg_rc" in held and "granted by ops (operator)" in held, held
        refused = cli("mission", "start", "valdoria", "--as", "amara", "--role", "srsg", ok=False)
        assert refused.returncode == 3 and "refused (RoleNotAllowed)" in refused.stderr
        assert "is not a coordinator role" in refused.stderr
        cli("mission", "start", "valdoria", "--as", "amara", "--role", "coordinator")

        # Evidence, live: the last months of the sample, moved to end now.
        from cli.demo_run import shifted_evidence
        from store import now_us

        feed = [raw for _, raw in shifted_evidence(PLAN.parent / "evidence.jsonl", now_us() - 3_600_000_000)
                if isinstance(raw, dict)]
        lines = "\n".join(json.dumps(r) for r in feed)
        sub = cli("evidence", "submit", "valdoria", "-", "--actor", "feed", stdin=lines, ok=False)
        counts = json.loads(sub.stdout.strip().splitlines()[-1])
        assert counts["stored"] >= 290 and counts["rejected"] >= 1 and sub.returncode == 1

        def awaiting() -> bool:
            return "awaiting approval" in cli("status", "valdoria").stdout
        until(awaiting, "g1 to await approval", 60)
        explained = cli("explain", "valdoria", "g1").stdout
        digest = re.search(r"digest ([0-9a-f]{64})", explained)
        assert digest is not None, explained
        assert "B1.1" in explained

        # Approver: the starter is refused (separation of duties, audited); two others approve.
        no = cli("approve", "valdoria", "g1", "--as", "amara", "--role", "srsg", "--digest", digest[1], ok=False)
        assert no.returncode == 3 and "refused (SeparationOfDuties)" in no.stderr and "may not decide" in no.stderr
        stale = cli("approve", "valdoria", "g1", "--as", "bruno", "--role", "dsrsg_rc", "--digest", "0" * 64, ok=False)
        assert stale.returncode == 3 and "not the current evaluation" in stale.stderr
        cli("approve", "valdoria", "g1", "--as", "bruno", "--role", "dsrsg_rc", "--digest", digest[1])
        cli("approve", "valdoria", "g1", "--as", "chen", "--role", "gov_focal_point", "--digest", digest[1],
            "--comment", "security benchmarks reviewed")
        until(lambda: json.loads(cli("status", "valdoria", "--json").stdout)["phases"][1]["state"] == "running",
              "phase p2 to start")

        # Waive and revoke on the new phase; migrating to a plan never loaded is refused.
        waived = cli("waive", "valdoria", "g2.1", "B2.2", "--as", "amara", "--role", "srsg",
                     "--justification", "electoral calendar slipped by agreement").stdout
        assert "waived B2.2 by amara" in waived, waived
        assert "waived" not in cli("revoke-waiver", "valdoria", "g2.1", "B2.2", "--as", "amara", "--role", "srsg").stdout
        bad = cli("mission", "migrate", "valdoria", "--plan-sha256", "1" * 64, "--as", "amara", "--role", "coordinator",
                  ok=False)
        assert bad.returncode == 2 and "load it first" in bad.stderr

        # A file import tells the running phase that uses its indicator.
        from rules.plan import load_plan_file
        from schemas.timefmt import format_timestamp

        g21 = load_plan_file(PLAN).gate_indicators("g2.1")
        latest = [r for r in feed if r.get("indicator") in g21][-1]
        at = format_timestamp(now_us() - 60_000_000)
        (tmp_path / "more.jsonl").write_text(json.dumps({**latest, "id": "VAL-NEW-1", "observed_at": at,
                                                         "reported_at": at}) + "\n")
        imported = cli("evidence", "import", str(tmp_path / "more.jsonl"), "--mission", "valdoria")
        assert "told running phases: p2" in imported.stderr, imported.stderr

        # The API process serves the same state to an approver's key.
        key = json.loads(cli("api-key", "create", "--person", "dana", "--json").stdout)["key"]
        r = httpx.get(f"{base}/v1/missions/valdoria/status", headers={"X-API-Key": key})
        assert r.status_code == 200 and r.json()["phases"][0]["state"] == "complete", r.text

        cli("audit", "verify")  # exits 1 when the chain is broken
        cli("audit", "export", str(tmp_path / "audit.jsonl"))
        exported = (tmp_path / "audit.jsonl").read_text()
        for kind in ("mission_start.refused", "approval.refused", "approval", "plan_loaded", "phase_completed"):
            assert f'"kind":"{kind}"' in exported.replace(" ", ""), kind
        # One actor format for a person, in the workflows' entries and the service's refusals.
        actors = {json.loads(line)["actor"] for line in exported.splitlines() if line.strip()}
        assert "amara" in actors and not any(a.startswith("person:") for a in actors), actors
    assert st.returncode == 0, st.output
    assert "stopped" in st.output
    for port in (st.api_port, st.temporal_port):
        assert _closed(port), f"port {port} still open after Ctrl-C"
