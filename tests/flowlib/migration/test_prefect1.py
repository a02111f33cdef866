"""The Prefect 1 GraphQL client, against the local stub of the Prefect 1 API.

No Prefect 1 server can run here (it needs Hasura, Postgres and Apollo), so these tests run the
client against ``devtools.prefect1_stub``: it follows the documented Prefect 1 mutations
(``set_schedule_active``/``set_schedule_inactive``/``archive_flow`` with ``input: {flow_id}``,
``create_flow_run`` with ``create_flow_run_input``) and the Hasura ``flow``/``flow_run`` queries,
checks the declared input types and fields, and records every call it received.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import httpx
import pytest

from devtools.prefect1_stub import Prefect1Stub, parse_operation
from flowlib.migration.prefect1 import (
    M_CREATE_FLOW_RUN,
    Prefect1Client,
    Prefect1Error,
)

SLOT = datetime(2026, 11, 24, 2, tzinfo=UTC)


@pytest.fixture
def client(stub: Prefect1Stub):
    with Prefect1Client(stub.url, "p1-test-key", max_attempts=1) as c:
        yield c


def test_find_unschedule_reschedule_and_archive(client, stub):
    flow = client.find_flow("sales-products-snapshot", "sales")
    assert flow.is_schedule_active and not flow.archived and flow.project == "sales"
    client.set_schedule_inactive(flow.id)
    assert not client.flow_by_id(flow.id).is_schedule_active
    client.set_schedule_active(flow.id)
    assert client.flow_by_id(flow.id).is_schedule_active
    client.archive_flow(flow.id)
    assert client.flow_by_id(flow.id).archived
    with pytest.raises(
        Prefect1Error, match="no unarchived Prefect 1 flow 'sales-products-snapshot'"
    ):
        client.find_flow("sales-products-snapshot", "sales")
    mutations = [(c.field, c.input) for c in stub.calls if c.kind == "mutation"]
    assert mutations == [
        ("set_schedule_inactive", {"flow_id": flow.id}),
        ("set_schedule_active", {"flow_id": flow.id}),
        ("archive_flow", {"flow_id": flow.id}),
    ]
    assert all(c.authorized for c in stub.calls)


def test_create_flow_run_is_idempotent_by_key_and_checks_parameters(client, stub):
    flow = client.find_flow("finance-fx-rates", "finance")
    first = client.create_flow_run(flow.id, {"day": "2026-11-24"}, SLOT, "key-1", "failback-x")
    again = client.create_flow_run(flow.id, {"day": "2026-11-24"}, SLOT, "key-1", "failback-x")
    assert first == again and len(stub.runs_of("finance-fx-rates")) == 1
    run = stub.runs[first]
    assert (run.parameters, run.scheduled_start_time, run.name) == (
        {"day": "2026-11-24"},
        SLOT,
        "failback-x",
    )
    with pytest.raises(Prefect1Error, match="Extra parameters were supplied"):
        client.create_flow_run(flow.id, {"as_of": "2026-11-24"})
    client.archive_flow(flow.id)
    with pytest.raises(Prefect1Error, match="archived"):
        client.create_flow_run(flow.id, {"day": "2026-11-25"}, idempotency_key="key-2")


def test_flow_runs_query_filters_orders_and_projects(client, stub):
    stub.add_run("sales-orders-incremental", "Success", datetime(2026, 11, 20, 1, 5, tzinfo=UTC))
    stub.add_run("sales-orders-incremental", "Failed", datetime(2026, 11, 24, 1, 5, tzinfo=UTC))
    stub.add_run("sales-orders-incremental", "Success", datetime(2026, 11, 1, tzinfo=UTC))
    stub.add_run("sales-products-snapshot", "Success", datetime(2026, 11, 24, 2, tzinfo=UTC))
    runs = client.flow_runs("sales-orders-incremental", "sales", datetime(2026, 11, 10, tzinfo=UTC))
    assert [r.state for r in runs] == ["Failed", "Success"]  # newest first, window applied
    assert runs[0].failed and runs[1].succeeded and runs[1].end_time is not None
    query = stub.calls_to("flow_run")[-1]
    assert query.variables["where"]["scheduled_start_time"] == {"_gte": "2026-11-10T00:00:00+00:00"}


def test_wrong_token_is_an_error_naming_the_variable(stub):
    with Prefect1Client(stub.url, "wrong", max_attempts=1) as bad:
        with pytest.raises(Prefect1Error, match="UNAUTHENTICATED.*PREFECT1_API_TOKEN"):
            bad.find_flow("sales-products-snapshot", "sales")
    assert not stub.calls[-1].authorized


def test_from_env_requires_the_url():
    with pytest.raises(Prefect1Error, match="PREFECT1_API_URL is not set"):
        Prefect1Client.from_env({})
    client = Prefect1Client.from_env({"PREFECT1_API_URL": "http://x/graphql"})
    assert client.api_url == "http://x/graphql"


def test_retries_5xx_and_connection_errors_then_names_the_operation():
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(json.loads(request.content))
        if len(calls) < 3:
            return httpx.Response(503, text="unavailable")
        return httpx.Response(200, json={"data": {"create_flow_run": {"id": "run-1"}}})

    client = Prefect1Client(
        "http://p1/graphql",
        max_attempts=3,
        backoff_seconds=0,
        transport=httpx.MockTransport(handler),
    )
    assert client.create_flow_run("f", {"day": "2026-11-24"}, idempotency_key="k") == "run-1"
    # variables travel JSON-encoded, as prefect==1.4.1's Client sends them
    assert json.loads(calls[0]["variables"])["input"]["idempotency_key"] == "k"
    down = Prefect1Client(
        "http://p1/graphql",
        max_attempts=2,
        backoff_seconds=0,
        transport=httpx.MockTransport(lambda r: httpx.Response(500)),
    )
    with pytest.raises(Prefect1Error, match="create_flow_run: no answer after 2 attempts"):
        down.create_flow_run("f")


def test_stub_enforces_the_documented_input_types(stub):
    wrong_type = M_CREATE_FLOW_RUN.replace("create_flow_run_input!", "flow_run_input!")
    answer = stub.execute(
        {"query": wrong_type, "variables": {"input": {"flow_id": "x"}}}, "Bearer p1-test-key"
    )
    assert "create_flow_run_input" in answer["errors"][0]["message"]
    unknown = stub.execute(
        {"query": M_CREATE_FLOW_RUN, "variables": {"input": {"flow_id": "x", "params": {}}}},
        "Bearer p1-test-key",
    )
    assert "not defined by type create_flow_run_input" in unknown["errors"][0]["message"]
    op = parse_operation('mutation { archive_flow(input: {flow_id: "abc"}) { success } }', {})
    assert (op.kind, op.field, op.arguments, op.selection) == (
        "mutation",
        "archive_flow",
        {"input": {"flow_id": "abc"}},
        {"success": None},
    )


def test_stub_agent_runs_due_runs_with_its_executor(client, stub):
    seen = []
    stub.executor = lambda flow, run: (
        seen.append((flow.name, run.parameters)) or "Success",
        "ok",
        [],
    )
    flow = client.find_flow("sales-products-snapshot", "sales")
    client.create_flow_run(flow.id, {"as_of": "2026-11-24"}, SLOT, "k")
    future = client.create_flow_run(flow.id, {}, datetime(2999, 1, 1, tzinfo=UTC), "k2")
    assert [r.id for r in stub.run_due()] != [future]
    assert seen == [("sales-products-snapshot", {"as_of": "2026-11-24"})]
    assert stub.runs[future].state == "Scheduled"
