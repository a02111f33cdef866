"""Real local services for tests, the demo and benchmarks: Azurite and a Prefect server.

Each starter picks a free port, waits until the service answers and stops it on exit. A missing
tool fails with the command that installs it, never with a skip.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from flowctl.deployments.prefect_cli import prefect_cli
from flowlib import REPO_ROOT

__all__ = [
    "REPO_ROOT",
    "Azurite",
    "PrefectServer",
    "ServiceError",
    "azurite",
    "free_port",
    "prefect_cli",
    "prefect_server",
    "sync_source_limits",
    "wait_http",
]


# The emulator's documented, public well-known account (not a secret).
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)


class ServiceError(RuntimeError):
    """A local service could not start; the message says what to install or check."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_http(url: str, timeout: float, proc: subprocess.Popen[bytes] | None = None) -> None:
    """Poll a URL until it answers (any status below 500) or fail with the process's output."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise ServiceError(f"{url}: the process exited with code {proc.returncode}")
        try:
            if httpx.get(url, timeout=2.0).status_code < 500:
                return
        except httpx.HTTPError as exc:
            last = exc
        time.sleep(0.25)
    raise ServiceError(f"{url} did not answer within {timeout:.0f}s ({last})")


@dataclass(frozen=True)
class Azurite:
    """A running Azurite blob service."""

    blob_url: str

    @property
    def connection_string(self) -> str:
        """The connection string adlfs and azure-storage-blob take."""
        return (
            "DefaultEndpointsProtocol=http;"
            f"AccountName={AZURITE_ACCOUNT};AccountKey={AZURITE_KEY};"
            f"BlobEndpoint={self.blob_url};"
        )

    def lake_root(self, container: str, prefix: str = "") -> str:
        """An ``abfs://`` lake root in this emulator (the container is created on demand)."""
        from azure.storage.blob import BlobServiceClient

        client = BlobServiceClient.from_connection_string(self.connection_string)
        if not client.get_container_client(container).exists():
            client.create_container(container)
        tail = f"/{prefix.strip('/')}/" if prefix else "/"
        return f"abfs://{container}@{AZURITE_ACCOUNT}.dfs.core.windows.net{tail}"


def azurite_binary() -> Path:
    """The Azurite blob server installed by ``npm ci`` (``make setup``)."""
    path = REPO_ROOT / "node_modules" / ".bin" / "azurite-blob"
    if not path.exists():
        raise ServiceError(
            f"{path} is missing: run `make setup` (it runs `npm ci` for Azurite; needs Node 18+)."
        )
    return path


@contextmanager
def azurite(workdir: Path | None = None) -> Iterator[Azurite]:
    """Start Azurite's blob service on a free port in a throwaway location."""
    port = free_port()
    location = Path(tempfile.mkdtemp(prefix="azurite-", dir=workdir))
    cmd = [
        str(azurite_binary()),
        "--blobHost",
        "127.0.0.1",
        "--blobPort",
        str(port),
        "--location",
        str(location),
        "--skipApiVersionCheck",
        "--silent",
        "--loose",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}/{AZURITE_ACCOUNT}"
    try:
        wait_http(url + "?comp=list", timeout=60, proc=proc)
        yield Azurite(blob_url=url)
    finally:
        # Azurite closes on SIGINT/SIGTERM but its node process lingers; its data is throwaway
        proc.kill()
        proc.wait()
        shutil.rmtree(location, ignore_errors=True)


@dataclass(frozen=True)
class PrefectServer:
    """A running ``prefect server start`` with its own SQLite database."""

    api_url: str
    home: Path
    ui: bool = False

    @property
    def ui_url(self) -> str:
        """The Prefect UI's root (served by the same server when started with ``ui=True``)."""
        return self.api_url.removesuffix("/api")

    def env(self) -> dict[str, str]:
        """Environment for subprocesses (CLI, workers) that talk to this server."""
        env = dict(os.environ)
        env.update({"PREFECT_API_URL": self.api_url, "PREFECT_HOME": str(self.home)})
        return env


@contextmanager
def prefect_server(
    home: Path | None = None,
    timeout: float = 120,
    ui: bool = False,
    port: int = 0,
    source_limits: bool = True,
) -> Iterator[PrefectServer]:
    """Start a real Prefect server (SQLite) on a free port (or ``port``); stop it on exit.

    ``ui``: also serve the Prefect UI (for people, and for the browser test of the artifact).
    ``source_limits``: create the source APIs' global concurrency limits from their contracts
    (``flowctl limits sync``), as an operator does once per server: flow runs that report to a
    server refuse to call a source whose limit is missing (docs/sources.md, "Limits").
    """
    port = port or free_port()
    home = home or Path(tempfile.mkdtemp(prefix="prefect-home-"))
    home.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env.update(
        {
            "PREFECT_HOME": str(home),
            "PREFECT_API_DATABASE_CONNECTION_URL": f"sqlite+aiosqlite:///{home}/prefect.db",
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_UI_ENABLED": "true" if ui else "false",
            "PREFECT_LOGGING_LEVEL": "WARNING",
        }
    )
    env.pop("PREFECT_API_URL", None)
    log = (home / "server.log").open("wb")
    proc = subprocess.Popen(
        [prefect_cli(), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    api_url = f"http://127.0.0.1:{port}/api"
    try:
        try:
            wait_http(api_url + "/health", timeout=timeout, proc=proc)
        except ServiceError as exc:
            tail = (home / "server.log").read_text(errors="replace")[-2000:]
            raise ServiceError(f"prefect server did not start: {exc}\n{tail}") from exc
        if source_limits:
            sync_source_limits(api_url)
        yield PrefectServer(api_url=api_url, home=home, ui=ui)
    finally:
        _stop(proc)
        log.close()


def sync_source_limits(api_url: str) -> None:
    """``flowctl limits sync`` against the server at ``api_url``, in this process."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from flowctl.limits import sync_limits

    with temporary_settings(updates={PREFECT_API_URL: api_url}):
        sync_limits()


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Interrupt (Azurite and uvicorn stop at once on SIGINT), then kill if it lingers."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
