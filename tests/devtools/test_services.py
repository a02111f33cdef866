"""The PostgreSQL fixture and the Prefect server's database choice (``FLOWLIB_TEST_DB``).

Real PostgreSQL from Debian's package (``make postgres-tools``): a cluster starts on a free port
in a temp directory, answers SQL, and is gone, port and files, after the block.
"""

from __future__ import annotations

import asyncio
import socket

import pytest

from devtools.services import Database, PrefectServer, ServiceError, postgres

pytestmark = pytest.mark.integration


async def _query(url: str, sql: str) -> list[tuple[object, ...]]:
    import asyncpg

    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        return [tuple(r) for r in await conn.fetch(sql)]
    finally:
        await conn.close()


def _refuses(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def test_postgres_starts_answers_and_is_gone_after() -> None:
    with postgres() as pg:
        rows = asyncio.run(_query(pg.url, "select current_database(), current_user"))
        assert rows == [("prefect", "prefect")]
        assert f"\n{pg.port}\n" in (pg.directory / "data" / "postmaster.pid").read_text()
    assert _refuses(pg.port), "postgres still listens after the block"
    assert not pg.directory.exists()


def test_missing_postgres_names_the_make_target(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOWLIB_POSTGRES_BIN", "/nonexistent/postgresql/bin")
    with pytest.raises(ServiceError, match="make postgres-tools"), postgres():
        pass


def test_the_session_server_runs_on_the_chosen_database(
    prefect_api: PrefectServer, prefect_db: Database
) -> None:
    """What the lane claims: on FLOWLIB_TEST_DB=postgres, Prefect's tables live in PostgreSQL."""
    assert prefect_api.db == prefect_db
    if prefect_db == "postgres":
        assert prefect_api.database_url.startswith("postgresql+asyncpg://")
        tables = asyncio.run(
            _query(
                prefect_api.database_url,
                "select tablename from pg_tables where tablename in ('flow_run', 'deployment')",
            )
        )
        assert sorted(t[0] for t in tables) == ["deployment", "flow_run"]
    else:
        assert prefect_api.database_url.startswith("sqlite+aiosqlite:///")
