"""The README's command walk-through, pasted in order on a fresh data folder, as a new user would.

Every fenced block of the README is either part of the walk-through (its sections, in order) or
listed in NOT_WALKTHROUGH with the reason; a block added elsewhere fails the test until it is
placed. Each command runs in its own bash (with `-o pipefail`, after the shell functions the
walk-through defined so far) from a folder where `samples/` is the repository's, and must exit 0.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from cli.supervisor import free_port
from tests.webhook_receiver import webhook_receiver

from .devstack import ROOT, dev_stack, until

WALKTHROUGH = (
    "## Commands",
    "## Plans as code: tests, coverage, diff and what-if",
    "## The evidence store and the audit log",
    "## Workflows on Temporal",
    "## Running it: `exitgate dev`, the API, the coordinator and approver commands",
)
NOT_WALKTHROUGH = {
    "## Quick start": "the demo (tests/test_demo.py) and the whole test command, which runs this test",
    "## Performance": "benchmarks: minutes of load, measured figures rather than pass or fail",
    "## Mutation testing": "scripts/mutate.py: half an hour of mutants, a score rather than pass or fail",
    "## Rehearsing an exit": "tests/rehearsal/test_sample.py plays the same scenario and checks its whole transcript",
}
# Commands that act through Temporal: they need the stack `exitgate dev` runs. The suite pastes
# the rest; `python -m tests.test_readme_walkthrough` pastes everything, these against a real
# `exitgate dev`. Not in the suite: that takes minutes (4.4 and 6.5 min on this 2-core machine
# at load average 10), far over the minute a test here may take.
NEEDS_STACK = re.compile(r"\bexitgate (dev|plan load|mission|evidence submit|status|explain|approve|reject|waive|"
                         r"revoke-waiver|phase|roles|delegate|delegation|withdraw)\b")
DEV = "exitgate dev"
LIVE_FROM = WALKTHROUGH[-1]  # the section whose commands run against the stack


def _sections(readme: str) -> Iterator[tuple[str, str, str]]:
    """(section heading, fence language, body) for every fenced block, in order."""
    section = ""
    for m in re.finditer(r"^(## [^\n]*)$|^```(\w*)\n(.*?)^```$", readme, re.M | re.S):
        if m[1]:
            section = m[1]
        else:
            yield section, m[2], m[3]


def _commands(body: str) -> list[str]:
    """Shell commands: continuation lines joined, blank and comment-only lines dropped."""
    out: list[str] = []
    pending = ""
    for line in body.splitlines():
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        line = pending + line
        pending = ""
        if line.strip() and not line.lstrip().startswith("#"):
            out.append(line.strip())
    return out


def walkthrough() -> tuple[list[tuple[str, str]], str]:
    """(section, command) in the README's order, and the README's audit checking script."""
    commands: list[tuple[str, str]] = []
    script = ""
    seen: list[str] = []
    for section, lang, body in _sections((ROOT / "README.md").read_text(encoding="utf-8")):
        if section in NOT_WALKTHROUGH:
            continue
        assert section in WALKTHROUGH, f"a command block in {section!r}: add it to the walk-through or NOT_WALKTHROUGH"
        if section not in seen:
            seen.append(section)
        if lang == "python":
            script = body
        else:
            commands.extend((section, c) for c in _commands(body))
    assert seen == list(WALKTHROUGH), seen
    assert script, "the README's audit checking script"
    return commands, script


class Shell:
    """Pastes commands one at a time into bash in `cwd`, keeping the functions they define."""

    def __init__(self, cwd: Path, env: dict[str, str]):
        self.cwd, self.env = cwd, env
        self.functions: list[str] = []
        self.log: list[str] = []

    def paste(self, command: str, extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        if re.match(r"^\w+\(\) \{", command):
            self.functions.append(command)
            self.log.append(f"$ {command}\n(defined)")
            return subprocess.CompletedProcess(command, 0, "", "")
        script = "\n".join([*self.functions, command])
        r = subprocess.run(["bash", "-o", "pipefail", "-c", script], cwd=self.cwd, capture_output=True, text=True,
                           timeout=180, env={**self.env, **(extra_env or {})})
        self.log.append(f"$ {command}\n{r.stdout[-1500:]}{r.stderr[-1500:]}")
        assert r.returncode == 0, f"exit {r.returncode}: {command}\n{r.stdout}\n{r.stderr}"
        return r


def _fresh(tmp: Path) -> Shell:
    """A fresh data folder and a working folder whose `samples` is the repository's."""
    work = tmp / "work"
    work.mkdir()
    (work / "samples").symlink_to(ROOT / "samples", target_is_directory=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("EXITGATE_")}
    env.update({
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        "EXITGATE_DATA_DIR": str(tmp / "data"),
        # `evidence import` tells running phases when Temporal answers: not someone else's server.
        "EXITGATE_TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}",  # free, and nothing will listen there
        "COLUMNS": "200",
    })
    return Shell(work, env)


