"""Start and drive the sample API from tests and benchmarks.

Two ways to run it, same interface: in a thread of the current process (fast to start, ideal for
unit tests) or as ``python -m devtools.sample_api`` in a subprocess (its own GIL, so a benchmark
measures the client rather than a server competing with it for the interpreter).
"""

from __future__ import annotations

import contextlib
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Self

import httpx

from devtools.sample_api.config import SampleApiConfig
from devtools.sample_api.faults import Fault, FaultMode
from devtools.sample_api.server import SampleApiServer

__all__ = ["SampleApi"]

_READY_PREFIX = "sample-api listening on "
_PACKAGE_ROOT = Path(__file__).resolve().parents[2]
_WILDCARD_HOSTS = {"", "0.0.0.0", "::"}  # noqa: S104 - only mapped to loopback for clients


def _client_url(url: str, host: str) -> str:
    """Map a wildcard bind address to loopback so clients can connect to it."""
    if host in _WILDCARD_HOSTS:
        port = url.rsplit(":", 1)[1]
        return f"http://127.0.0.1:{port}"
    return url


class SampleApi:
    """A running sample API, started in a thread or a subprocess; a context manager.

    Example:
        >>> with SampleApi.start_in_thread(transactions_per_day=1000) as api:  # doctest: +SKIP
        ...     httpx.get(f"{api.url}/ledger/v1/transactions?date=2026-11-25",
        ...               headers=api.ledger_headers)

    Attributes:
        url: Base URL, e.g. ``http://127.0.0.1:41234``.
        config: The configuration the server runs with.
    """

    def __init__(
        self,
        url: str,
        config: SampleApiConfig,
        *,
        server: SampleApiServer | None = None,
        thread: threading.Thread | None = None,
        process: subprocess.Popen[str] | None = None,
        stderr_file: IO[bytes] | None = None,
    ) -> None:
        self.url = url
        self.config = config
        self._server = server
        self._thread = thread
        self._process = process
        self._stderr_file = stderr_file
        self._admin: httpx.Client | None = None
        self._closed = False

    # ---------------------------------------------------------------------------- starting

    @classmethod
    def start_in_thread(cls, port: int = 0, *, host: str = "127.0.0.1", **config: Any) -> Self:
        """Start the server in a daemon thread of this process.

        Args:
            port: Port to bind; 0 picks a free one (see :attr:`url`).
            host: Interface to bind.
            **config: :class:`SampleApiConfig` fields, e.g. ``transactions_per_day=1000``.
        """
        cfg = SampleApiConfig(**config)
        server = SampleApiServer((host, port), cfg)
        thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"sample-api-{server.port}",
            daemon=True,
        )
        thread.start()
        return cls(_client_url(server.url, host), cfg, server=server, thread=thread)

    @classmethod
    def start_subprocess(
        cls,
        port: int = 0,
        *,
        host: str = "127.0.0.1",
        startup_timeout: float = 30.0,
        env: dict[str, str] | None = None,
        **config: Any,
    ) -> Self:
        """Start ``python -m devtools.sample_api`` with this interpreter and wait until it serves.

        With ``port=0`` the child binds a free port itself and reports it on its first stdout
        line, which avoids the race of picking a port here and binding it there.

        Args:
            port: Port to bind; 0 picks a free one.
            host: Interface to bind.
            startup_timeout: Seconds to wait for ``/health`` before giving up.
            env: Extra environment variables for the child (e.g. ``POLARS_MAX_THREADS``).
            **config: :class:`SampleApiConfig` fields.

        Raises:
            RuntimeError: If the child exits or does not answer ``/health`` in time.
        """
        cfg = SampleApiConfig(**config)
        child_env = dict(os.environ)
        child_env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(_PACKAGE_ROOT), child_env.get("PYTHONPATH", "")) if p
        )
        child_env["PYTHONUNBUFFERED"] = "1"
        child_env.update(env or {})
        command = [
            sys.executable,
            "-m",
            "devtools.sample_api",
            f"--host={host}",
            f"--port={port}",
            "--exit-with-parent",
            *cfg.to_args(),
        ]
        stderr_file = tempfile.TemporaryFile()  # noqa: SIM115 - owned by the SampleApi
        process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=stderr_file,
            stdin=subprocess.PIPE,  # closed by close() or by our death: the child then exits
            env=child_env,
            text=True,
        )
        lines: queue.Queue[str] = queue.Queue()
        threading.Thread(
            target=_pump_lines, args=(process, lines), name="sample-api-stdout", daemon=True
        ).start()
        api = cls("", cfg, process=process, stderr_file=stderr_file)
        try:
            api.url = _client_url(api._wait_ready_line(lines, startup_timeout), host)
            api._wait_healthy(startup_timeout)
        except BaseException:
            api.close()
            raise
        return api

    def _wait_ready_line(self, lines: queue.Queue[str], timeout: float) -> str:
        """Block until the child prints its ``listening on`` line; return the URL in it."""
        assert self._process is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = lines.get(timeout=0.05)
            except queue.Empty:
                if self._process.poll() is not None:
                    raise RuntimeError(
                        f"sample API exited with {self._process.returncode}: {self._stderr_tail()}"
                    ) from None
                continue
            if line.startswith(_READY_PREFIX):
                return line[len(_READY_PREFIX) :].strip()
        raise RuntimeError(f"sample API did not start in {timeout}s: {self._stderr_tail()}")

    def _wait_healthy(self, timeout: float) -> None:
        """Poll ``/health`` until it answers 200."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                if self._client().get("/health").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"sample API /health not ready in {timeout}s")
            time.sleep(0.05)

    def _stderr_tail(self) -> str:
        """Return the end of the child's stderr, for error messages."""
        if self._stderr_file is None:
            return ""
        self._stderr_file.seek(0)
        return self._stderr_file.read()[-2000:].decode(errors="replace")

    # ---------------------------------------------------------------------------- using

    @property
    def shop_token(self) -> str:
        """The bearer token the shop API accepts."""
        return self.config.shop_token

    @property
    def ledger_key(self) -> str:
        """The API key the ledger API accepts."""
        return self.config.ledger_key

    @property
    def shop_headers(self) -> dict[str, str]:
        """Headers authenticating a shop request."""
        return {"Authorization": f"Bearer {self.shop_token}"}

    @property
    def ledger_headers(self) -> dict[str, str]:
        """Headers authenticating a ledger request."""
        return {"X-API-Key": self.ledger_key}

    @property
    def port(self) -> int:
        """The port the server listens on."""
        return int(self.url.rsplit(":", 1)[1])

    def _client(self) -> httpx.Client:
        """A keep-alive client for the admin endpoints."""
        if self._admin is None:
            self._admin = httpx.Client(base_url=self.url, timeout=10.0)
        return self._admin

    def inject_fault(
        self,
        path: str,
        mode: FaultMode | str,
        count: int = 1,
        *,
        retry_after: float = 1.0,
        delay: float = 1.0,
    ) -> list[dict[str, Any]]:
        """Make the next ``count`` requests under ``path`` fail in ``mode``.

        Goes through ``POST /_admin/faults`` so it works the same for both ways of starting.

        Returns:
            The pending faults after adding this one.
        """
        fault = Fault(path, FaultMode(str(mode)), count, retry_after=retry_after, delay=delay)
        response = self._client().post("/_admin/faults", json=fault.to_json())
        response.raise_for_status()
        faults: list[dict[str, Any]] = response.json()["faults"]
        return faults

    def clear_faults(self, path: str | None = None) -> int:
        """Drop the pending faults (of ``path`` only, when given); return how many there were."""
        params = {"path": path} if path is not None else None
        response = self._client().delete("/_admin/faults", params=params)
        response.raise_for_status()
        return int(response.json()["cleared"])

    def stats(self) -> dict[str, Any]:
        """Return ``GET /_admin/stats``: ``{"requests": {path: {status: n}}, "total": n}``."""
        response = self._client().get("/_admin/stats")
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    def reset_stats(self) -> None:
        """Zero the request counts (``DELETE /_admin/stats``)."""
        self._client().delete("/_admin/stats").raise_for_status()

    # ---------------------------------------------------------------------------- stopping

    def close(self) -> None:
        """Stop the server (thread or subprocess) and release its resources; idempotent."""
        if self._closed:
            return
        self._closed = True
        if self._admin is not None:
            self._admin.close()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._process is not None:
            if self._process.stdin is not None:
                with contextlib.suppress(OSError):
                    self._process.stdin.close()
            if self._process.poll() is None:
                self._process.terminate()
                try:
                    self._process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self._process.kill()
                    self._process.wait(timeout=10)
            if self._process.stdout is not None:
                self._process.stdout.close()
        if self._stderr_file is not None:
            self._stderr_file.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _pump_lines(process: subprocess.Popen[str], lines: queue.Queue[str]) -> None:
    """Forward the child's stdout lines to a queue (keeps the pipe from ever filling up)."""
    if process.stdout is None:
        return
    try:
        for line in process.stdout:
            lines.put(line)
    except (OSError, ValueError):
        return
