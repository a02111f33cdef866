"""The soak driver: the migration of ``sales/products_snapshot`` on real parts, slot by slot.

Real: a Prefect server (SQLite; restarted as a fault), one process worker per infrastructure
pool (``FLOWLIB_WORK_POOL_DEV`` / ``_PROD`` of ``deployments/local.env``, each with its
``FLOWLIB_INFRA_ENV``), the deployments registered by Prefect's own ``prefect deploy``, the
sample API (faults injected through its admin endpoint), local dev and prod lakes, the legacy
Prefect 1 flow run in ``.venv-legacy``, and the migration operations themselves (``init_phases``,
``record_validations`` after ``validate_lakes``, ``cutover``, the failure hooks and the
``watch`` pass of the fail-back watcher, ``decommission``; ``flowctl set-env`` and ``prefect
deploy`` as subprocesses).

Stands in: the Prefect 1 API (:class:`~devtools.prefect1_stub.Prefect1Stub`), driven through the
production client (:class:`~flowlib.migration.prefect1.Prefect1Client`): a small scheduler creates
a run for each slot of a flow whose schedule is active (``create_flow_run``), the stub's agent
runs it with :mod:`devtools.legacy`. Prefect 2's scheduler is off on the server; the driver
creates each deployment run at its cron's slot while the deployment's schedule is active.

The clock: one slot (one day of the legacy ``0 2 * * *`` schedule) every ``slot_seconds``; the
soak's calendar starts on :data:`DAY0`, in the past, so every run is due when it is created. The
operations the driver calls get a :class:`Services` whose ``now`` is the soak's calendar (the
cutover's handover slot, the validation gate's age, the watcher's Late threshold); the flows'
slot -> partition logic is unchanged (each run's scheduled start). Retry *delays* are 0 in the
flow-run processes (``devtools.localrun --fast-retries`` is the pools' command); the number of
retries is the production one.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from devtools.services import api_environment, sync_source_limits
from devtools.soak.plan import Plan

PROJECT, FLOW = "sales", "products_snapshot"
LEGACY_NAME = "sales-products-snapshot"
FLOW_NAME = "sales-products-snapshot"
DEPLOYMENT = "sales-products-snapshot/products-snapshot"
DATASET = "sales/shop/products"
ENDPOINT = "/shop/v1/products"
DAY0 = date(2026, 1, 5)
LEGACY_HOUR = 2  # the legacy cron 0 2 * * *: products of D are loaded at D 02:00 UTC
LATE_AFTER = timedelta(hours=6)  # the watcher's Late threshold on the soak's calendar
FINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}


def day_of(index: int, days: list[int] | None = None) -> date:
    """The calendar day of soak slot ``index`` (``days``: the plan's day of each slot)."""
    return DAY0 + timedelta(days=days[index] if days else index)


def slot_time(index: int, days: list[int] | None = None) -> datetime:
    """The legacy slot of soak slot ``index`` (its calendar day at 02:00 UTC)."""
    day = day_of(index, days)
    return datetime(day.year, day.month, day.day, LEGACY_HOUR, tzinfo=UTC)


@dataclass
class VirtualClock:
    """The soak's calendar time, moved by the driver (the operations' ``Services.now``)."""

    now: datetime = field(default_factory=lambda: slot_time(0))

    def __call__(self) -> datetime:
        """The current soak time."""
        return self.now

    def at(self, day: date, hour: float) -> None:
        """Move to ``hour`` o'clock of ``day``."""
        self.now = datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(hours=hour)


class ServerProcess:
    """``prefect server start`` on a fixed port and SQLite file, so it can be restarted."""

    def __init__(self, home: Path) -> None:
        from devtools.services import free_port

        self.home = home
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        home.mkdir(parents=True, exist_ok=True)

    @property
    def api_url(self) -> str:
        """The API's URL."""
        return f"http://127.0.0.1:{self.port}/api"

    def start(self) -> None:
        """Start it and wait until it answers."""
        from devtools.services import prefect_cli, sync_source_limits, wait_http

        env = dict(os.environ)
        env.update(
            {
                "PREFECT_HOME": str(self.home),
                "PREFECT_API_DATABASE_CONNECTION_URL": f"sqlite+aiosqlite:///{self.home}/p.db",
                "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
                "PREFECT_UI_ENABLED": "false",
                "PREFECT_LOGGING_LEVEL": "WARNING",
                # the soak's scheduler creates the runs at the compressed slots
                "PREFECT_API_SERVICES_SCHEDULER_ENABLED": "false",
                "PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED": "false",  # its 3.x name
            }
        )
        env.pop("PREFECT_API_URL", None)
        log = (self.home / "server.log").open("ab")
        self.proc = subprocess.Popen(
            [prefect_cli(), "server", "start", "--host", "127.0.0.1", "--port", str(self.port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        wait_http(self.api_url + "/health", timeout=180, proc=self.proc)
        sync_source_limits(self.api_url)  # as an operator does once per server (idempotent)

    def wait_port_free(self, timeout: float = 120) -> None:
        """Until the old server's uvicorn (a child that outlives the CLI) let the port go."""
        import socket

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with socket.socket() as sock:
                try:
                    sock.bind(("127.0.0.1", self.port))
                    return
                except OSError:
                    time.sleep(0.5)

    def stop(self) -> None:
        """SIGINT, then SIGKILL if it lingers."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


def _descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


class Soak:
    """Runs one :class:`Plan`; :meth:`run` returns the journal the checker reads."""

    def __init__(
        self,
        plan: Plan,
        workdir: Path,
        slot_seconds: float,
        say: Callable[[str], None] = print,
    ) -> None:
        self.plan = plan
        self.workdir = workdir
        self.slot_seconds = slot_seconds
        self.say = say
        self.clock = VirtualClock()
        self.roots = {e: (workdir / "lake" / e).as_uri() + "/" for e in ("dev", "prod")}
        self.journal: dict[str, Any] = {
            "plan": plan.to_dict(),
            "slot_seconds": slot_seconds,
            "dataset": DATASET,
            "endpoint": ENDPOINT,
            "roots": self.roots,
            "slots": [
                {
                    "index": i,
                    "slot": slot_time(i, plan.days).isoformat(),
                    "day": str(day_of(i, plan.days)),
                }
                for i in range(plan.slots)
            ],
            "faults": [],
            "ticks": [],
            "actions": [],
        }
        self.workers: dict[str, subprocess.Popen[bytes]] = {}
        self.new_runs: dict[int, str] = {}  # slot -> the scheduled deployment run of it
        self.deployment_id: str | None = None
        self.shadow_since: int | None = None

    def slot(self, index: int) -> datetime:
        """The legacy slot of soak slot ``index``."""
        return slot_time(index, self.plan.days)

    # -- helpers ---------------------------------------------------------------------------
    def note(self, kind: str, **detail: Any) -> dict[str, Any]:
        """Journal a fault or action (with the wall-clock time) and say it."""
        entry = {"kind": kind, "at": datetime.now(UTC).isoformat(), **detail}
        self.say(f"  {kind}: {json.dumps(detail, default=str)[:200]}")
        return entry

    def _retry(self, what: Callable[[], Any], tries: int = 40) -> Any:
        """Call ``what``, retrying while the server restarts."""
        for attempt in range(tries):
            try:
                return what()
            except Exception:
                if attempt == tries - 1:
                    raise
                time.sleep(0.5)
        return None

    def services(self) -> Any:
        """The real services with the soak's calendar as their clock."""
        from flowlib.migration.services import default_services

        svc = default_services()
        svc.now = self.clock
        return svc

    # -- parts -----------------------------------------------------------------------------
    def _pool_template(self) -> Path:
        """Prefect's process template, its command running the flow with retry delays 0."""
        from prefect.workers.process import ProcessWorker

        template = ProcessWorker.get_default_base_job_template()
        template["variables"]["properties"]["command"]["default"] = (
            f"{sys.executable} -m devtools.localrun --fast-retries"
        )
        path = self.workdir / "process-pool.json"
        path.write_text(json.dumps(template))
        return path

    def start_worker(self, infra: str) -> None:
        """A process worker for one infrastructure's pool (as ``make worker``)."""
        from devtools.services import REPO_ROOT, prefect_cli
        from devtools.worker import worker_environment

        env = worker_environment(os.environ, self.values, infra)
        env["PREFECT_WORKER_QUERY_SECONDS"] = "1"
        env["PREFECT_WORKER_PREFETCH_SECONDS"] = "0"
        pool = self.values[f"FLOWLIB_WORK_POOL_{infra.upper()}"]
        log = (self.workdir / f"worker-{infra}.log").open("ab")
        self.workers[infra] = subprocess.Popen(
            [prefect_cli(), "worker", "start", "--pool", pool, "--type", "process"],
            env=env,
            cwd=REPO_ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()

    def supervise(self) -> None:
        """Restart a worker that exited by itself, as Kubernetes restarts a worker's pod.

        A worker stops after its API calls failed a few times in a row (a server restart).
        """
        for infra, proc in list(self.workers.items()):
            if proc.poll() is not None:
                self.journal["actions"].append(self.note("worker-died", infra=infra))
                self.start_worker(infra)

    def stop_worker(self, infra: str) -> None:
        """Stop one worker (SIGTERM, then SIGKILL)."""
        proc = self.workers.pop(infra, None)
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def deploy(self) -> None:
        """``prefect deploy --all`` of the project (the real CLI), then the phase records."""
        from flowctl.deployments import deploy_project
        from flowctl.migration import init_phases

        deploy_project(PROJECT, self.values, server_env=dict(os.environ))
        init_phases(PROJECT, actor="soak", services=self.services())
        dep = self._retry(lambda: self._read_deployment())
        self.deployment_id = str(dep.id)

    def _read_deployment(self) -> Any:
        from prefect import get_client

        from flowlib.migration._aio import run_sync

        async def read() -> Any:
            async with get_client() as client:
                return await client.read_deployment_by_name(DEPLOYMENT)

        return run_sync(read)

    # -- the two schedulers ------------------------------------------------------------------
    def legacy_tick(self, index: int) -> None:
        """Prefect 1's scheduler: a run of the slot if the legacy schedule is active."""
        from flowlib.migration.prefect1 import Prefect1Client, Prefect1Error

        with Prefect1Client.from_env() as p1:
            try:
                flow = p1.find_flow(LEGACY_NAME, PROJECT)
            except Prefect1Error:  # archived: decommissioned
                return
            if flow.is_schedule_active:
                p1.create_flow_run(
                    flow.id,
                    scheduled_start_time=self.slot(index),
                    idempotency_key=f"soak-schedule-{index}",
                )

    def new_tick(self, index: int) -> None:
        """Prefect 2's scheduler: a run at the deployment's cron slot if its schedule is on."""
        if self.deployment_id is None:
            return
        from croniter import croniter

        dep = self._retry(self._read_deployment)
        schedules = [s for s in (getattr(dep, "schedules", None) or []) if s.active]
        if not schedules or getattr(dep, "paused", False):
            return
        cron = schedules[0].schedule.cron
        day_start = self.slot(index).replace(hour=0)
        slot = croniter(cron, day_start - timedelta(seconds=1)).get_next(datetime)
        self.new_runs[index] = self._retry(lambda: self.create_run(slot))

    def create_run(self, scheduled: datetime, parameters: dict[str, Any] | None = None) -> str:
        """A Scheduled run of the deployment (as the scheduler, or a backfill, makes one)."""
        from uuid import UUID

        from prefect import get_client
        from prefect.states import Scheduled

        from flowlib.migration._aio import run_sync

        assert self.deployment_id is not None

        async def create() -> str:
            async with get_client() as client:
                run = await client.create_flow_run_from_deployment(
                    UUID(self.deployment_id),  # type: ignore[arg-type]
                    parameters=parameters or {},
                    state=Scheduled(scheduled_time=scheduled),
                )
            return str(run.id)

        return str(run_sync(create))

    def run_state(self, run_id: str) -> tuple[str, str]:
        """A deployment run's state type and name."""
        from uuid import UUID

        from prefect import get_client

        from flowlib.migration._aio import run_sync

        async def read() -> tuple[str, str]:
            async with get_client() as client:
                run = await client.read_flow_run(UUID(run_id))
            state = run.state
            return (str(state.type.value) if state else "?", str(state.name) if state else "?")

        result: tuple[str, str] = self._retry(lambda: run_sync(read))
        return result

    # -- waiting ---------------------------------------------------------------------------
    def legacy_busy(self) -> bool:
        """Whether the stub holds a legacy run not finished yet."""
        return any(r.state in ("Scheduled", "Running") for r in self.stub.runs.values())

    def busy(self) -> bool:
        """Whether a flow-run process still runs (a failed run's hooks run after its state)."""
        return any(
            "devtools.localrun" in _cmdline(pid)
            for worker in self.workers.values()
            for pid in _descendants(worker.pid)
        )

    def wait_runs(self, run_ids: list[str], deadline: float, on_poll: Any = None) -> None:
        """Until the runs are final and the legacy agent is idle, or the deadline."""
        while time.monotonic() < deadline:
            self.supervise()
            states = [self.run_state(r) for r in run_ids]
            if on_poll is not None:
                on_poll(states)
            if all(t in FINAL for t, _ in states) and not self.legacy_busy() and not self.busy():
                return
            time.sleep(0.5)

    def wait_late(self, run_id: str | None, deadline: float) -> None:
        """Until the server marks the run Late (its worker is stopped), or the deadline."""
        while run_id and time.monotonic() < deadline and self.run_state(run_id)[1] != "Late":
            time.sleep(1)

    # -- faults ----------------------------------------------------------------------------
    def fault_start(self, kind: str, index: int) -> None:
        """Faults acting from the start of the slot."""
        if kind == "server-restart":
            self.server.stop()
            self.server.wait_port_free()
            self.server.start()
            self.journal["faults"].append(self.note(kind, slot=index))
            time.sleep(5)  # the workers notice (and may exit: supervised)
            self.supervise()
        elif kind == "http-5xx-storm":
            self.api.inject_fault(ENDPOINT, "500", count=100_000)
            self.journal["faults"].append(self.note(kind, slot=index, expect="fail-back"))
        elif kind == "worker-stopped":
            self.stop_worker("prod")
            self.journal["faults"].append(self.note(kind, slot=index, expect="fail-back"))
        elif kind == "sigkill-flow-run":
            self.api.inject_fault(ENDPOINT, "slow", count=100_000, delay=2.0)
            self.journal["faults"].append(self.note(kind, slot=index, expect="fail-back"))
        elif kind == "set-env-past-gate":
            self.journal["faults"].append(self._set_env(index))
        elif kind == "stale-redeploy":
            self.journal["faults"].append(self._stale_redeploy(index))

    def _set_env(self, index: int) -> dict[str, Any]:
        from devtools.services import REPO_ROOT

        cmd = [sys.executable, "-m", "flowctl", "set-env", "--env", "prod"]
        cmd += ["-p", PROJECT, "-f", FLOW, "--yes"]
        proc = subprocess.run(
            cmd, cwd=REPO_ROOT, env={**os.environ, **self.values}, capture_output=True, text=True
        )
        out = " ".join((proc.stdout + proc.stderr).split())
        refused = proc.returncode != 0
        return self.note(
            "set-env-past-gate", slot=index, expect="refused", refused=refused, output=out[-300:]
        )

    def _stale_redeploy(self, index: int) -> dict[str, Any]:
        from flowctl.deployments import deploy_project

        try:
            deploy_project(PROJECT, self.values, server_env=dict(os.environ))
        except Exception as exc:
            text = " ".join(str(exc).split())
            return self.note(
                "stale-redeploy", slot=index, expect="refused", refused=True, output=text[-300:]
            )
        return self.note("stale-redeploy", slot=index, expect="refused", refused=False)

    def _sigkill_watch(self, run_id: str, killed: list[int]) -> Any:
        """A poll hook: SIGKILL the flow-run process once the run is Running."""

        def poll(states: list[tuple[str, str]]) -> None:
            if killed or not states or states[0][0] != "RUNNING":
                return
            worker = self.workers.get("prod")
            if worker is None:
                return
            for pid in _descendants(worker.pid):
                if "devtools.localrun" in _cmdline(pid):
                    time.sleep(1.0)  # mid-run: fetching from the (slow) API
                    os.kill(pid, signal.SIGKILL)
                    killed.append(pid)
                    self.journal["actions"].append(self.note("sigkilled", pid=pid, run=run_id))
                    # the operator's step after a killed pod: Prefect 2 keeps the source slots
                    # it held (docs/sources.md, "Limits"); the soak runs one flow, so no other
                    # run's slot is freed with them
                    sync_source_limits(self.server.api_url, reset_slots=True)
                    self.api.clear_faults()
                    return

        return poll

    def _storm_watch(self) -> Any:
        """A poll hook: the storm ends once the new run has failed for good (outlasting retries)."""

        def poll(states: list[tuple[str, str]]) -> None:
            if states and states[0][0] in FINAL:
                self.api.clear_faults()

        return poll

    def rerun_and_backfill(self, index: int) -> list[str]:
        """A manual re-run of this slot, a backfill of slot 0 (new side), a legacy re-run."""
        from flowlib.migration.prefect1 import Prefect1Client

        assert self.deployment_id is not None
        rerun = self.create_run(self.slot(index) + timedelta(minutes=20))
        backfill = self.create_run(self.slot(0), {"as_of": str(DAY0)})
        with Prefect1Client.from_env() as p1:
            flow = p1.find_flow(LEGACY_NAME, PROJECT)
            p1.create_flow_run(
                flow.id, scheduled_start_time=self.slot(0), idempotency_key="soak-manual-rerun"
            )
        self.journal["faults"].append(
            self.note(
                "rerun-and-backfill",
                slot=index,
                rerun=rerun,
                backfill=backfill,
                legacy_rerun_slot=self.slot(0).isoformat(),
            )
        )
        return [rerun, backfill]

    # -- phase work ------------------------------------------------------------------------
    def phase(self) -> str | None:
        """The recorded phase, read raw from the server's Variable."""
        record = self.raw_record()
        return None if record is None else str(record.get("phase"))

    def raw_record(self) -> dict[str, Any] | None:
        """The phase record Variable's JSON, read with plain HTTP."""
        url = f"{self.server.api_url}/variables/name/migration_phase__{PROJECT}__{FLOW}"

        def read() -> dict[str, Any] | None:
            response = httpx.get(url, timeout=10)
            if response.status_code == 404:
                return None
            response.raise_for_status()
            value = response.json()["value"]
            return dict(json.loads(value) if isinstance(value, str) else value)

        result: dict[str, Any] | None = self._retry(read)
        return result

    def validate(self, index: int) -> None:
        """Validate the current shadow stretch's days (at most the gate's 3) and record it."""
        from flowctl.migration import record_validations
        from flowlib.validation import validate_lakes
        from flowlib.validation.options import ValidationOptions

        assert self.shadow_since is not None
        first = max(self.shadow_since, index - 2)
        from flowlib.migration.validations import validation_rules

        options = ValidationOptions(  # as `flowctl validate`: the manifests' rules and slots
            flows=(DATASET,),
            since=day_of(first, self.plan.days),
            until=day_of(index, self.plan.days),
            rules=validation_rules(),
        )
        report = validate_lakes(self.roots["prod"], self.roots["dev"], options).to_dict()
        record_validations(report, actor="soak-validation", services=self.services())
        self.journal["actions"].append(
            self.note("validate", slot=index, since=first, passed=bool(report.get("passed")))
        )

    def end_of_slot(self, index: int) -> None:
        """Watcher, validation and the plan's phase operation, at the slot's afternoon."""
        from flowctl.migration import cutover, decommission, watch

        self.clock.at(day_of(index, self.plan.days), 14)
        result = self._retry(lambda: watch(late_after=LATE_AFTER, services=self.services()))
        for outcome in result.outcomes:
            self.journal["actions"].append(
                self.note("watcher", slot=index, status=outcome.status, message=outcome.message)
            )
        # a fail-back takes seconds, a slot is a day: it ends before the next slot (bounded)
        deadline = time.monotonic() + max(4 * self.slot_seconds, 120)
        while time.monotonic() < deadline and (self.raw_record() or {}).get("failing_back"):
            time.sleep(0.5)
        self.wait_runs([], deadline)  # and its recovery runs
        phase = self.phase()
        if phase in ("shadow", "validated"):
            if self.shadow_since is None:
                self.shadow_since = index
            self.validate(index)
        else:
            self.shadow_since = None
        self.clock.at(day_of(index, self.plan.days), 15)
        if index in self.plan.cutover_after:
            [outcome] = cutover(  # its schedule to the legacy slot: recoveries keep the stamp
                PROJECT,
                FLOW,
                actor="soak",
                services=self.services(),
                pools=self.pools,
                move_to_legacy_slot=True,
            )
            self.journal["actions"].append(
                self.note("cutover", slot=index, status=outcome.status, message=outcome.message)
            )
            if outcome.status == "done":
                self.shadow_since = None
        if index == self.plan.decommission_after:
            [outcome] = decommission(
                PROJECT,
                FLOW,
                actor="soak",
                force=True,
                reason="soak: the quiet period (14 days) compressed to the soak's slots",
                services=self.services(),
            )
            self.journal["actions"].append(
                self.note("decommission", slot=index, status=outcome.status)
            )

    def tick(self, index: int) -> None:
        """One slot: faults, both schedulers, waiting, then the end-of-slot work."""
        started = time.monotonic()
        self.say(f"slot {index} ({self.slot(index):%Y-%m-%d %H:%M}Z), phase {self.phase()}")
        self.clock.at(day_of(index, self.plan.days), 0)
        faults = self.plan.faults_at(index)
        for kind in faults:
            self.fault_start(kind, index)
        if index == self.plan.deploy_at:
            self.deploy()
            self.journal["actions"].append(self.note("deploy", slot=index, phase=self.phase()))
        self.journal["ticks"].append(
            {"index": index, "phase": self.phase(), "at": datetime.now(UTC).isoformat()}
        )
        self.legacy_tick(index)
        self.new_tick(index)
        run = self.new_runs.get(index)
        # the slot's runs finish before its end-of-slot work (a loaded machine stretches the slot)
        deadline = started + max(self.slot_seconds * 4, 180)
        poll = None
        if run and "sigkill-flow-run" in faults:
            poll = self._sigkill_watch(run, [])
        elif run and "http-5xx-storm" in faults:
            poll = self._storm_watch()
        elif "worker-stopped" in faults:
            # the run stays Scheduled until the server marks it Late, then past the threshold
            self.wait_late(run, started + max(self.slot_seconds * 2, 90))
            deadline = 0.0
        self.wait_runs([run] if run else [], deadline, poll)
        self.api.clear_faults()
        extra = self.rerun_and_backfill(index) if "rerun-and-backfill" in faults else []
        if extra:
            self.wait_runs(extra, time.monotonic() + 2 * self.slot_seconds)
        self.end_of_slot(index)
        if "worker-stopped" in faults:
            self.start_worker("prod")
            self.journal["actions"].append(self.note("worker-restarted", slot=index))
        self.supervise()
        rest = started + self.slot_seconds - time.monotonic()
        if rest > 0:
            time.sleep(rest)

    # -- the whole run ---------------------------------------------------------------------
    def run(self, inspect: Callable[[dict[str, Any]], Any] | None = None) -> dict[str, Any]:
        """Start everything, run every slot, drain, collect the journal; stop everything.

        ``inspect`` gets the journal while the services still run (the checker asks the
        source API what it served).
        """
        from devtools.fakes import legacy_run_env
        from devtools.prefect1_stub import Prefect1Stub, legacy_executor
        from devtools.sample_api import SampleApi
        from flowctl.deployments import ensure_work_pool, load_environment
        from flowlib.migration.manifest import Manifests

        began = time.monotonic()
        with ExitStack() as stack:
            self.api = stack.enter_context(SampleApi.start_subprocess(port=0))
            self.server = ServerProcess(self.workdir / "prefect")
            self.server.start()
            stack.callback(self.server.stop)
            self.stub = Prefect1Stub(
                executor=legacy_executor(
                    legacy_run_env(
                        self.roots["prod"],
                        self.api.url,
                        self.api.shop_token,
                        self.api.url,
                        self.api.ledger_key,
                        self.workdir / "prefect1-home",
                    )
                )
            ).start()
            stack.callback(self.stub.close)
            for plan in Manifests.load().plans:
                if plan.project == PROJECT:
                    self.stub.add_flow(
                        plan.legacy.name,
                        plan.legacy.project,
                        parameters=plan.legacy.parameters,
                        legacy_path=f"{plan.project}/{plan.flow}",
                    )
            self.values = {
                **load_environment("local"),
                "SHOP_API_URL": self.api.url,
                "LAKE_DEV_ROOT": self.roots["dev"],
                "LAKE_PROD_ROOT": self.roots["prod"],
            }
            env = {
                **self.values,
                "PREFECT_API_URL": self.server.api_url,
                "PREFECT_HOME": str(self.server.home),
                "PREFECT1_API_URL": self.stub.url,
                "SHOP_API_TOKEN": self.api.shop_token,
                "SHOP_API_BACKOFF_SECONDS": "0.05",
                "FLOWLIB_ACTOR": "soak",
                "PREFECT_LOGGING_LEVEL": "WARNING",
            }
            stack.enter_context(api_environment(env))
            self.pools = {e: self.values[f"FLOWLIB_WORK_POOL_{e.upper()}"] for e in ("dev", "prod")}
            template = self._pool_template()
            for pool in self.pools.values():
                ensure_work_pool(pool, "process", template, server_env=dict(os.environ))
            for infra in ("dev", "prod"):
                self.start_worker(infra)
                stack.callback(self.stop_worker, infra)
            self.stub.start_agent(poll_seconds=0.2)
            self.journal["setup_seconds"] = round(time.monotonic() - began, 1)
            for index in range(self.plan.slots):
                self.tick(index)
            self.wait_runs(list(self.new_runs.values()), time.monotonic() + 120)
            self.journal["new_runs"] = self.raw_runs()
            self.journal["legacy_runs"] = [
                {
                    "id": r.id,
                    "name": r.name,
                    "scheduled_start_time": r.scheduled_start_time.isoformat(),
                    "state": r.state,
                    "start_time": r.start_time.isoformat() if r.start_time else None,
                    "end_time": r.end_time.isoformat() if r.end_time else None,
                    "written": r.written,
                    "parameters": r.parameters,
                    "idempotency_key": r.idempotency_key,
                }
                for r in self.stub.runs_of(LEGACY_NAME)
            ]
            self.journal["final_record"] = self.raw_record()
            self.journal["api_url"] = self.api.url
            self.journal["shop_token"] = self.api.shop_token
            self.journal["seconds"] = round(time.monotonic() - began, 1)
            (self.workdir / "journal.json").write_text(json.dumps(self.journal, indent=1))
            if inspect is not None:
                inspect(self.journal)
        return self.journal

    def raw_runs(self) -> list[dict[str, Any]]:
        """Every run of the new flow, as the server's REST API returns them."""
        body = {"flows": {"name": {"any_": [FLOW_NAME]}}, "limit": 200, "offset": 0}
        response = httpx.post(f"{self.server.api_url}/flow_runs/filter", json=body, timeout=30)
        response.raise_for_status()
        return list(response.json())
