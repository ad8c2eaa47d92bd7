"""Plan tests: cases that pin what a plan decides on given evidence at an instant.

Every case is decided by the one rule engine (`rules.evaluate.evaluate`) over evidence taken
by the one acceptance (`rules.evidence`); this module only prepares the inputs and compares
what came out with what the test file expects. An evidence file shared by many cases is read
once, and its index built once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from schemas.plantest import BenchmarkExpect, GateExpect, PlanCase, PlanTestFile, ValueRange
from schemas.timefmt import parse_timestamp

from .documents import DocumentError, load_document
from .evaluate import Waiver, evaluate, format_value
from .evidence import Ledger, read_jsonl, values_equal
from .plan import LoadedPlan, PlanError, load_plan_file
from .problems import Problem, json_path
from .series import EvidenceIndex

__all__ = ["CaseResult", "Mismatch", "PreparedCase", "Suite", "TestFileError", "benchmark_nodes", "load_suite",
           "run_case", "run_suite"]


class TestFileError(ValueError):
    """The test file cannot be run; `problems` names each field and the reason."""

    __test__ = False  # a pytest name, not a pytest class

    def __init__(self, source: str, problems: list[Problem]):
        self.source = source
        self.problems = problems
        super().__init__(f"{source}: test file rejected, {len(problems)} problem(s):\n"
                         + "\n".join(f"  {p}" for p in problems))


@dataclass(frozen=True)
class Mismatch:
    subject: str  # "gate g3.1", "benchmark B3.2", "record case1:2"
    field: str  # status, digest, reason, value, points, waived, evidence
    expected: str
    got: str
    detail: str | None = None  # the benchmark's reason, for context

    @property
    def text(self) -> str:
        tail = f" ({self.detail})" if self.detail else ""
        return f"{self.subject} {self.field}: expected {self.expected}, got {self.got}{tail}"

    def to_json(self) -> dict[str, Any]:
        return {"subject": self.subject, "field": self.field, "expected": self.expected, "got": self.got,
                "detail": self.detail, "text": self.text}


@dataclass(frozen=True)
class PreparedCase:
    index: int
    case: PlanCase
    as_of: int
    evidence: Path | None
    waivers: tuple[Waiver, ...]


@dataclass
class Suite:
    source: str
    plan: LoadedPlan
    cases: list[PreparedCase]
    # Evidence files read once per suite: path -> (ledger, lines rejected, index).
    _files: dict[Path, tuple[Ledger, int, EvidenceIndex]] = field(default_factory=dict, repr=False)

    def evidence_file(self, path: Path) -> tuple[Ledger, int, EvidenceIndex]:
        got = self._files.get(path)
        if got is None:
            try:
                text = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise TestFileError(self.source, [Problem("$", f"cannot read evidence {str(path)!r}: {exc}")]) from None
            ledger, outcomes = read_jsonl(text, self.plan)
            rejected = sum(1 for o in outcomes if o.status == "rejected")
            got = self._files[path] = (ledger, rejected, EvidenceIndex(ledger.records.values()))
        return got


@dataclass(frozen=True)
class CaseResult:
    index: int
    name: str
    as_of: str
    mismatches: list[Mismatch]
    evaluation: dict[str, Any]
    file_rejections: int  # rejected lines of the evidence file: reported, tolerated

    @property
    def passed(self) -> bool:
        return not self.mismatches

    def to_json(self) -> dict[str, Any]:
        return {"case": self.name, "as_of": self.as_of, "passed": self.passed,
                "mismatches": [m.to_json() for m in self.mismatches], "evidence_rejected": self.file_rejections}


# --- loading -------------------------------------------------------------------------------------


def load_suite(path: str | Path, read_plan: Callable[[Path], LoadedPlan] = load_plan_file) -> Suite:
    """Read and check a test file; raise TestFileError naming each bad field."""
    p = Path(path)
    source = str(p)
    try:
        doc = load_document(p)
    except DocumentError as exc:
        raise TestFileError(source, [Problem("$", str(exc))]) from None
    try:
        model = PlanTestFile.model_validate(doc)
    except ValidationError as exc:
        raise TestFileError(source, [Problem(json_path([x for x in e["loc"] if not _is_union_tag(x)]), e["msg"])
                                     for e in exc.errors()]) from None
    base = p.parent
    try:
        plan = read_plan(base / model.plan)
    except PlanError as exc:
        raise TestFileError(source, [Problem(f"$.plan ({model.plan})", str(pr)) for pr in exc.problems]) from None
    problems: list[Problem] = []
    cases = [_prepare(i, c, model, base, plan, problems) for i, c in enumerate(model.cases)]
    if problems:
        raise TestFileError(source, problems)
    return Suite(source, plan, cases)


def _is_union_tag(part: Any) -> bool:
    # pydantic names the member of a union it tried ("str", "GateExpect", "literal[...]"); the
    # document's path is what the author needs.
    return isinstance(part, str) and (part in ("str", "GateExpect", "BenchmarkExpect", "ValueRange", "bool", "int",
                                               "float") or part.startswith(("literal[", "function-")))


def _prepare(i: int, case: PlanCase, model: PlanTestFile, base: Path, plan: LoadedPlan,
             problems: list[Problem]) -> PreparedCase:
    at: list[str | int] = ["cases", i]
    evidence = case.evidence or (model.evidence if case.records is None else None)
    if evidence is None and case.records is None:
        problems.append(Problem(json_path([*at, "evidence"]), "give an evidence file or records (here or at the top)"))
    expect = case.expect
    for gid in expect.gates or {}:
        if gid not in plan.gates:
            problems.append(Problem(json_path([*at, "expect", "gates", gid]),
                                    f"unknown gate {gid!r} (the plan has {', '.join(plan.gates)})"))
    for bid in expect.benchmarks or {}:
        if bid not in plan.benchmarks:
            problems.append(Problem(json_path([*at, "expect", "benchmarks", bid]), f"unknown benchmark {bid!r}"))
    if not expect.gates and not expect.benchmarks:
        problems.append(Problem(json_path([*at, "expect"]), "expects nothing: name gates or benchmarks"))
    waivers = []
    for wi, w in enumerate(case.waivers or []):
        where = json_path([*at, "waivers", wi, "benchmark"])
        known = plan.benchmarks.get(w.benchmark)
        if known is None:
            problems.append(Problem(where, f"unknown benchmark {w.benchmark!r}"))
        elif known[2]:
            problems.append(Problem(where, f"benchmark {w.benchmark!r} sits under a `not` and cannot be waived"))
        waivers.append(Waiver(w.benchmark, w.by, w.justification, parse_timestamp(w.until) if w.until else None))
    return PreparedCase(i, case, parse_timestamp(case.as_of), (base / evidence) if evidence else None, tuple(waivers))


# --- running -------------------------------------------------------------------------------------


def run_suite(suite: Suite) -> list[CaseResult]:
    """Every case, reported in the file's order. They run in the order of their instants: a
    series keeps its last few views and each view its results, so neighbouring instants with no
    record between them share both (a case's result never depends on the cases before it)."""
    order = sorted(suite.cases, key=lambda c: c.as_of)
    done = {c.index: run_case(suite, c) for c in order}
    return [done[c.index] for c in suite.cases]


def run_case(suite: Suite, prepared: PreparedCase) -> CaseResult:
    plan, case = suite.plan, prepared.case
    mismatches: list[Mismatch] = []
    rejected = 0
    if prepared.evidence is not None:
        ledger, rejected, index = suite.evidence_file(prepared.evidence)
    else:
        ledger, index = Ledger(plan), EvidenceIndex(())
    if case.records:
        # A private copy: the file's ledger is shared by every case that reads it.
        ledger = Ledger(plan, dict(ledger.records), set(ledger.corrected))
        added = []
        for n, raw in enumerate(case.records, start=1):
            outcome = ledger.add(_with_defaults(raw, plan, f"case{prepared.index + 1}:{n}"))
            if outcome.status == "rejected":
                mismatches.append(Mismatch(f"record {n}", "evidence", "accepted", "rejected: " + outcome.message))
            elif outcome.status == "stored":
                added.append(ledger.records[str(outcome.id)])
        # The file's index plus the case's records shares every series they leave alone: a
        # rebuild from all records was a fifth of a plan test's time.
        index = index.with_records(added)
    # Only the digests a case pins are computed: hashing every explanation was a third of the time.
    pinned = [g for g, want in (case.expect.gates or {}).items() if isinstance(want, GateExpect) and want.digest]
    result = evaluate(plan, index, prepared.as_of, prepared.waivers, digests=pinned)
    mismatches.extend(compare(result, case))
    return CaseResult(prepared.index, case.name, result["as_of"], mismatches, result, rejected)


def _with_defaults(raw: dict[str, Any], plan: LoadedPlan, rid: str) -> dict[str, Any]:
    """The test file's shorthands, filled before acceptance sees the record."""
    out = dict(raw)
    out.setdefault("id", rid)
    out.setdefault("mission", plan.mission_id)
    ind_id = out.get("indicator")
    ind = plan.indicators.get(ind_id) if isinstance(ind_id, str) else None
    if "source" not in out and ind is not None and ind.sources is not None and len(ind.sources) == 1:
        out["source"] = ind.sources[0]
    return out


def benchmark_nodes(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    if node["node"] == "benchmark":
        yield node
        return
    for child in node["children"]:
        yield from benchmark_nodes(child)


def compare(result: dict[str, Any], case: PlanCase) -> list[Mismatch]:
    gates = {g["gate"]: g for g in result["gates"]}
    nodes = {n["benchmark"]: n for g in result["gates"] for n in benchmark_nodes(g["explanation"])}
    out: list[Mismatch] = []
    for gid, want in (case.expect.gates or {}).items():
        got = gates[gid]
        ge = want if isinstance(want, GateExpect) else GateExpect(status=want)
        if ge.status is not None and got["status"] != ge.status:
            out.append(Mismatch(f"gate {gid}", "status", ge.status, got["status"]))
        if ge.digest is not None and got["digest"] != ge.digest:
            out.append(Mismatch(f"gate {gid}", "digest", ge.digest, got["digest"]))
    for bid, bwant in (case.expect.benchmarks or {}).items():
        out.extend(_benchmark(bid, bwant if isinstance(bwant, BenchmarkExpect) else BenchmarkExpect(status=bwant),
                              nodes[bid]))
    return out


def _benchmark(bid: str, want: BenchmarkExpect, node: dict[str, Any]) -> Iterator[Mismatch]:
    subject, reason = f"benchmark {bid}", node["reason"]
    if want.status is not None and node["status"] != want.status:
        yield Mismatch(subject, "status", want.status, node["status"], reason)
    if want.reason is not None and want.reason not in reason:
        yield Mismatch(subject, "reason", f"to contain {want.reason!r}", repr(reason))
    if want.value is not None:
        got = node["value"]
        shown = "no value" if got is None else format_value(got)
        if isinstance(want.value, ValueRange):
            lo, hi = want.value.min, want.value.max
            inside = (got is not None and not isinstance(got, bool) and (lo is None or got >= lo)
                      and (hi is None or got <= hi))
            if not inside:
                yield Mismatch(subject, "value", _range_text(want.value), shown, reason)
        elif not values_equal("boolean" if isinstance(want.value, bool) else "number", got, want.value):
            yield Mismatch(subject, "value", format_value(want.value), shown, reason)
    if want.points is not None and node["points"] != want.points:
        yield Mismatch(subject, "points", str(want.points), str(node["points"]), reason)
    if want.waived is not None and ("waived" in node) != want.waived:
        yield Mismatch(subject, "waived", _yes(want.waived), _yes("waived" in node), reason)


def _range_text(r: ValueRange) -> str:
    if r.min is not None and r.max is not None:
        return f"between {format_value(r.min)} and {format_value(r.max)}"
    return f">= {format_value(r.min)}" if r.min is not None else f"<= {format_value(r.max)}"


def _yes(b: bool) -> str:
    return "waived" if b else "not waived"
