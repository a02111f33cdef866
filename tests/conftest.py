"""Session fixtures that start the real services the integration tests need.

Prefect's home is redirected to a throwaway folder before Prefect is imported, so tests never touch
the developer's profile or database.

The Prefect server's database is chosen by ``FLOWLIB_TEST_DB``: ``sqlite`` (default, Prefect's
embedded database) or ``postgres`` (a PostgreSQL cluster per session, as production runs; `make
test-postgres`). Every test that uses a Prefect server (``prefect_api``, or ``prefect_db`` for
servers of its own) is marked ``server``: ``-m server`` selects them, so new tests join the
Postgres lane by using the fixture.
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
from devtools.services import (  # noqa: E402
    DATABASES,
    Azurite,
    Database,
    PrefectServer,
    azurite,
    prefect_server,
)

TEST_DB = "FLOWLIB_TEST_DB"
SERVER_FIXTURES = {"prefect_api", "prefect_db"}


def _test_db() -> Database:
    value = os.environ.get(TEST_DB, "sqlite") or "sqlite"
    for db in DATABASES:
        if value == db:
            return db
    raise pytest.UsageError(f"{TEST_DB}={value!r}: expected one of {', '.join(DATABASES)}")


def pytest_configure(config: pytest.Config) -> None:
    """Fail at once on a wrong ``FLOWLIB_TEST_DB``, before any server starts."""
    _test_db()


def pytest_report_header(config: pytest.Config) -> str:
    return f"Prefect server database: {_test_db()} ({TEST_DB})"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test that needs a Prefect server (directly or through its fixtures) ``server``."""
    for item in items:
        if SERVER_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.server)


@pytest.fixture(scope="session")
def prefect_db() -> Database:
    """The database of every Prefect server the tests start (``FLOWLIB_TEST_DB``)."""
    return _test_db()


@pytest.fixture(scope="session")
def prefect_api(
    tmp_path_factory: pytest.TempPathFactory, prefect_db: Database
) -> Iterator[PrefectServer]:
    """A real Prefect server (SQLite or PostgreSQL: ``FLOWLIB_TEST_DB``); in-process flow runs
    report to it."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    home = tmp_path_factory.mktemp("prefect-server")
    # generous: Prefect migrates a fresh database at start, slow when the CPUs are shared
    with prefect_server(home=home, db=prefect_db, timeout=300) as server:
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
