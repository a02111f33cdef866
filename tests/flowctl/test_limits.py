"""``flowctl limits [sync]``: the source APIs' global concurrency limits from their contracts."""

from __future__ import annotations

import json

import pytest

from flowctl.common import FlowctlError
from flowctl.limits import planned_limits
from flowlib.catalog import SourceContract, source_contracts
from flowlib.http import SourceSpec
from flowlib.limits import source_limit_name

from .conftest import api, flowctl


def contract(project: str, name: str, limit: object) -> SourceContract:
    spec = SourceSpec(name=name, global_concurrency=limit)  # type: ignore[arg-type]
    return SourceContract(project, f"flows.{project}.sources", spec)


def test_every_contract_declares_its_limit():
    planned = {p.source: p.limit for p in planned_limits()}
    assert planned == {c.spec.name: c.spec.global_concurrency for c in source_contracts()}
    assert set(planned) == {"shop", "ledger"}


def test_bad_contracts_are_refused_all_at_once_naming_the_file():
    with pytest.raises(FlowctlError) as bad:
        planned_limits(
            [
                contract("sales", "shop", None),
                contract("finance", "ledger", 0),
                contract("finance", "crm", 3),
                contract("sales", "crm", 5),
            ]
        )
    message = str(bad.value)
    assert "flows/sales/sources.py: SourceSpec(name='shop') has global_concurrency=None" in message
    assert "flows/finance/sources.py: SourceSpec(name='ledger') has global_concurrency=0" in message
    assert "flows/finance/sources.py has 3; one API has one limit" in message
    with pytest.raises(FlowctlError, match="no source contracts found"):
        planned_limits([])


@pytest.mark.integration
def test_sync_creates_updates_and_is_idempotent(prefect_api):
    from prefect.client.schemas.actions import GlobalConcurrencyLimitUpdate

    shop = source_limit_name("shop")

    def limits(*args: str) -> dict[str, dict[str, object]]:
        result = flowctl("limits", *args, "--json")
        assert result.exit_code == 0, result.output
        return {row["source"]: row for row in json.loads(result.output)["limits"]}

    try:
        assert {r["action"] for r in limits("sync").values()} == {"unchanged"}  # the fixture's

        # someone changed the server: shop's limit raised and switched off, ledger deleted
        api(
            lambda c: c.update_global_concurrency_limit(
                shop,
                GlobalConcurrencyLimitUpdate(limit=9, active=False),  # type: ignore[arg-type,unused-ignore]
            )
        )
        api(lambda c: c.delete_global_concurrency_limit_by_name(source_limit_name("ledger")))
        shown = limits()  # shows, changes nothing
        assert (shown["shop"]["action"], shown["shop"]["server_limit"]) == ("would-update", 9)
        assert shown["ledger"]["action"] == "would-create"
        assert limits()["shop"]["action"] == "would-update"

        synced = limits("sync")
        assert (synced["shop"]["action"], synced["ledger"]["action"]) == ("updated", "created")
        server = api(lambda c: c.read_global_concurrency_limit_by_name(shop))
        assert (server.limit, server.active) == (2, True)
        assert {r["action"] for r in limits("sync").values()} == {"unchanged"}

        # a slot a killed process never gave back (Prefect 2 keeps it; 3.x without a lease too)
        api(lambda c: c.increment_concurrency_slots(names=[shop], slots=1, mode="concurrency"))
        assert limits()["shop"]["active_slots"] == 1
        reset = limits("sync", "--reset-slots")
        assert (reset["shop"]["action"], reset["shop"]["active_slots"]) == ("reset", 0)
        assert api(lambda c: c.read_global_concurrency_limit_by_name(shop)).active_slots == 0
    finally:
        flowctl("limits", "sync")


@pytest.mark.integration
def test_an_unreachable_server_exits_2_naming_it(monkeypatch):
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from devtools.services import free_port

    dead = f"http://127.0.0.1:{free_port()}/api"
    with temporary_settings(updates={PREFECT_API_URL: dead}):
        result = flowctl("limits", "sync")
    assert result.exit_code == 2, result.output
    assert dead in result.output
