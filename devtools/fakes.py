"""Test doubles and local receivers for the migration: used by the tests and the demo.

- :class:`WebhookReceiver`: a local HTTP endpoint (stdlib ``http.server``) that keeps every
  request body, for notification blocks to post to;
- :func:`save_webhook_block`: a ``CustomWebhookNotificationBlock`` pointed at a receiver;
- :class:`FakeDeployments`: :class:`~flowlib.migration.prefect_api.DeploymentOps` in memory;
- :func:`memory_services`: services on in-memory stores, the fake deployments and a Prefect 1 API
  (usually :class:`~devtools.prefect1_stub.Prefect1Stub`);
- :func:`legacy_run_env`: the environment a legacy run needs, with nothing of the caller's
  Prefect 2 settings.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from flowlib.migration.manifest import Manifests
from flowlib.migration.model import utcnow
from flowlib.migration.notify import RecordingNotifier
from flowlib.migration.prefect1 import Prefect1Client
from flowlib.migration.prefect_api import DeploymentInfo, DeploymentNotFound, RunInfo, ScheduleInfo
from flowlib.migration.services import Services
from flowlib.migration.store import MemoryHistory, MemoryStore


@dataclass(frozen=True)
class Received:
    """One request a :class:`WebhookReceiver` got."""

    path: str
    body: bytes
    headers: dict[str, str]

    @property
    def text(self) -> str:
        """The body as text."""
        return self.body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        """The body as JSON."""
        return json.loads(self.body)


class WebhookReceiver:
    """``http://127.0.0.1:<port>/<anything>`` answering 200 and keeping every POST."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                item = Received(self.path, self.rfile.read(length), dict(self.headers.items()))
                with receiver._lock:
                    receiver.received.append(item)
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

    @property
    def url(self) -> str:
        """The base URL."""
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def messages(self) -> list[Received]:
        """What was received so far."""
        with self._lock:
            return list(self.received)

    def wait_for(self, predicate: Callable[[Received], bool], timeout: float = 30) -> Received:
        """The first received request matching ``predicate``, waiting up to ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            for item in self.messages():
                if predicate(item):
                    return item
            if time.monotonic() > deadline:
                seen = "\n---\n".join(m.text for m in self.messages()) or "nothing"
                raise TimeoutError(f"no matching request within {timeout}s; received:\n{seen}")
            time.sleep(0.1)

    def close(self) -> None:
        """Stop serving."""
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> WebhookReceiver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def save_webhook_block(name: str, url: str) -> str:
    """Save a ``CustomWebhookNotificationBlock`` posting ``{"subject", "body"}`` JSON to ``url``.

    Returns:
        Its reference for ``FLOWLIB_NOTIFY_BLOCK``: ``custom-webhook/<name>``.
    """
    from prefect.blocks.notifications import CustomWebhookNotificationBlock

    block_cls: Any = CustomWebhookNotificationBlock  # pydantic v1 model: optional fields typed
    block = block_cls(name=name, url=url, json_data={"subject": "{{subject}}", "body": "{{body}}"})
    block.save(name, overwrite=True)
    return f"custom-webhook/{name}"


@dataclass
class FakeDeployments:
    """:class:`~flowlib.migration.prefect_api.DeploymentOps` in memory, recording every change."""

    deployments: dict[str, DeploymentInfo] = field(default_factory=dict)
    runs: list[tuple[str, RunInfo]] = field(default_factory=list)
    changes: list[tuple[str, Any]] = field(default_factory=list)
    pools: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Pinned job variables per work pool name (:meth:`pool_pins`)."""

    def add(
        self,
        name: str,
        parameters: Mapping[str, Any] | None = None,
        tags: Sequence[str] = (),
        schedules: Sequence[dict[str, Any]] = ({"cron": "20 2 * * *", "timezone": "UTC"},),
    ) -> DeploymentInfo:
        """A deployment with active schedules."""
        info = DeploymentInfo(
            id=str(uuid.uuid4()),
            name=name,
            parameters=dict(parameters or {}),  # no target_env: the phase record decides
            tags=tuple(tags),
            schedules=tuple(
                ScheduleInfo(id=str(uuid.uuid4()), active=True, schedule=dict(s)) for s in schedules
            ),
        )
        self.deployments[name] = info
        return info

    def add_run(
        self,
        deployment: str,
        state_type: str,
        expected: datetime,
        *,
        state_name: str | None = None,
        parameters: Mapping[str, Any] | None = None,
        message: str = "boom",
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> RunInfo:
        """A flow run of a deployment (parameters default to the deployment's)."""
        dep = self.deployments[deployment]
        run = RunInfo(
            id=str(uuid.uuid4()),
            name=f"run-{len(self.runs) + 1}",
            flow_name=deployment.split("/", 1)[0],
            deployment_id=dep.id,
            state_type=state_type,
            state_name=state_name or state_type.title(),
            state_message=message,
            parameters=dict(parameters if parameters is not None else dep.parameters),
            expected_start_time=expected,
            start_time=start,
            end_time=end,
            state_time=end or start or expected,
            total_run_time_s=(end - start).total_seconds() if end and start else None,
        )
        self.runs.append((dep.id, run))
        return run

    def _by_id(self, deployment_id: str) -> DeploymentInfo:
        for info in self.deployments.values():
            if info.id == deployment_id:
                return info
        raise DeploymentNotFound(deployment_id)

    def deployment(self, name: str) -> DeploymentInfo:
        """By ``<flow>/<deployment>``."""
        if name not in self.deployments:
            raise DeploymentNotFound(f"deployment {name!r} is not on the Prefect API")
        return self.deployments[name]

    def update_deployment(
        self,
        deployment_id: str,
        parameters: dict[str, Any] | None = None,
        tags: Sequence[str] | None = None,
        work_pool_name: str | None = None,
        job_variables: dict[str, Any] | None = None,
    ) -> None:
        """Replace parameters, tags, the work pool and/or job variables."""
        info = self._by_id(deployment_id)
        updated = replace(
            info,
            parameters=dict(parameters) if parameters is not None else info.parameters,
            tags=tuple(tags) if tags is not None else info.tags,
        )
        if work_pool_name is not None:
            updated = replace(updated, work_pool_name=work_pool_name)
        if job_variables is not None:
            updated = replace(updated, job_variables=dict(job_variables))
        self.deployments[info.name] = updated
        change = {"parameters": parameters, "tags": tags}
        if work_pool_name is not None:
            change["work_pool_name"] = work_pool_name
        if job_variables is not None:
            change["job_variables"] = job_variables
        self.changes.append(("update", change))

    def pool_pins(self, pool_name: str) -> dict[str, Any]:
        """The pool's pinned job variables (none unless set in :attr:`pools`)."""
        return dict(self.pools.get(pool_name, {}))

    def cancel_flow_run(self, run_id: str, message: str) -> None:
        """Cancel a run that has not finished."""
        for index, (dep_id, run) in enumerate(self.runs):
            if run.id == run_id:
                if not run.in_flight:
                    raise ValueError(f"run {run_id} is {run.state_type}: nothing to cancel")
                cancelled = replace(
                    run, state_type="CANCELLED", state_name="Cancelled", state_message=message
                )
                self.runs[index] = (dep_id, cancelled)
                self.changes.append(("cancel", {"run_id": run_id, "message": message}))
                return
        raise ValueError(f"no run {run_id}")

    def set_schedule(self, deployment_id: str, schedule_id: str, schedule: dict[str, Any]) -> None:
        """Replace one schedule."""
        info = self._by_id(deployment_id)
        schedules = tuple(
            replace(s, schedule=dict(schedule)) if s.id == schedule_id else s
            for s in info.schedules
        )
        self.deployments[info.name] = replace(info, schedules=schedules)
        self.changes.append(("schedule", schedule))

    def flow_run(self, run_id: str) -> RunInfo:
        """One run."""
        for _, run in self.runs:
            if run.id == run_id:
                return run
        raise KeyError(run_id)

    def flow_runs(
        self,
        deployment_id: str,
        since: datetime,
        state_types: Sequence[str] | None = None,
        limit: int = 1000,
    ) -> list[RunInfo]:
        """Runs expected to start since ``since``, newest first."""
        found = [
            r
            for dep_id, r in self.runs
            if dep_id == deployment_id
            and (r.expected_start_time is None or r.expected_start_time >= since)
            and (not state_types or r.state_type in state_types)
        ]
        return sorted(found, key=lambda r: r.expected_start_time or since, reverse=True)[:limit]


def memory_services(
    legacy: Callable[[], Prefect1Client],
    manifest_dir: Path | None = None,
    now: Callable[[], datetime] = utcnow,
    deployments: FakeDeployments | None = None,
) -> Services:
    """Services on memory stores, fake deployments (every manifest deployment, as deployed)."""
    manifests = Manifests.load(manifest_dir)
    fakes = deployments or FakeDeployments()
    for plan in manifests.plans:
        if plan.deployment not in fakes.deployments:
            fakes.add(plan.deployment, {}, tags=(f"project:{plan.project}", f"phase:{plan.phase}"))
    return Services(
        store=MemoryStore(),
        deployments=fakes,
        notifier=RecordingNotifier(),
        legacy_factory=legacy,
        history=MemoryHistory(),
        manifests_loader=lambda: manifests,
        now=now,
        commit_lock=MemoryLocks().hold,
    )


class MemoryLocks:
    """The commit locks of :class:`~flowlib.migration.services.Services` in one process."""

    def __init__(self) -> None:
        self._locks: dict[tuple[str, str], threading.Lock] = {}
        self._guard = threading.Lock()

    @contextmanager
    def hold(self, project: str, flow: str) -> Iterator[None]:
        """Hold one flow's lock."""
        with self._guard:
            lock = self._locks.setdefault((project, flow), threading.Lock())
        with lock:
            yield


def legacy_run_env(
    prod_root: str,
    shop_url: str,
    shop_token: str,
    ledger_url: str,
    ledger_key: str,
    home: Path,
    base: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The environment of a legacy (Prefect 1) run: lake, source APIs, its own Prefect 1 home."""
    import os

    env = {
        k: v
        for k, v in (base if base is not None else os.environ).items()
        if not k.startswith(("LAKE_", "SHOP_API_", "LEDGER_API_", "PREFECT", "VIRTUAL_ENV"))
    }
    env.update(
        {
            "LAKE_PROD_ROOT": prod_root,
            "SHOP_API_URL": shop_url,
            "SHOP_API_TOKEN": shop_token,
            "LEDGER_API_URL": ledger_url,
            "LEDGER_API_KEY": ledger_key,
            "LEGACY_RETRY_DELAY_SECONDS": "0.1",
            "PREFECT__HOME_DIR": str(home),
            "PREFECT__USER_CONFIG_PATH": str(home / "config.toml"),
        }
    )
    return env


def reset_migration_state() -> int:
    """Delete every ``migration_*`` Prefect Variable of the current API (tests, the demo)."""
    from prefect import get_client

    from flowlib.migration._aio import run_sync
    from flowlib.migration.store import delete_variable, variables_with_prefix

    async def reset() -> int:
        async with get_client() as client:
            names = await variables_with_prefix(client, "migration_")
            for name in names:
                await delete_variable(client, name)
        return len(names)

    return run_sync(reset)


def crash_flow_run(flow_run_id: str, message: str = "pod killed (OOMKilled)") -> None:
    """Mark a run Running then Crashed, as a worker does when its pod died: no hook runs."""
    from uuid import UUID

    from prefect import get_client
    from prefect.states import Crashed, Pending, Running

    from flowlib.migration._aio import run_sync

    async def crash() -> None:
        async with get_client() as client:
            run_id = UUID(str(flow_run_id))
            states: list[Any] = [Pending(), Running(), Crashed(message=message)]
            for state in states:
                await client.set_flow_run_state(run_id, state, force=True)

    run_sync(crash)
