"""Session fixtures that start the real services the integration tests need.

Prefect's home is redirected to a throwaway folder before Prefect is imported, so tests never touch
the developer's profile or database.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

os.environ.setdefault("PREFECT_HOME", tempfile.mkdtemp(prefix="pytest-prefect-home-"))
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_TO_API_BATCH_INTERVAL", "0.3")
for _var in [v for v in os.environ if v.startswith(("LAKE_", "SHOP_API_", "LEDGER_API_"))]:
    del os.environ[_var]
os.environ.pop("TARGET_ENV", None)
os.environ.pop("PREFECT_API_URL", None)

import pytest  # noqa: E402

from devtools.sample_api import SampleApi  # noqa: E402
from devtools.services import Azurite, PrefectServer, azurite, prefect_server  # noqa: E402


@pytest.fixture(scope="session")
def prefect_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrefectServer]:
    """A real Prefect server (SQLite); in-process flow runs report to it."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with prefect_server(home=tmp_path_factory.mktemp("prefect-server")) as server:
        os.environ["PREFECT_API_URL"] = server.api_url
        with temporary_settings(updates={PREFECT_API_URL: server.api_url}):
            yield server
        os.environ.pop("PREFECT_API_URL", None)


@pytest.fixture(scope="session")
def azurite_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Azurite]:
    """Azurite's blob service: ADLS through the Blob API, as adlfs and prefect-azure use it."""
    with azurite(workdir=tmp_path_factory.mktemp("azurite")) as service:
        yield service


@pytest.fixture
def lake_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Point the dev and prod lakes at fresh local folders; returns the roots."""
    roots = {env: (tmp_path / "lake" / env).resolve().as_uri() + "/" for env in ("dev", "prod")}
    monkeypatch.setenv("LAKE_DEV_ROOT", roots["dev"])
    monkeypatch.setenv("LAKE_PROD_ROOT", roots["prod"])
    return roots


@pytest.fixture(scope="session")
def sample_api() -> Iterator[SampleApi]:
    """The bundled source APIs in their own process (their own GIL), on a free port."""
    with SampleApi.start_subprocess(port=0) as api:
        yield api


@pytest.fixture
def sources_env(sample_api: SampleApi, monkeypatch: pytest.MonkeyPatch) -> SampleApi:
    """Point both source APIs at the sample server, with its secrets in the environment."""
    sample_api.clear_faults()
    monkeypatch.setenv("SHOP_API_URL", sample_api.url)
    monkeypatch.setenv("SHOP_API_TOKEN", sample_api.shop_token)
    monkeypatch.setenv("LEDGER_API_URL", sample_api.url)
    monkeypatch.setenv("LEDGER_API_TOKEN", sample_api.ledger_key)
    monkeypatch.setenv("SHOP_API_BACKOFF_SECONDS", "0.05")
    monkeypatch.setenv("LEDGER_API_BACKOFF_SECONDS", "0.05")
    return sample_api
