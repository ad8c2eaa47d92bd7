"""Load a rehearsal scenario and find every problem in it before anything runs.

Three passes, each only when the previous one found enough to go on: the shape
(`schemas.scenario`, pydantic), the files it names (the plan and any plan it migrates to, by
the plan loader's own messages; the evidence file), then the checks across the whole scenario
(names that must exist in a plan, people named before they act, times in order). Every
problem is a `rules.problems.Problem` with a JSON path into the scenario.

Evidence records are checked here too, in arrival order, by the one implementation of
CONTRACT section 2 (`rules.evidence.check_record`) as a live service would check them: a
record that would be rejected is reported in the transcript with that rule's own words (or,
with `strict_evidence: true`, is a problem of the scenario).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError

from rules.documents import DocumentError, load_document, parse_document
from rules.evidence import Ledger, Outcome, parse_line
from rules.plan import LoadedPlan, PlanError, iter_benchmarks, load_plan
from rules.problems import Problem, json_path
from schemas.scenario import ACTIONS, Action, Delegate, Grant, Migrate, ScenarioFile
from schemas.timefmt import parse_timestamp
from service.register import plan_roles

__all__ = ["Arrival", "LoadedScenario", "ScenarioError", "load_scenario", "load_scenario_doc"]

class ScenarioError(ValueError):
    """The scenario is refused; `problems` lists every reason, each with its JSON path."""

    def __init__(self, problems: list[Problem]):
        self.problems = sorted(set(problems), key=lambda p: (p.path, p.message))
        super().__init__(f"scenario refused, {len(self.problems)} problem(s):\n"
                         + "\n".join(f"  {p}" for p in self.problems))


@dataclass(frozen=True)
class Arrival:
    """An evidence record and the instant it arrives (its reported_at, else observed_at)."""

    at: int
    line: int
    record: dict[str, Any]


@dataclass
class LoadedScenario:
    doc: ScenarioFile
    base: Path
    plan: LoadedPlan
    # The plans the actions migrate to, by the path the action wrote.
    migrations: dict[str, LoadedPlan]
    arrivals: list[Arrival]
    # The evidence rules' verdict on each record, in arrival order (lines that are not records
    # at all, or whose arrival instant cannot be read, first).
    evidence_outcomes: list[Outcome]
    # Every instant the scenario wrote, as first written: echoed so in the transcript.
    written: dict[int, str] = field(default_factory=dict)

    @property
    def end(self) -> int:
        return parse_timestamp(self.doc.end) if self.doc.end else parse_timestamp(self.doc.checkpoints[-1])

    def echo(self, us: int) -> str:
        from schemas.timefmt import format_timestamp

        return self.written.get(us) or format_timestamp(us)


def load_scenario(path: str | Path) -> LoadedScenario:
    """Read and check a scenario file (YAML or JSON); raise ScenarioError listing every problem."""
    p = Path(path)
    try:
        doc = load_document(p)
    except DocumentError as exc:
        raise ScenarioError([Problem("$", str(exc))]) from None
    return load_scenario_doc(doc, p.parent)


def load_scenario_doc(doc: Any, base: Path, files: dict[str, str] | None = None) -> LoadedScenario:
    """Check a parsed scenario whose paths are relative to `base`, or (with `files`) name the
    texts given inline (the API's form)."""
    problems: list[Problem] = []
    model, actions = _shape(doc, problems)
    if model is None:
        raise ScenarioError(problems)
    reader = _Reader(base, files)
    plan = reader.plan(model.plan, ["plan"], problems)
    migrations: dict[str, LoadedPlan] = {}
    for i, act in actions:
        if isinstance(act, Migrate) and act.plan not in migrations:
            new = reader.plan(act.plan, ["actions", i, "plan"], problems)
            if new is not None:
                migrations[act.plan] = new
                if plan is not None and new.mission_id != plan.mission_id:
                    problems.append(Problem(json_path(["actions", i, "plan"]), f"plan {act.plan} is for mission "
                                            f"{new.mission_id!r}, not {plan.mission_id!r}"))
    lines = reader.evidence(model.evidence, problems)
    problems += _cross_checks(model, actions, [p for p in [plan, *migrations.values()] if p is not None])
    if problems or plan is None:
        raise ScenarioError(problems)
    model = model.model_copy(update={"actions": [a for _, a in actions]})
    arrivals, outcomes = _arrivals(lines, plan, migrations, model)
    if model.strict_evidence:
        problems += [Problem(json_path(["evidence"]), o.message) for o in outcomes if o.status == "rejected"]
        if problems:
            raise ScenarioError(problems)
    return LoadedScenario(model, base, plan, migrations, arrivals, outcomes, _written(model))


_ACTION: TypeAdapter[Action] = TypeAdapter(Action)


def _shape(doc: Any, problems: list[Problem]) -> tuple[ScenarioFile | None, list[tuple[int, Action]]]:
    """The scenario without its actions, then each action on its own: a typo in one action
    does not hide what is wrong elsewhere."""
    raw_actions = doc.get("actions") if isinstance(doc, dict) else None
    model: ScenarioFile | None = None
    try:
        model = ScenarioFile.model_validate({**doc, "actions": []} if isinstance(raw_actions, list) else doc)
    except ValidationError as exc:
        problems += [_problem(e) for e in exc.errors()]
    actions: list[tuple[int, Action]] = []
    for i, raw in enumerate(raw_actions if isinstance(raw_actions, list) else []):
        try:
            actions.append((i, _ACTION.validate_python(raw)))
        except ValidationError as exc:
            problems += [_problem({**e, "loc": ("actions", i, *e["loc"])}) for e in exc.errors()]
    return model, actions


def _problem(err: Any) -> Problem:
    loc = list(err["loc"])
    # The discriminator's value is pydantic's bookkeeping, not part of the document's path.
    if len(loc) >= 3 and loc[0] == "actions" and loc[2] in ACTIONS:
        del loc[2]
    msg = err["msg"]
    if err["type"] == "extra_forbidden":
        msg = "unknown field"
    elif err["type"] == "union_tag_invalid":
        msg = f"unknown action {err['input'].get('do')!r} (allowed: {', '.join(ACTIONS)})"
    elif err["type"] == "union_tag_not_found":
        msg = f"an action needs `do` (one of {', '.join(ACTIONS)})"
    # pydantic writes the alias it was given; the document says `from`.
    return Problem(json_path(["from" if p == "from_" else p for p in loc]), msg)


class _Reader:
    def __init__(self, base: Path, files: dict[str, str] | None):
        self.base = base
        self.files = files

    def _doc(self, name: str) -> Any:
        if self.files is None:
            return load_document(self.base / name)
        if name not in self.files:
            raise DocumentError(f"no file {name!r} was given with the scenario")
        return parse_document(self.files[name], "json" if name.endswith(".json") else
                              "yaml" if name.endswith((".yaml", ".yml")) else None)

    def plan(self, name: str, path: list[str | int], problems: list[Problem]) -> LoadedPlan | None:
        try:
            return load_plan(self._doc(name))
        except DocumentError as exc:
            problems.append(Problem(json_path(path), str(exc)))
        except PlanError as exc:
            problems += [Problem(json_path(path), f"{name} {p.path}: {p.message}") for p in exc.problems]
        return None

    def evidence(self, name: str | None, problems: list[Problem]) -> list[str]:
        if name is None:
            return []
        try:
            if self.files is not None:
                if name not in self.files:
                    raise DocumentError(f"no file {name!r} was given with the scenario")
                return self.files[name].splitlines()
            return (self.base / name).read_text(encoding="utf-8").splitlines()
        except DocumentError as exc:
            problems.append(Problem("$.evidence", str(exc)))
        except OSError as exc:
            problems.append(Problem("$.evidence", f"cannot read {self.base / name}: {exc.strerror or exc}"))
        except UnicodeDecodeError:
            problems.append(Problem("$.evidence", f"{name} is not UTF-8 text"))
        return []


# --- across the scenario ------------------------------------------------------------------


Indexed = list[tuple[int, Action]]


def _cross_checks(model: ScenarioFile, actions: Indexed, plans: list[LoadedPlan]) -> list[Problem]:
    return [*_name_problems(actions, plans), *_role_problems(model, actions, plans), *_people_problems(model, actions),
            *_time_problems(model, actions)]


def _role_problems(model: ScenarioFile, actions: Indexed, plans: list[LoadedPlan]) -> Iterator[Problem]:
    """The register holds only roles a plan names (the product refuses any other grant)."""
    if not plans:
        return
    roles: set[str] = set().union(*(plan_roles(p) or set() for p in plans))
    for i, a in enumerate(model.roles):
        if a.role not in roles:
            yield Problem(json_path(["roles", i, "role"]), f"{a.role!r} is not a role of the plan "
                          f"(its roles: {', '.join(sorted(roles))})")


def _name_problems(actions: Indexed, plans: list[LoadedPlan]) -> Iterator[Problem]:
    if not plans:
        return
    # Names are checked against every plan the scenario uses: a gate only a later plan has is
    # a fair thing to try before the migration (the product refuses it, UnknownGate).
    gates = {g for p in plans for g in p.gates}
    phases = {ph for p in plans for ph in p.phases}
    benchmarks: dict[str, set[str]] = {}
    for p in plans:
        for gid, ref in p.gates.items():
            benchmarks.setdefault(gid, set()).update(b.id for b, _ in iter_benchmarks(ref.gate.rule))
    for i, act in actions:
        gate = getattr(act, "gate", None)
        if gate is not None and gate not in gates:
            yield Problem(json_path(["actions", i, "gate"]), f"unknown gate {gate!r}")
        bench = getattr(act, "benchmark", None)
        if bench is not None and gate in gates and bench not in benchmarks[gate]:
            yield Problem(json_path(["actions", i, "benchmark"]), f"gate {gate!r} has no benchmark {bench!r}")
        phase = getattr(act, "phase", None)
        if phase is not None and phase not in phases:
            yield Problem(json_path(["actions", i, "phase"]), f"unknown phase {phase!r}")
        for j, g in enumerate(act.gates or [] if isinstance(act, Delegate) else []):
            if g not in gates:
                yield Problem(json_path(["actions", i, "gates", j]), f"unknown gate {g!r}")


def _people_problems(model: ScenarioFile, actions: Indexed) -> Iterator[Problem]:
    """Everyone who acts is named first: in the register, or by a grant or a delegation made
    at or before the act."""
    known = {a.person for a in model.roles}
    introduced: list[tuple[int, str]] = []
    for _, act in actions:
        if isinstance(act, Grant):
            introduced.append((parse_timestamp(act.at), act.person))
        elif isinstance(act, Delegate):
            introduced.append((parse_timestamp(act.at), act.to))

    def named(person: str, at: str) -> bool:
        t = parse_timestamp(at)
        return person in known or any(who == person and when <= t for when, who in introduced)

    if not named(model.start.person, model.start.at):
        yield Problem("$.start.person", f"unknown person {model.start.person!r}: name them in `roles` first")
    for i, act in actions:
        fields: list[tuple[str, str | None]] = [("person", act.person), ("on_behalf_of", getattr(act, "on_behalf_of", None))]
        if isinstance(act, Grant):
            fields = [("by", act.by)]
        elif act.do == "end_role":
            fields = [("by", getattr(act, "by", None)), ("person", act.person)]
        for name, who in fields:
            if who is not None and not named(who, act.at):
                yield Problem(json_path(["actions", i, name]),
                              f"unknown person {who!r}: name them in `roles`, a grant or a delegation first")


def _time_problems(model: ScenarioFile, actions: Indexed) -> Iterator[Problem]:
    for i, a in enumerate(model.roles):
        if a.until is not None and parse_timestamp(a.until) <= parse_timestamp(a.from_):
            yield Problem(json_path(["roles", i, "until"]), f"{a.until} is not after from {a.from_}")
    last: tuple[int, str] | None = None
    for i, act in actions:
        t = parse_timestamp(act.at)
        if last is not None and t < last[0]:
            yield Problem(json_path(["actions", i, "at"]), f"{act.at} is before the previous action's {last[1]}: "
                          "actions are listed in time order")
        last = (t, act.at)
        until = getattr(act, "until", None)
        if until is not None and parse_timestamp(until) <= t:
            yield Problem(json_path(["actions", i, "until"]), f"{until} is not after the action's instant {act.at}")
    for i in range(1, len(model.checkpoints)):
        if parse_timestamp(model.checkpoints[i]) <= parse_timestamp(model.checkpoints[i - 1]):
            yield Problem(json_path(["checkpoints", i]), f"{model.checkpoints[i]} is not after "
                          f"{model.checkpoints[i - 1]}: checkpoints strictly increase")
    if not model.checkpoints and model.end is None:
        yield Problem("$.checkpoints", "give at least one checkpoint, or `end`")
        return
    end = model.end or model.checkpoints[-1]
    end_us = parse_timestamp(end)
    for i, act in actions:
        if parse_timestamp(act.at) > end_us:
            yield Problem(json_path(["actions", i, "at"]), f"{act.at} is after the scenario's end {end}")
    if parse_timestamp(model.start.at) > end_us:
        yield Problem("$.start.at", f"{model.start.at} is after the scenario's end {end}")
    for i, c in enumerate(model.checkpoints):
        if parse_timestamp(c) > end_us:
            yield Problem(json_path(["checkpoints", i]), f"{c} is after the scenario's end {end}")


# --- evidence -----------------------------------------------------------------------------


def _arrival(raw: Any) -> int | None:
    if not isinstance(raw, dict):
        return None
    for key in ("reported_at", "observed_at"):
        text = raw.get(key)
        if text is not None:
            try:
                return parse_timestamp(text) if isinstance(text, str) else None
            except ValueError:
                return None
    return None


def _arrivals(lines: list[str], plan: LoadedPlan, migrations: dict[str, LoadedPlan],
              model: ScenarioFile) -> tuple[list[Arrival], list[Outcome]]:
    """Order the records by arrival (ties in file order) and check them in that order, each as
    received at its arrival, on the plan the mission would run on then."""
    outcomes: list[Outcome] = []
    timed: list[tuple[int, int, Any]] = []
    for n, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        raw = parse_line(text, n)
        if isinstance(raw, Outcome):
            outcomes.append(raw)
            continue
        at = _arrival(raw)
        if at is None:
            # No instant to arrive at: what the rules say of it is why.
            outcomes.append(Ledger(plan).add(raw, line=n))
            continue
        timed.append((at, n, raw))
    timed.sort(key=lambda x: (x[0], x[1]))
    switches = sorted((parse_timestamp(a.at), migrations[a.plan]) for a in model.actions
                      if isinstance(a, Migrate) and a.plan in migrations)
    ledger = Ledger(plan)
    arrivals: list[Arrival] = []
    for at, n, raw in timed:
        # A migration at an instant takes effect after the evidence of that instant.
        current = [p for t, p in switches if t < at]
        if current:
            ledger.plan = current[-1]
        out = ledger.add(raw, line=n, received_at=at)
        outcomes.append(out)
        if out.status != "rejected":
            arrivals.append(Arrival(at, n, raw))
    return arrivals, outcomes


def _written(model: ScenarioFile) -> dict[int, str]:
    out: dict[int, str] = {}

    def note(text: str | None) -> None:
        if text is not None:
            out.setdefault(parse_timestamp(text), text)

    note(model.start.at)
    for act in model.actions:
        note(act.at)
        note(getattr(act, "until", None))
    for c in model.checkpoints:
        note(c)
    note(model.end)
    return out

