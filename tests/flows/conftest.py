"""Fixtures for flow tests: a lake per target, local or in Azurite."""

from __future__ import annotations

import uuid

import pytest

from flowlib.lake import Lake
from flowlib.settings import resolve_lake


@pytest.fixture(params=["local", "azurite"])
def dev_lake(request, lake_env, monkeypatch) -> Lake:
    """The dev lake the flow under test writes: a local folder, or a container in Azurite."""
    if request.param == "azurite":
        service = request.getfixturevalue("azurite_service")
        root = service.lake_root(f"dev-{uuid.uuid4().hex[:8]}", "lake")
        monkeypatch.setenv("LAKE_DEV_ROOT", root)
        monkeypatch.setenv("LAKE_DEV_CONNECTION_STRING", service.connection_string)
    return Lake(resolve_lake("dev"))
