"""Mutation testing: does the suite fail when the code is wrong?

Each mutant is one small deliberate bug (a comparison flipped, `and` for `or`, a `not` dropped,
a constant or an arithmetic operator changed, a call or an update removed, `min` for `max`),
made by walking the module's syntax tree. It is written into a temporary copy of the tree, never
into the checkout, and the module's own pytest selection (TABLE below) runs against it with
`-x`: a failing run kills the mutant, a passing one lets it survive.

Repeatable: mutants are enumerated in source order and the property tests are derandomised
(the `mutation` hypothesis profile of tests/conftest.py: fewer examples, no shrinking), so two
runs on the same code give the same table. It is slow, so it is not part of the test command:

    .venv/bin/python scripts/mutate.py                      # every module of TABLE
    .venv/bin/python scripts/mutate.py rules/evaluate.py    # some of them
    .venv/bin/python scripts/mutate.py --json               # one JSON object on stdout
    .venv/bin/python scripts/mutate.py --list rules/tree.py # the mutants, without running them

To be fast, one process imports pytest and the heavy libraries once and forks a child per
mutant; the child imports the project fresh from the copy and runs pytest in process. A mutant
that makes its tests run past a time limit (an endless loop) counts as killed. Survivors that
change no behaviour are listed in EQUIVALENT with the reason; the score leaves them out.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import json
import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

RULE_TESTS = ("tests/rules/test_explanation_contract.py", "tests/rules/test_compiler.py", "tests/rules/test_valid_until.py",
              "tests/rules/test_reference_property.py", "tests/test_sample_expected.py")

# module -> the tests that should catch its bugs, fastest and most pointed first (-x stops at
# the first failure). Add a module by adding a line.
TABLE: dict[str, tuple[str, ...]] = {
    "rules/tree.py": (*RULE_TESTS, "tests/rules/test_plan_rejections.py"),
    "rules/compiler.py": RULE_TESTS,
    "rules/evaluate.py": (*RULE_TESTS, "tests/timeline/test_exact.py"),
    "rules/series.py": ("tests/rules/test_series.py", *RULE_TESTS),
    "rules/evidence.py": ("tests/rules/test_evidence_rejections.py", *RULE_TESTS),
    "rules/plan.py": ("tests/rules/test_plan_rejections.py", "tests/rules/test_plan_horizons.py",
                      "tests/rules/test_schema_agreement.py", *RULE_TESTS),
    "rules/documents.py": ("tests/rules/test_plan_rejections.py", "tests/rules/test_schema_agreement.py"),
    "rules/problems.py": ("tests/rules/test_plan_rejections.py", "tests/rules/test_evidence_rejections.py"),
    "rules/timeline.py": ("tests/timeline/test_edges.py", "tests/timeline/test_exact.py", "tests/timeline/test_random.py",
                          "tests/timeline/test_valdoria.py", "tests/timeline/test_summary.py"),
    "rules/timeline_summary.py": ("tests/timeline/test_summary.py", "tests/timeline/test_cli.py"),
    "store/ingest.py": ("tests/store/test_ingest.py", "tests/store/test_concurrency.py::test_two_processes_import_the_same_file"),
    "lifecycle/gate.py": ("tests/lifecycle",),
    "store/audit.py": ("tests/store/test_audit_verify.py", "tests/store/test_audit_tamper.py", "tests/store/test_ingest.py::test_imports_are_audited"),
}

# Survivors that behave exactly as the original does, keyed by Mutant.key, with why.
_PREFIX = ("a prefix view's positions are 0..k-1, so reading ids through them or by slicing "
           "gives the same list")
_SCHEMA_FIRST = "unreachable: JSON Schema validation rejects such a plan first"
EQUIVALENT: dict[str, str] = {
    "rules/compiler.py::_Gen.inline_leaf: drop update `self.n += 1` -> `pass`":
        "node numbers only name the fast variant's variables, which stay unique without it; the "
        "recording variant, whose numbers index its result, never inlines leaves",
    "rules/compiler.py::_Gen.inline_leaf: constant `1` -> `0`": "as `self.n += 1` -> `pass`",
    "rules/evaluate.py::format_value: compare `abs(v) < 1e15` -> `(abs(v) <= 1000000000000000.0)`":
        "int() and the fixed-point format both print a whole float's digits exactly; the bound only "
        "picks one",
    "rules/evaluate.py::_explain: constant `True` -> `False`":
        "zip(strict=False) over two lists that have one entry per child by construction",
    "rules/evidence.py::values_equal: boolean `a is None or b is None` -> `(a is None and b is None)`":
        "with one value None, the later branches answer False too (None is neither a bool nor a number)",
    "rules/evidence.py::values_equal: boolean `kind == \"boolean\" or isinstance(a, bool) or isinstance(b, bool)` -> "
    "`(kind == 'boolean' and isinstance(a, bool) and isinstance(b, bool))`":
        "the numeric branch answers False whenever a value is a bool, as the boolean branch does unless both "
        "are; two bools are only ever values of a boolean indicator",
    "rules/series.py::IndicatorSeries.__post_init__: constant `0` -> `1`":
        "a series is built only for an indicator with at least one record, so n is never 0",
    "rules/series.py::IndicatorSeries.view: compare `as_of >= self._all_known_at` -> `(as_of > self._all_known_at)`":
        "at exactly the last knowledge time the general path computes the same view",
    "rules/series.py::IndicatorSeries.view: constant `True` -> `False`": _PREFIX,
    "rules/series.py::IndicatorSeries.view: constant `True` -> `False` #1": _PREFIX,
    "rules/series.py::IndicatorSeries.view: compare `len(self._views) >= 4` -> `(len(self._views) > 4)`":
        "the view cache holds one more instant: memory, not results",
    "rules/series.py::IndicatorSeries.view: drop call `self._views.pop(next(iter(self._views)))` -> `pass`":
        "the view cache is never trimmed: memory, not results",
    "rules/series.py::EvidenceIndex.__init__: boolean `r.supersedes is not None and r.supersedes in by_id` -> "
    "`(r.supersedes is not None or r.supersedes in by_id)`":
        "it also marks targets that are not in the index, and marks are only read for records that are",
    "rules/evidence.py::check_record: constant `False` -> `True`":
        "the default of `backfill`: every caller (Ledger.add, the store's import) passes it",
    "rules/evidence.py::check_record: negate `ind` -> `(not (ind))`":
        "values_equal answers the same under any kind for values of their indicator's kind (a boolean "
        "indicator holds only booleans, which it compares by type)",
    "rules/plan.py::load_plan: drop not `not str(p).startswith(\"node:\")` -> `(str(p).startswith('node:'))`":
        "unreachable: the models accept every document the JSON Schema accepts (test_schema_agreement)",
    "rules/plan.py::_explain: drop call `parse_timestamp(err.instance)` -> `pass`":
        "unreachable for plans: the plan schema has no timestamp field (the branch serves the shared format)",
    "rules/plan.py::_cycle_problems.visit: drop call `reported.add(key)` -> `pass`":
        "a cycle found twice gives the same problem twice, and PlanError keeps each problem once",
    "rules/documents.py::_mapping: constant `True` -> `False`":
        "PyYAML fills nested values in place before the document is returned, deep or not",
    "rules/documents.py::_mapping: constant `True` -> `False` #1": "as the one above",
    "store/ingest.py::_prefetch_pg: drop call `cur.execute(\"ANALYZE ids_in\")` -> `pass`":
        "planner statistics: speed, not results",
    "store/ingest.py::_prefetch_pg: drop call `cur.execute(\"DELETE FROM ids_in\")` -> `pass`":
        "the staging table is ON COMMIT DELETE ROWS and filled once per transaction",
    "store/ingest.py::_insert_copy: drop call `cur.execute(\"DELETE FROM evidence_in\")` -> `pass`":
        "the staging table is ON COMMIT DELETE ROWS and filled once per transaction",
    "store/ingest.py::_prefetch_pg: constant `True` -> `False`":
        "zip(strict=False) over a row and the column names it was selected by: same length",
    "store/ingest.py::_insert: constant `True` -> `False`":
        "zip(strict=False) over a row and the column names it was built for: same length",
    "store/ingest.py::_insert: constant `False` -> `True`":
        "provenance stored with ASCII escapes is the same JSON value when read back",
    "rules/timeline_summary.py::summarize: constant `1` -> `0` #2":
        "the search for the next pass may start at the step that just failed to pass: it never matches",
    "rules/timeline_summary.py::summarize: constant `True` -> `False` #4":
        "zip(strict=False) over a gate's and a benchmark's statuses, one per instant each",
    "rules/plan.py::_rule_problems: constant `1` -> `0`": _SCHEMA_FIRST + " (at_least >= 1)",
    "rules/plan.py::_benchmark_problems: swap call `any` -> `all`":
        _SCHEMA_FIRST + " (no boolean inside a [low, high] threshold)",
}

# Imported once by the parent so children start fast. None of them may import a module of
# TABLE (checked), or the child would test the parent's unmutated copy.
PRELOAD = ("numpy", "pydantic", "pydantic_settings", "hypothesis", "sqlalchemy", "sqlmodel", "psycopg",
           "jsonschema", "referencing", "rfc8785", "yaml", "typer", "rich", "pytest",
           "alembic", "matplotlib", "matplotlib.pyplot", "fastapi", "httpx", "temporalio.client", "schemathesis",
           "requests", "anyio", "pytest_asyncio", "_hypothesis_pytestplugin",
           "schemas.models", "schemas.jsonfmt", "schemas.timefmt")

# Stop at the first failure; plain asserts (a mutant needs no diff, and the preloaded plugins
# cannot be rewritten anyway); none of the plugins the selections above do not use.
PYTEST_ARGS = ("-x", "-q", "-p", "no:cacheprovider", "--assert=plain", "-p", "no:anyio", "-p", "no:schemathesis",
               "-p", "no:unraisableexception", "-W", "ignore::pytest.PytestAssertRewriteWarning")

_COMPARE_SWAP: dict[type[ast.cmpop], type[ast.cmpop]] = {
    ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt, ast.Eq: ast.NotEq, ast.NotEq: ast.Eq,
    ast.Is: ast.IsNot, ast.IsNot: ast.Is, ast.In: ast.NotIn, ast.NotIn: ast.In,
}
_BINOP_SWAP: dict[type[ast.operator], type[ast.operator]] = {
    ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Div, ast.Div: ast.Mult, ast.FloorDiv: ast.Mult,
}
_CALL_SWAP = {"min": "max", "max": "min", "any": "all", "all": "any"}


@dataclass(frozen=True)
class Mutant:
    path: str
    line: int
    where: str  # the enclosing function or class
    kind: str
    before: str
    after: str
    start: int  # byte offsets of the replaced source
    end: int
    n: int = 0  # occurrence among mutants with the same where/kind/before/after

    @property
    def key(self) -> str:
        """Stable across edits elsewhere in the file (no line numbers)."""
        return f"{self.path}::{self.where}: {self.kind} `{self.before}` -> `{self.after}`" + (f" #{self.n}" if self.n else "")

    def apply(self, source: bytes) -> bytes:
        return source[: self.start] + self.after.encode() + source[self.end:]


class _Finder(ast.NodeVisitor):
    """Collect the mutation points of one module in source order."""

    def __init__(self, path: str, source: bytes):
        self.path = path
        self.source = source
        self.lines = [0]
        for line in source.splitlines(keepends=True):
            self.lines.append(self.lines[-1] + len(line))
        self.scope: list[str] = []
        self.found: list[Mutant] = []

    def _span(self, node: ast.AST) -> tuple[int, int]:
        n: Any = node
        return self.lines[n.lineno - 1] + n.col_offset, self.lines[n.end_lineno - 1] + n.end_col_offset

    def _add(self, node: ast.AST, kind: str, replacement: str, wrap: bool = True) -> None:
        start, end = self._span(node)
        before = self.source[start:end].decode()
        after = f"({replacement})" if wrap else replacement
        one_line = " ".join(before.split())
        self.found.append(Mutant(self.path, getattr(node, "lineno", 0), ".".join(self.scope) or "<module>", kind,
                                 one_line if len(one_line) <= 70 else one_line[:67] + "...",
                                 after, start, end))

    # --- what is not mutated: docs, annotations, asserts, f-strings, type-checking imports ---

    def visit_JoinedStr(self, node: ast.JoinedStr) -> None:
        return  # positions inside f-strings are not reliable before Python 3.12

    def visit_Assert(self, node: ast.Assert) -> None:
        return  # asserts in the product only narrow types

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        if node.value is not None:
            self.visit(node.value)

    def visit_arguments(self, node: ast.arguments) -> None:
        for default in [*node.defaults, *[d for d in node.kw_defaults if d is not None]]:
            self.visit(default)

    def _body(self, body: list[ast.stmt]) -> None:
        for i, stmt in enumerate(body):
            if i == 0 and isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant) \
                    and isinstance(stmt.value.value, str):
                continue  # a docstring
            self.visit(stmt)

    def visit_Module(self, node: ast.Module) -> None:
        # Only code in functions: module and class level hold declarations (dataclass options,
        # tables, tuning constants such as chunk sizes), whose mutants are mostly equivalent.
        for stmt in node.body:
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                self.visit(stmt)

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self.scope.append(node.name)
        for stmt in node.body:
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                self.visit(stmt)
        self.scope.pop()

    def _function(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        self.scope.append(node.name)
        self.visit(node.args)
        self._body(node.body)
        self.scope.pop()

    visit_FunctionDef = visit_AsyncFunctionDef = _function

    def visit_If(self, node: ast.If) -> None:
        if isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            return
        self._negate(node.test)
        self.generic_visit(node)

    def visit_While(self, node: ast.While) -> None:
        self._negate(node.test)
        self.generic_visit(node)

    def visit_IfExp(self, node: ast.IfExp) -> None:
        self._negate(node.test)
        self.generic_visit(node)

    def _negate(self, test: ast.expr) -> None:
        # Comparisons, `and`/`or` and `not` have mutants of their own.
        if not isinstance(test, (ast.Compare, ast.BoolOp)) and not (isinstance(test, ast.UnaryOp)
                                                                     and isinstance(test.op, ast.Not)):
            self._add(test, "negate", f"not ({ast.unparse(test)})")

    # --- the mutants ---

    def visit_Compare(self, node: ast.Compare) -> None:
        for i, op in enumerate(node.ops):
            swap = _COMPARE_SWAP.get(type(op))
            if swap is not None:
                ops = list(node.ops)
                ops[i] = swap()
                self._add(node, "compare", ast.unparse(ast.Compare(node.left, ops, node.comparators)))
        self.generic_visit(node)

    def visit_BoolOp(self, node: ast.BoolOp) -> None:
        other = ast.Or() if isinstance(node.op, ast.And) else ast.And()
        self._add(node, "boolean", ast.unparse(ast.BoolOp(other, node.values)))
        self.generic_visit(node)

    def visit_UnaryOp(self, node: ast.UnaryOp) -> None:
        if isinstance(node.op, ast.Not):
            self._add(node, "drop not", ast.unparse(node.operand))
        self.generic_visit(node)

    def visit_BinOp(self, node: ast.BinOp) -> None:
        swap = _BINOP_SWAP.get(type(node.op))
        if swap is not None and not (isinstance(node.left, ast.Constant) and isinstance(node.left.value, str)):
            self._add(node, "arithmetic", ast.unparse(ast.BinOp(node.left, swap(), node.right)))
        self.generic_visit(node)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        self._add(node, "drop update", "pass", wrap=False)
        self.generic_visit(node)

    def visit_Expr(self, node: ast.Expr) -> None:
        if isinstance(node.value, ast.Call):
            self._add(node, "drop call", "pass", wrap=False)
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        if isinstance(node.func, ast.Name) and node.func.id in _CALL_SWAP:
            self._add(node.func, "swap call", _CALL_SWAP[node.func.id], wrap=False)
        self.generic_visit(node)

    def visit_Subscript(self, node: ast.Subscript) -> None:
        self.visit(node.value)
        if not isinstance(node.slice, ast.Constant):  # x[0] -> x[1] mostly just raises
            self.visit(node.slice)

    def visit_Constant(self, node: ast.Constant) -> None:
        # Booleans and the 0/1 of counts and starts; other numbers are tuning or formatting,
        # and an off-by-one at a boundary is the comparison mutants' job.
        v = node.value
        if isinstance(v, bool):
            self._add(node, "constant", str(not v), wrap=False)
        elif isinstance(v, int) and v in (0, 1):
            self._add(node, "constant", str(1 - v), wrap=False)


def find_mutants(path: str) -> list[Mutant]:
    with open(os.path.join(ROOT, path), "rb") as fh:
        source = fh.read()
    finder = _Finder(path, source)
    finder.visit(ast.parse(source, path))
    seen: dict[str, int] = {}
    out = []
    for m in finder.found:
        n = seen.get(m.key, 0)
        seen[m.key] = n + 1
        out.append(Mutant(**{**asdict(m), "n": n}))
    for m in out:  # every mutant must still be Python: a syntax error would be a free kill
        ast.parse(m.apply(source), path)
    return out


# --- running ---------------------------------------------------------------------------------


@dataclass
class ModuleResult:
    module: str
    mutants: int = 0
    killed: int = 0
    survived: list[str] = field(default_factory=list)
    equivalent: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def score(self) -> float:
        judged = self.mutants - len(self.equivalent)
        return self.killed / judged if judged else 1.0


def _copy_tree(dest: str) -> None:
    ignore = shutil.ignore_patterns(".venv", ".git", "__pycache__", "*.pyc", ".mypy_cache", ".ruff_cache",
                                    ".pytest_cache", "node_modules")
    shutil.copytree(ROOT, dest, ignore=ignore, dirs_exist_ok=True)


def _start_child(tree: str, tests: tuple[str, ...], log: str) -> int:
    """Fork a child that runs pytest on the tree; its pid (also its process group)."""
    pid = os.fork()
    if pid:
        return pid
    try:  # the child
        os.setsid()  # its own group, so a timeout takes its subprocesses too
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        os.chdir(tree)
        sys.path[0] = tree
        os.environ["PYTHONPATH"] = tree  # for the subprocesses some tests start
        import pytest

        code = pytest.main([*tests, *PYTEST_ARGS])
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(int(code))
    except BaseException:  # anything at all: the child must never return into the parent's loop
        import traceback

        traceback.print_exc()
        os._exit(3)


def _outcome(status: int, tests: tuple[str, ...], log: str) -> str:
    code = os.waitstatus_to_exitcode(status)
    if code in (4, 5):
        raise SystemExit(f"pytest could not run {' '.join(tests)} (exit {code}); see {log}")
    return "passed" if code == 0 else "failed"


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)
    _drop_test_databases(pid)


@dataclass
class _Slot:
    """One copy of the tree and the mutant running in it."""

    tree: str
    log: str
    pid: int | None = None
    mutant: Mutant | None = None
    deadline: float = 0.0


def _run_module(slots: list[_Slot], module: str, mutants: list[Mutant], limit: float,
                done: Callable[[Mutant, str], None]) -> None:
    """Every mutant of one module, as many at a time as there are slots."""
    tests = TABLE[module]
    with open(os.path.join(slots[0].tree, module), "rb") as fh:
        original = fh.read()
    queue = list(reversed(mutants))
    try:
        while queue or any(s.pid for s in slots):
            for slot in slots:
                if slot.pid is None and queue:
                    slot.mutant = queue.pop()
                    with open(os.path.join(slot.tree, module), "wb") as fh:
                        fh.write(slot.mutant.apply(original))
                    slot.pid, slot.deadline = _start_child(slot.tree, tests, slot.log), time.monotonic() + limit
            time.sleep(0.02)
            for slot in slots:
                if slot.pid is None or slot.mutant is None:
                    continue
                pid, status = os.waitpid(slot.pid, os.WNOHANG)
                if pid:
                    outcome = _outcome(status, tests, slot.log)
                elif time.monotonic() > slot.deadline:
                    _kill(slot.pid)
                    outcome = "timeout"
                else:
                    continue
                slot.pid = None
                with open(os.path.join(slot.tree, module), "wb") as fh:
                    fh.write(original)
                done(slot.mutant, outcome)
    finally:  # interrupted: no child outlives the run
        for slot in slots:
            if slot.pid is not None:
                _kill(slot.pid)
                slot.pid = None


def _drop_test_databases(pid: int) -> None:
    """A killed child cannot drop the PostgreSQL databases tests/store/conftest.py made for it."""
    try:
        import psycopg

        admin = os.environ.get("EXITGATE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
        with psycopg.connect(admin, autocommit=True) as conn:
            names = [r[0] for r in conn.execute("SELECT datname FROM pg_database WHERE datname LIKE %s",
                                                (f"exitgate_test_{pid}_%",))]
            for name in names:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    except Exception as exc:  # best effort: a leftover database is no wrong result
        print(f"note: could not drop the test databases of process {pid}: {exc}", file=sys.stderr)


def _preload(tree: str) -> None:
    sys.path.insert(0, tree)
    for name in PRELOAD:
        __import__(name)
    ours = {m.removesuffix(".py").replace("/", ".") for m in TABLE}
    loaded = ours & set(sys.modules)
    if loaded:
        raise SystemExit(f"preloading imported modules under test: {sorted(loaded)}")


def run(modules: list[str], progress: bool, match: list[str] | None = None, jobs: int = 1) -> list[ModuleResult]:
    """Run every mutant of the modules (or only those whose key contains one of `match`)."""
    results = []
    # A plain kill should still remove the copies: SIGTERM unwinds like Ctrl-C.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    keep = os.environ.get("EXITGATE_MUTATE_KEEP")  # a folder to keep the copies and logs in, to debug
    with tempfile.TemporaryDirectory(prefix="exitgate-mutate-", dir=keep) as tmp:
        slots = [_Slot(os.path.join(tmp, f"tree{i}"), os.path.join(tmp, f"mutant{i}.log")) for i in range(jobs)]
        for slot in slots:
            _copy_tree(slot.tree)
        os.environ.update(EXITGATE_HYPOTHESIS_PROFILE="mutation", PYTHONDONTWRITEBYTECODE="1",
                          OPENBLAS_NUM_THREADS="1", MPLBACKEND="Agg")
        sys.dont_write_bytecode = True
        _preload(slots[0].tree)
        for module in modules:
            mutants = [m for m in find_mutants(module) if match is None or any(t in m.key for t in match)]
            if not mutants:
                continue
            tests = TABLE[module]
            began = time.monotonic()
            baseline = os.path.join(tmp, "baseline.log")
            pid = _start_child(slots[0].tree, tests, baseline)
            if _outcome(os.waitpid(pid, 0)[1], tests, baseline) != "passed":
                with open(baseline, encoding="utf-8") as fh:
                    print(fh.read()[-3000:], file=sys.stderr)
                raise SystemExit(f"the tests of {module} fail without any mutant: {' '.join(tests)}")
            # Running in parallel is slower per run; an endless loop still shows within this.
            limit = 3 * jobs * (time.monotonic() - began) + 10
            res = ModuleResult(module)

            def done(m: Mutant, outcome: str, res: ModuleResult = res) -> None:
                res.mutants += 1
                if outcome != "passed":
                    res.killed += 1
                elif m.key in EQUIVALENT:
                    res.equivalent.append(m.key)
                else:
                    res.survived.append(f"{m.key} (line {m.line})")
                if progress:
                    print(f"  {m.path}:{m.line} {m.kind} {outcome}", file=sys.stderr, flush=True)

            _run_module(slots, module, mutants, limit, done)
            order = {m.key: i for i, m in enumerate(mutants)}  # source order, whatever finished first
            res.survived.sort(key=lambda s: order[s.rsplit(" (line ", 1)[0]])
            res.seconds = time.monotonic() - began
            results.append(res)
    return results


def table(results: list[ModuleResult]) -> str:
    rows = [("module", "mutants", "killed", "survived", "equivalent", "score", "seconds")]
    for r in results:
        rows.append((r.module, str(r.mutants), str(r.killed), str(len(r.survived)), str(len(r.equivalent)),
                     f"{r.score:.1%}", f"{r.seconds:.0f}"))
    total = ModuleResult("total", sum(r.mutants for r in results), sum(r.killed for r in results),
                         [s for r in results for s in r.survived], [e for r in results for e in r.equivalent],
                         sum(r.seconds for r in results))
    rows.append((total.module, str(total.mutants), str(total.killed), str(len(total.survived)),
                 str(len(total.equivalent)), f"{total.score:.1%}", f"{total.seconds:.0f}"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True)))
             for row in rows]
    lines.insert(1, "-" * len(lines[0]))
    lines.insert(len(lines) - 1, "-" * len(lines[0]))
    out = "\n".join(lines)
    if total.survived:
        out += "\n\nsurvivors:\n" + "\n".join(f"  {s}" for s in total.survived)
    if total.equivalent:
        out += "\n\nequivalent (left out of the score):\n" + "\n".join(
            f"  {e}\n      {EQUIVALENT[e]}" for e in total.equivalent)
    return out


def _as_json(results: list[ModuleResult]) -> dict[str, Any]:
    mutants = sum(r.mutants for r in results)
    killed = sum(r.killed for r in results)
    equivalent = sum(len(r.equivalent) for r in results)
    return {
        "modules": [{"module": r.module, "mutants": r.mutants, "killed": r.killed, "survived": len(r.survived),
                     "equivalent": len(r.equivalent), "score": round(r.score, 4), "seconds": round(r.seconds, 1),
                     "survivors": r.survived} for r in results],
        "mutants": mutants, "killed": killed, "survived": mutants - killed - equivalent, "equivalent": equivalent,
        "score": round(killed / (mutants - equivalent), 4) if mutants > equivalent else 1.0,
        "equivalents": {k: EQUIVALENT[k] for r in results for k in r.equivalent},
    }


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("modules", nargs="*", help=f"modules of TABLE (default: all {len(TABLE)})")
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    ap.add_argument("--list", action="store_true", help="list the mutants without running them")
    ap.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    ap.add_argument("--match", action="append", metavar="TEXT",
                    help="only mutants whose key contains TEXT (repeatable), e.g. to re-check a survivor")
    ap.add_argument("--jobs", type=int, default=1, help="mutants run at a time (default 1)")
    ap.add_argument("--rerun", metavar="RESULT.json", help="only the survivors of an earlier --json run")
    args = ap.parse_args(argv)
    unknown = [m for m in args.modules if m not in TABLE]
    if unknown:
        ap.error(f"not in TABLE: {', '.join(unknown)} (known: {', '.join(TABLE)})")
    modules = args.modules or list(TABLE)
    match = args.match
    if args.rerun:
        with open(args.rerun, encoding="utf-8") as fh:
            earlier = json.load(fh)
        match = [*(match or []), *(s.rsplit(" (line ", 1)[0] for m in earlier["modules"] for s in m["survivors"])]
        modules = [m["module"] for m in earlier["modules"] if m["survivors"] and m["module"] in modules]
    if args.list:
        for module in modules:
            for m in find_mutants(module):
                print(f"{m.line:5}  {m.key}")
        return 0
    results = run(modules, progress=not args.quiet, match=match, jobs=max(1, args.jobs))
    print(json.dumps(_as_json(results), indent=2) if args.json else table(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
