"""schemathesis against the production app: `exitgate dev` (dev server, worker, API on the store
and Temporal ports), with a plan loaded and the mission started, so generated requests reach the
service over Temporal and the store. No input may make it answer 5xx, and every answer
conforms to the spec. (The in-process copy of this test went with api/inprocess.py.)"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from tests.devstack import DevStack, dev_stack

from .conftest import MISSION, PLAN, record

schemathesis.serializer.alias("application/x-ndjson", "text/plain")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[DevStack, dict[str, str]]]:
    data: Path = tmp_path_factory.mktemp("schemathesis-live")
    with dev_stack(data) as st:
        for person, role in (("dave", "coordinator"), ("alice", "mission_head")):
            st.cli("roles", "grant", MISSION, person, role, "--as", "ops", "--operator")
        keys = {"dave": st.cli("api-key", "create", "--person", "dave").stdout.strip(),
                "alice": st.cli("api-key", "create", "--person", "alice").stdout.strip(),
                "jmac": st.cli("api-key", "create", "--system", "jmac", "--mission", MISSION,
                               "--sources", "jmac,unpol").stdout.strip()}
        with httpx.Client(base_url=st.base, headers={"X-API-Key": keys["dave"]}) as c:
            assert c.post("/v1/plans", json=PLAN).status_code == 200
            assert c.post(f"/v1/missions/{MISSION}/start", json={"role": "coordinator"}).status_code == 200
        with httpx.Client(base_url=st.base, headers={"X-API-Key": keys["jmac"]}) as c:
            c.post(f"/v1/missions/{MISSION}/evidence", json=[record("inc-1"), record("cov-1", "police.coverage", 60.0)])
        yield st, keys


def test_no_server_errors_on_the_real_stack(stack: tuple[DevStack, dict[str, str]]) -> None:
    # The schema exists only once the stack runs, so the operations are driven here rather
    # than collected as separate tests.
    st, keys = stack
    schema = schemathesis.openapi.from_url(f"{st.base}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 12

    for op in operations:
        @given(case=op.as_strategy())
        @settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck),
                  derandomize=True, database=None)
        def run(case: schemathesis.Case) -> None:
            for who in ("alice", "dave"):
                response = case.call(base_url=st.base, headers={"Authorization": f"Bearer {keys[who]}"})
                case.validate_response(response, checks=[not_a_server_error])
                assert response.status_code < 500, (case.method, case.path, response.text)

        run()

    # The requests really reached the app (and its Temporal-backed routes).
    metrics = httpx.get(f"{st.base}/metrics").text
    served = sum(float(line.rsplit(" ", 1)[1]) for line in metrics.splitlines()
                 if line.startswith("exitgate_http_requests_total{"))
    assert served >= 10 * len(operations), served
    assert 'route="/v1/missions/{mission}/gates/{gate}/approve"' in metrics


def test_responses_conform_to_the_spec_on_the_real_stack(stack: tuple[DevStack, dict[str, str]]) -> None:
    # Status codes, content types and response bodies must match the spec. Not checked: that
    # every schema-valid request is accepted, since a pattern cannot say that 2025-02-30 is no
    # date or that a referenced record exists; those get 422/404/409 with the reason.
    from schemathesis.specs.openapi.checks import positive_data_acceptance

    st, keys = stack
    schema = schemathesis.openapi.from_url(f"{st.base}/openapi.json")
    for op in [result.ok() for result in schema.get_all_operations()]:
        @given(case=op.as_strategy())
        @settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck),
                  derandomize=True, database=None)
        def run(case: schemathesis.Case) -> None:
            response = case.call(base_url=st.base, headers={"Authorization": f"Bearer {keys['alice']}"})
            case.validate_response(response, excluded_checks=[positive_data_acceptance])

        run()


def test_stateful_sequences_on_the_real_stack(stack: tuple[DevStack, dict[str, str]]) -> None:
    """Sequences of calls, each using what earlier answers returned (schemathesis infers the
    links: a plan's mission and sha256 into the mission, gate, timeline and migrate routes), on
    the live stack, derandomised: no 5xx anywhere in a sequence."""
    st, keys = stack
    schema = schemathesis.openapi.from_url(f"{st.base}/openapi.json")
    machine = schema.as_state_machine()
    calls: list[int] = []

    class Sequences(machine):  # type: ignore[valid-type,misc]
        def get_call_kwargs(self, case: schemathesis.Case) -> dict[str, object]:
            who = "dave" if case.method.upper() == "POST" and "/plans" in case.path else "alice"
            return {"base_url": st.base, "headers": {"Authorization": f"Bearer {keys[who]}"}}

        def validate_response(self, response: object, case: schemathesis.Case, additional_checks: object = None,
                              **kwargs: object) -> None:
            calls.append(response.status_code)  # type: ignore[attr-defined]
            case.validate_response(response, checks=[not_a_server_error])  # type: ignore[arg-type]

    assert len(machine.bundles) > 0, "schemathesis found no links between the operations"
    Sequences.run(settings=settings(max_examples=25, stateful_step_count=6, deadline=None, derandomize=True,
                                    database=None, suppress_health_check=list(HealthCheck)))
    assert len(calls) >= 25 and max(calls) < 500, sorted(set(calls))