def _paste_store_part(sh: Shell) -> list[tuple[str, str]]:
    """Paste every command that needs no Temporal, in order; return the others, not pasted."""
    commands, script = walkthrough()
    not_pasted: list[tuple[str, str]] = []
    with webhook_receiver() as hook:
        for section, command in commands:
            if NEEDS_STACK.search(command):
                not_pasted.append((section, command))
                continue
            # The README says resend sends to EXITGATE_NOTIFY_WEBHOOK_URL: set it, as a user would.
            extra = {"EXITGATE_NOTIFY_WEBHOOK_URL": hook.url} if "notifications resend" in command else None
            sh.paste(command, extra)
    assert (sh.cwd / "readiness.png").stat().st_size > 0
    (sh.cwd / "check_audit.py").write_text(script, encoding="utf-8")
    checked = sh.paste(f"{sys.executable} check_audit.py audit.jsonl")
    assert checked.stdout.startswith("OK: "), checked.stdout
    return not_pasted


def _restamped_records_open_g1_and_g2_2_now(path: Path) -> None:
    """What the live part counts on: the restamped records alone make g1 and g2.2 pass now."""
    from rules.evaluate import evaluate
    from rules.evidence import read_jsonl
    from rules.plan import load_plan_file
    from rules.series import EvidenceIndex
    from store import now_us

    plan = load_plan_file(ROOT / "samples" / "valdoria" / "plan.json")
    ledger, outcomes = read_jsonl(path.read_text(encoding="utf-8"), plan)
    assert [o.status for o in outcomes] == ["stored"] * 9, [o.message for o in outcomes]
    gates = {g["gate"]: g["status"] for g in evaluate(plan, EvidenceIndex(ledger.records.values()), now_us())["gates"]}
    assert gates["g1"] == gates["g2.2"] == "pass", gates


def test_store_walkthrough_pastes_in_order_on_a_fresh_data_folder(tmp_path: Path) -> None:
    sh = _fresh(tmp_path)
    not_pasted = _paste_store_part(sh)
    verified = [entry for entry in sh.log if entry.startswith("$ exitgate audit verify")]
    assert verified and all("OK:" in v for v in verified)
    _restamped_records_open_g1_and_g2_2_now(sh.cwd / "records.jsonl")
    # Nothing before `exitgate dev` may need the stack (it is not running yet when pasted).
    assert {section for section, _ in not_pasted} == {LIVE_FROM}, not_pasted
    assert not_pasted[0][1].split("#")[0].strip() == DEV, not_pasted[0]


def _status(sh: Shell) -> dict[str, Any]:
    r = subprocess.run(["exitgate", "status", "valdoria", "--json"], cwd=sh.cwd, env=sh.env, capture_output=True,
                       text=True, timeout=120)
    return json.loads(r.stdout) if r.returncode == 0 else {}


def _gate(st: dict[str, Any], gate: str) -> dict[str, Any]:
    return next((g for p in st.get("phases", []) for g in p["gates"] if g["gate"] == gate), {})


def _phase(st: dict[str, Any], phase: str) -> dict[str, Any]:
    return next((p for p in st.get("phases", []) if p["phase"] == phase), {})


# What the workflows must have done (asynchronously, within a second or so) before a command
# is pasted: a person pastes slower than that; the run waits for it instead.
WAIT_BEFORE: list[tuple[str, str, Callable[[dict[str, Any]], bool]]] = [
    ("exitgate approve valdoria g1 ", "g1 to await approval",
     lambda st: _gate(st, "g1").get("state") == "awaiting_approval"),
    ("exitgate reject valdoria g2.2 ", "p2 to start and g2.2 to await approval",
     lambda st: _phase(st, "p2").get("state") == "running" and _gate(st, "g2.2").get("state") == "awaiting_approval"),
]


def paste_everything(tmp: Path) -> None:
    """The whole walk-through: the store part, then `exitgate dev` (started on free ports: a
    developer's machine may use the defaults) and the commands that need it, in order."""
    sh = _fresh(tmp)
    live = [c for _, c in _paste_store_part(sh)][1:]
    for prefix, _, _ in WAIT_BEFORE:
        assert any(c.startswith(prefix) for c in live), f"a wait names a command the README lost: {prefix}"
    with dev_stack(Path(sh.env["EXITGATE_DATA_DIR"])) as stack:
        sh.env["EXITGATE_TEMPORAL_ADDRESS"] = stack.env["EXITGATE_TEMPORAL_ADDRESS"]
        for command in live:
            for prefix, what, ready in WAIT_BEFORE:
                if command.startswith(prefix):
                    until(lambda ready=ready: ready(_status(sh)), what, 60)
            sh.paste(command)
            print(sh.log[-1][:300], flush=True)
        st = _status(sh)
        assert _phase(st, "p1")["state"] == "running", st  # reopened
        assert _phase(st, "p2")["state"] == "paused", st
    assert stack.returncode == 0, stack.output


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory(prefix="exitgate-walkthrough-") as d:
        paste_everything(Path(d))
    print("the whole README walk-through pasted in order: every command exited 0")
