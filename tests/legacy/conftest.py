"""Fixtures for the legacy (Prefect 1) flows.

The legacy flows run in their own venv (``.venv-legacy``, prefect 1.4.1), so every test drives
them through ``legacy/run.py`` in a subprocess and reads what they wrote with pandas here.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
LEGACY_VENV = REPO_ROOT / ".venv-legacy"
LEGACY_PYTHON = LEGACY_VENV / "bin" / "python"
RUN_PY = REPO_ROOT / "legacy" / "run.py"
SETUP_HINT = "run `make setup` (or `bash legacy/setup-venv.sh`) to create it"

# retries of the legacy tasks and HTTP session: 60 s in production, a tenth of a second here
RETRY_DELAY_SECONDS = "0.1"


def legacy_env(**overrides: str) -> dict[str, str]:
    """The environment of a legacy run: no lake/API settings leak in from the caller."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("LAKE_", "SHOP_API_", "LEDGER_API_", "PREFECT", "VIRTUAL_ENV"))
    }
    env["PYTHONPATH"] = str(REPO_ROOT)
    env["LEGACY_RETRY_DELAY_SECONDS"] = RETRY_DELAY_SECONDS
    env.update(overrides)
    return env


@pytest.fixture
def legacy_subprocess_env() -> dict[str, str]:
    """A clean environment for running legacy scripts (no lake/API settings)."""
    return legacy_env()


@pytest.fixture(scope="session")
def legacy_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The legacy venv's interpreter; FAILS (never skips) when the venv is missing."""
    if not LEGACY_PYTHON.exists():
        pytest.fail(f"{LEGACY_VENV} is missing: {SETUP_HINT}.", pytrace=False)
    proc = subprocess.run(
        [str(LEGACY_PYTHON), "-c", "import prefect; print(prefect.__version__)"],
        capture_output=True,
        text=True,
        timeout=120,
        env=legacy_env(),
        check=False,
    )
    if proc.returncode != 0 or proc.stdout.strip() != "1.4.1":
        pytest.fail(
            f"{LEGACY_VENV} is broken (prefect: {proc.stdout.strip()!r}, {proc.stderr[-2000:]}); "
            f"{SETUP_HINT}.",
            pytrace=False,
        )
    return LEGACY_PYTHON


@dataclass
class LegacyRun:
    """One finished ``legacy/run.py`` invocation."""

    returncode: int
    stdout: str
    stderr: str
    wrote: list[str]

    def explain(self) -> str:
        return (
            f"exit {self.returncode}\n--- stdout\n{self.stdout[-6000:]}"
            f"\n--- stderr\n{self.stderr[-6000:]}"
        )


@dataclass
class Lake:
    """A throwaway ``file://`` prod lake."""

    root: str
    path: Path

    def files(self, prefix: str = "") -> list[str]:
        top = self.path / prefix
        if not top.exists():
            return []
        return sorted(p.relative_to(self.path).as_posix() for p in top.rglob("*") if p.is_file())

    def url(self, rel: str) -> str:
        return self.root + rel


@dataclass
class Api:
    """The sample API the legacy flows read, with its credentials."""

    url: str
    shop_token: str
    ledger_key: str
    handle: Any

    def clear_faults(self) -> None:
        httpx.delete(f"{self.url}/_admin/faults", timeout=10).raise_for_status()

    def inject_fault(self, path: str, mode: str, count: int) -> None:
        self.handle.inject_fault(path, mode, count=count)

    def shop(self, path: str, **params: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.shop_token}"}
        response = httpx.get(f"{self.url}{path}", params=params, headers=headers, timeout=60)
        response.raise_for_status()
        return response

    def ledger(self, path: str, **params: Any) -> httpx.Response:
        headers = {"X-API-Key": self.ledger_key}
        response = httpx.get(f"{self.url}{path}", params=params, headers=headers, timeout=60)
        response.raise_for_status()
        return response


@pytest.fixture(scope="session")
def legacy_api_server() -> Iterator[Api]:
    """One sample API server for the whole legacy suite (faults are cleared per test)."""
    from devtools.sample_api import SampleApi

    with SampleApi.start_subprocess(port=0) as api:
        yield Api(
            url=str(api.url).rstrip("/"),
            shop_token=api.shop_token,
            ledger_key=api.ledger_key,
            handle=api,
        )


@pytest.fixture
def legacy_api(legacy_api_server: Api) -> Iterator[Api]:
    legacy_api_server.clear_faults()
    yield legacy_api_server
    legacy_api_server.clear_faults()


@pytest.fixture
def prod_lake(tmp_path: Path) -> Lake:
    path = (tmp_path / "lake" / "prod").resolve()
    path.mkdir(parents=True)
    return Lake(root=path.as_uri() + "/", path=path)


@pytest.fixture
def run_legacy(legacy_python: Path, legacy_api: Api, prod_lake: Lake, tmp_path: Path) -> Any:
    """Run ``legacy/run.py FLOW --param k=v ... --scheduled-start TS`` against the sample API."""

    def run(
        flow: str,
        params: dict[str, Any] | None = None,
        scheduled_start: str | None = None,
        lake_root: str | None = None,
        extra_env: dict[str, str] | None = None,
        timeout: float = 300,
    ) -> LegacyRun:
        cmd = [str(legacy_python), str(RUN_PY), flow]
        for key, value in (params or {}).items():
            text = value if isinstance(value, str) else _json(value)
            cmd += ["--param", f"{key}={text}"]
        if scheduled_start:
            cmd += ["--scheduled-start", scheduled_start]
        env = legacy_env(
            LAKE_PROD_ROOT=lake_root or prod_lake.root,
            SHOP_API_URL=legacy_api.url,
            SHOP_API_TOKEN=legacy_api.shop_token,
            LEDGER_API_URL=legacy_api.url,
            LEDGER_API_KEY=legacy_api.ledger_key,
            # Prefect 1 keeps its config and home out of the developer's ~/.prefect
            PREFECT__HOME_DIR=str(tmp_path / "prefect1-home"),
            PREFECT__USER_CONFIG_PATH=str(tmp_path / "prefect1-home" / "config.toml"),
            **(extra_env or {}),
        )
        proc = subprocess.run(
            cmd,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
            cwd=tmp_path,
            check=False,
        )
        wrote = [
            line.removeprefix("WROTE ").strip()
            for line in proc.stdout.splitlines()
            if line.startswith("WROTE ")
        ]
        return LegacyRun(proc.returncode, proc.stdout, proc.stderr, wrote)

    return run


def _json(value: Any) -> str:
    import json

    return json.dumps(value)
