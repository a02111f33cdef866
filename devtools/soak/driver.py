"""The soak driver: the migration of the soaked flows on real parts, slot by slot.

Real: a Prefect server (SQLite; restarted as a fault), one process worker per infrastructure
pool (``FLOWLIB_WORK_POOL_DEV`` / ``_PROD`` of ``deployments/local.env``, each with its
``FLOWLIB_INFRA_ENV`` and only its lake's keys), the deployments registered by Prefect's own
``prefect deploy``, the sample API (faults injected through its admin endpoint), the dev and prod
lakes (local folders, or containers in Azurite), the legacy Prefect 1 flows run in
``.venv-legacy``, and the migration operations themselves (``init_phases``,
``record_validations`` after ``validate_lakes``, ``cutover``, the failure hooks and the ``watch``
pass of the fail-back watcher, ``decommission``; ``flowctl set-env`` and ``prefect deploy`` as
subprocesses).

Stands in: the Prefect 1 API (:class:`~devtools.prefect1_stub.Prefect1Stub`), driven through the
production client (:class:`~flowlib.migration.prefect1.Prefect1Client`): a small scheduler creates
a run for each slot of a flow whose schedule is active (``create_flow_run``), the stub's agent
runs it with :mod:`devtools.legacy`. Prefect 2's scheduler is off on the server; the driver
creates each deployment run at its cron's slot while the deployment's schedule is active. An
unwritable ADLS folder is Azurite behind :mod:`devtools.lake_gate`; an unwritable local folder is
``chattr +i``.

The clock: one slot (one day of the legacy daily schedules) every ``slot_seconds``; the soak's
calendar starts on :data:`DAY0`, in the past, so every run is due when it is created. The
operations the driver calls get a :class:`Services` whose ``now`` is the soak's calendar (the
cutover's handover slot, the validation gate's age, the watcher's Late threshold); the flows'
slot -> partition logic is unchanged (each run's scheduled start). Retry *delays* are 0 in the
flow-run processes (``devtools.localrun --fast-retries`` is the pools' command); the number of
retries is the production one. Every soaked flow goes through the same plan in the same slots;
a fault of the plan hits each of them.
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
from functools import partial
from pathlib import Path
from typing import Any, Literal

import httpx

from devtools.services import api_environment, sync_source_limits
from devtools.soak.plan import FAILBACK_FAULTS, Plan

DAY0 = date(2026, 1, 5)
LATE_AFTER = timedelta(hours=6)  # the watcher's Late threshold on the soak's calendar
FINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}
TRANSACTIONS_PER_DAY = 4000  # the ledger's day in the soak: 8 shards of one page each
LakeKind = Literal["local", "azurite"]


@dataclass(frozen=True)
class SoakFlow:
    """One soaked flow: its names on both sides, its dataset and its source."""

    project: str
    flow: str
    legacy_name: str  # the Prefect 1 flow (in the Prefect 1 project ``project``)
    deployment: str  # ``<flow name>/<deployment name>``
    dataset: str  # ``<project>/<source>/<entity>``
    endpoint: str  # the source endpoint its runs read (faults are injected there)
    legacy_hour: int  # its legacy cron's hour (UTC): the slot of a day
    lag_days: int  # the partition's day: the slot's day minus this
    day_param: str  # the parameter naming a partition's day (a backfill)

    @property
    def key(self) -> str:
        """``<project>/<flow>``."""
        return f"{self.project}/{self.flow}"

    @property
    def flow_name(self) -> str:
        """Its Prefect flow's name."""
        return self.deployment.split("/")[0]

    def slot(self, day: date) -> datetime:
        """Its legacy slot on ``day``."""
        return datetime(day.year, day.month, day.day, self.legacy_hour, tzinfo=UTC)

    def partition_day(self, day: date) -> date:
        """The day the run of ``day``'s slot loads."""
        return day - timedelta(days=self.lag_days)


PRODUCTS = SoakFlow(  # legacy 0 2 * * * UTC, loads its own day; the new one staggered to 02:20
    "sales",
    "products_snapshot",
    "sales-products-snapshot",
    "sales-products-snapshot/products-snapshot",
    "sales/shop/products",
    "/shop/v1/products",
    legacy_hour=2,
    lag_days=0,
    day_param="as_of",
)
TRANSACTIONS = SoakFlow(  # legacy 0 3 * * * UTC, loads the day before, 8 shards; new 03:15
    "finance",
    "transactions_daily",
    "finance-transactions-daily",
    "finance-transactions-daily/transactions-daily",
    "finance/ledger/transactions",
    "/ledger/v1/transactions",
    legacy_hour=3,
    lag_days=1,
    day_param="day",
)
SOAKED = {f.flow: f for f in (PRODUCTS, TRANSACTIONS)}


def day_of(index: int, days: list[int] | None = None) -> date:
    """The calendar day of soak slot ``index`` (``days``: the plan's day of each slot)."""
    return DAY0 + timedelta(days=days[index] if days else index)


@dataclass
class VirtualClock:
    """The soak's calendar time, moved by the driver (the operations' ``Services.now``)."""

    now: datetime = field(default_factory=lambda: PRODUCTS.slot(DAY0))

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


def _flow_run_of(pid: int) -> str | None:
    """The flow run a process runs (``PREFECT__FLOW_RUN_ID``, set by the worker), if any."""
    try:
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return None
    for item in environ:
        if item.startswith(b"PREFECT__FLOW_RUN_ID="):
            return item.split(b"=", 1)[1].decode()
    return None


class Soak:
    """Runs one :class:`Plan` over ``flows``; :meth:`run` returns the journal the checker reads."""

    def __init__(
        self,
        plan: Plan,
        workdir: Path,
        slot_seconds: float,
        say: Callable[[str], None] = print,
        flows: tuple[SoakFlow, ...] = (PRODUCTS,),
        lake: LakeKind = "local",
    ) -> None:
        self.plan = plan
        self.workdir = workdir
        self.slot_seconds = slot_seconds
        self.say = say
        self.flows = flows
        self.lake = lake
        self.clock = VirtualClock()
        self.roots: dict[str, str] = {}
        self.journal: dict[str, Any] = {
            "plan": plan.to_dict(),
            "slot_seconds": slot_seconds,
            "lake": lake,
            "flows": [
                {
                    "key": f.key,
                    "project": f.project,
                    "flow": f.flow,
                    "dataset": f.dataset,
                    "endpoint": f.endpoint,
                    "lag_days": f.lag_days,
                    "slots": [
                        {
                            "index": i,
                            "slot": f.slot(day_of(i, plan.days)).isoformat(),
                            "day": str(f.partition_day(day_of(i, plan.days))),
                        }
                        for i in range(plan.slots)
                    ],
                }
                for f in flows
            ],
            "faults": [],
            "ticks": [],
            "actions": [],
        }
        self.workers: dict[str, subprocess.Popen[bytes]] = {}
        self.new_runs: dict[tuple[str, int], tuple[str, datetime]] = {}  # (flow, slot) -> run
        self.deployment_ids: dict[str, str] = {}
        self.shadow_since: dict[str, int | None] = {f.key: None for f in flows}
        self.gate: Any = None  # the Azurite write gate (lake "azurite")
        self.legacy_lake: dict[str, str] = {}  # the legacy side's lake credentials

    def day(self, index: int) -> date:
        """The calendar day of soak slot ``index``."""
        return day_of(index, self.plan.days)

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
        """``prefect deploy --all`` of each soaked project (the real CLI), then its phases."""
        from flowctl.deployments import deploy_project
        from flowctl.migration import init_phases

        for project in dict.fromkeys(f.project for f in self.flows):
            deploy_project(project, self.values, server_env=dict(os.environ))
            init_phases(project, actor="soak", services=self.services())
        for flow in self.flows:
            dep = self._retry(partial(self._read_deployment, flow))
            self.deployment_ids[flow.key] = str(dep.id)

    def _read_deployment(self, flow: SoakFlow) -> Any:
        from prefect import get_client

        from flowlib.migration._aio import run_sync

        async def read() -> Any:
            async with get_client() as client:
                return await client.read_deployment_by_name(flow.deployment)

        return run_sync(read)

    # -- the two schedulers ------------------------------------------------------------------
    def legacy_tick(self, index: int) -> None:
        """Prefect 1's scheduler: a run of the slot of each flow whose schedule is active."""
        from flowlib.migration.prefect1 import Prefect1Client, Prefect1Error

        with Prefect1Client.from_env() as p1:
            for flow in self.flows:
                try:
                    legacy = p1.find_flow(flow.legacy_name, flow.project)
                except Prefect1Error:  # archived: decommissioned
                    continue
                if legacy.is_schedule_active:
                    p1.create_flow_run(
                        legacy.id,
                        scheduled_start_time=flow.slot(self.day(index)),
                        idempotency_key=f"soak-schedule-{flow.key}-{index}",
                    )

    def new_tick(self, index: int) -> None:
        """Prefect 2's scheduler: a run at each deployment's cron slot if its schedule is on."""
        from croniter import croniter

        for flow in self.flows:
            if flow.key not in self.deployment_ids:
                continue
            dep = self._retry(partial(self._read_deployment, flow))
            schedules = [s for s in (getattr(dep, "schedules", None) or []) if s.active]
            if not schedules or getattr(dep, "paused", False):
                continue
            cron = schedules[0].schedule.cron
            day = self.day(index)
            day_start = datetime(day.year, day.month, day.day, tzinfo=UTC)
            slot = croniter(cron, day_start - timedelta(seconds=1)).get_next(datetime)
            run = self._retry(partial(self.create_run, flow, slot))
            self.new_runs[(flow.key, index)] = (run, slot)

    def create_run(
        self, flow: SoakFlow, scheduled: datetime, parameters: dict[str, Any] | None = None
    ) -> str:
        """A Scheduled run of a deployment (as the scheduler, or a backfill, makes one)."""
        from uuid import UUID

        from prefect import get_client
        from prefect.states import Scheduled

        from flowlib.migration._aio import run_sync

        deployment_id = self.deployment_ids[flow.key]

        async def create() -> str:
            async with get_client() as client:
                run = await client.create_flow_run_from_deployment(
                    UUID(deployment_id),  # type: ignore[arg-type]
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

    def wait_runs(
        self,
        run_ids: list[str],
        deadline: float,
        on_poll: Callable[[dict[str, tuple[str, str]]], None] | None = None,
    ) -> None:
        """Until the runs are final and the legacy agent is idle, or the deadline."""
        while time.monotonic() < deadline:
            self.supervise()
            states = {r: self.run_state(r) for r in run_ids}
            if on_poll is not None:
                on_poll(states)
            final = all(t in FINAL for t, _ in states.values())
            if final and not self.legacy_busy() and not self.busy():
                return
            time.sleep(0.5)

    def wait_late(self, run_ids: list[str], deadline: float) -> None:
        """Until the server marks the runs Late (their worker is stopped), or the deadline."""
        while run_ids and time.monotonic() < deadline:
            if all(self.run_state(r)[1] == "Late" for r in run_ids):
                return
            time.sleep(1)

    # -- faults ----------------------------------------------------------------------------
    def fault_start(self, kind: str, index: int) -> None:
        """Faults acting from the start of the slot (per flow: one journal entry each)."""
        if kind == "server-restart":
            self.server.stop()
            self.server.wait_port_free()
            self.server.start()
            self.journal["faults"].append(self.note(kind, slot=index))
            time.sleep(5)  # the workers notice (and may exit: supervised)
            self.supervise()
            return
        if kind == "stale-redeploy":
            for project in dict.fromkeys(f.project for f in self.flows):
                self.journal["faults"].append(self._stale_redeploy(project, index))
            return
        if kind == "worker-stopped":
            self.stop_worker("prod")
        for flow in self.flows:
            if kind == "set-env-past-gate":
                self.journal["faults"].append(self._set_env(flow, index))
                continue
            if kind not in FAILBACK_FAULTS:  # re-run and backfill: after the slot's runs
                continue
            if kind == "http-5xx-storm":
                self.api.inject_fault(flow.endpoint, "500", count=100_000)
            elif kind == "sigkill-flow-run":
                self.api.inject_fault(flow.endpoint, "slow", count=100_000, delay=2.0)
            elif kind == "lake-unwritable":
                self.lake_writable(flow, False)
            self.journal["faults"].append(
                self.note(kind, slot=index, flow=flow.key, expect="fail-back")
            )

    def release(self, kind: str, flow: SoakFlow) -> None:
        """End a fault for one flow (its run failed for good, or was killed)."""
        if kind in ("http-5xx-storm", "sigkill-flow-run"):
            self.api.clear_faults(flow.endpoint)
        elif kind == "lake-unwritable":
            self.lake_writable(flow, True)

    def lake_writable(self, flow: SoakFlow, writable: bool) -> None:
        """Make the flow's dataset folder in the prod lake refuse writes, or accept them again.

        Azurite: the write gate refuses the new flows' writes under the folder with a 403, as
        ADLS does when their identity loses write permission there; the legacy side reaches
        Azurite directly, so its recovery run is never refused. Local: ``chattr -R +i`` (root
        ignores modes), for both sides: the fault ends as soon as the run has failed for good,
        seconds before the legacy recovery starts. The rest of the lake (``_state/``: the
        migration history) stays writable.
        """
        if self.gate is not None:
            prefix = f"{self.containers['prod']}/{flow.dataset}"
            if writable:
                self.gate.allow(prefix)
            else:
                self.gate.deny(prefix)
            return
        folder = Path(self.roots["prod"].removeprefix("file://")) / flow.dataset
        folder.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(
            ["chattr", "-R", "-i" if writable else "+i", str(folder)],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(
                f"chattr on {folder} failed ({done.stderr.strip()}): the local 'lake unwritable' "
                "fault needs root with CAP_LINUX_IMMUTABLE on ext4/xfs; run the soak with "
                "--lake azurite instead"
            )

    def check_chattr(self) -> None:
        """Whether ``chattr +i`` works here (root, CAP_LINUX_IMMUTABLE, ext4/xfs)."""
        probe = self.workdir / "chattr-probe"
        probe.mkdir(exist_ok=True)
        for flag in ("+i", "-i"):
            try:
                done = subprocess.run(["chattr", flag, str(probe)], capture_output=True, text=True)
            except FileNotFoundError:
                done = subprocess.CompletedProcess([], 1, "", "chattr is not installed")
            if done.returncode != 0:
                raise RuntimeError(
                    f"chattr {flag} {probe} failed ({done.stderr.strip()}): the local 'lake "
                    "unwritable' fault needs root with CAP_LINUX_IMMUTABLE on ext4/xfs "
                    "(e2fsprogs); run the soak with --lake azurite (the default) instead"
                )

    def _set_env(self, flow: SoakFlow, index: int) -> dict[str, Any]:
        from devtools.services import REPO_ROOT

        cmd = [sys.executable, "-m", "flowctl", "set-env", "--env", "prod"]
        cmd += ["-p", flow.project, "-f", flow.flow, "--yes"]
        proc = subprocess.run(
            cmd, cwd=REPO_ROOT, env={**os.environ, **self.values}, capture_output=True, text=True
        )
        out = " ".join((proc.stdout + proc.stderr).split())
        return self.note(
            "set-env-past-gate",
            slot=index,
            flow=flow.key,
            expect="refused",
            refused=proc.returncode != 0,
            output=out[-300:],
        )

    def _stale_redeploy(self, project: str, index: int) -> dict[str, Any]:
        from flowctl.deployments import deploy_project

        try:
            deploy_project(project, self.values, server_env=dict(os.environ))
        except Exception as exc:
            text = " ".join(str(exc).split())
            return self.note(
                "stale-redeploy",
                slot=index,
                project=project,
                expect="refused",
                refused=True,
                output=text[-300:],
            )
        return self.note(
            "stale-redeploy", slot=index, project=project, expect="refused", refused=False
        )

    def _fault_watch(self, kinds: list[str], runs: dict[str, SoakFlow]) -> Any:
        """A poll hook for the slot's runs: kill each once Running (the SIGKILL fault).

        Each flow's fault ends once its run is final (it outlasted the retries) or killed.
        """
        killed: set[str] = set()
        released: set[str] = set()
        kinds = [k for k in kinds if k in ("http-5xx-storm", "sigkill-flow-run", "lake-unwritable")]

        def poll(states: dict[str, tuple[str, str]]) -> None:
            for run_id, (state, _name) in states.items():
                flow = runs[run_id]
                kill = "sigkill-flow-run" in kinds and state == "RUNNING"
                if kill and run_id not in killed and self._sigkill(run_id):
                    killed.add(run_id)
                if run_id not in released and (state in FINAL or run_id in killed):
                    released.add(run_id)
                    for kind in kinds:
                        self.release(kind, flow)

        return poll

    def _sigkill(self, run_id: str) -> bool:
        """SIGKILL the process of a run (a child of the prod worker), mid-run."""
        worker = self.workers.get("prod")
        if worker is None:
            return False
        for pid in _descendants(worker.pid):
            if "devtools.localrun" in _cmdline(pid) and _flow_run_of(pid) == run_id:
                time.sleep(1.0)  # mid-run: fetching from the (slow) API
                os.kill(pid, signal.SIGKILL)
                self.journal["actions"].append(self.note("sigkilled", pid=pid, run=run_id))
                return True
        return False

    def rerun_and_backfill(self, index: int) -> list[str]:
        """Per flow: a manual re-run of this slot, a backfill of slot 0, a legacy re-run of it."""
        from flowlib.migration.prefect1 import Prefect1Client

        extra = []
        for flow in self.flows:
            _run, scheduled = self.new_runs[(flow.key, index)]
            rerun = self.create_run(flow, scheduled)
            day0 = flow.partition_day(self.day(0))
            backfill = self.create_run(flow, flow.slot(self.day(0)), {flow.day_param: str(day0)})
            with Prefect1Client.from_env() as p1:
                legacy = p1.find_flow(flow.legacy_name, flow.project)
                p1.create_flow_run(
                    legacy.id,
                    scheduled_start_time=flow.slot(self.day(0)),
                    idempotency_key=f"soak-manual-rerun-{flow.key}",
                )
            self.journal["faults"].append(
                self.note(
                    "rerun-and-backfill",
                    slot=index,
                    flow=flow.key,
                    rerun=rerun,
                    backfill=backfill,
                    legacy_rerun_slot=flow.slot(self.day(0)).isoformat(),
                )
            )
            extra += [rerun, backfill]
        return extra

    # -- phase work ------------------------------------------------------------------------
    def phases(self) -> dict[str, str | None]:
        """Each flow's recorded phase, read raw from the server's Variables."""
        records = {f.key: self.raw_record(f) for f in self.flows}
        return {k: None if r is None else str(r.get("phase")) for k, r in records.items()}

    def raw_record(self, flow: SoakFlow) -> dict[str, Any] | None:
        """The phase record Variable's JSON, read with plain HTTP."""
        name = f"migration_phase__{flow.project}__{flow.flow}"
        url = f"{self.server.api_url}/variables/name/{name}"

        def read() -> dict[str, Any] | None:
            response = httpx.get(url, timeout=10)
            if response.status_code == 404:
                return None
            response.raise_for_status()
            value = response.json()["value"]
            return dict(json.loads(value) if isinstance(value, str) else value)

        result: dict[str, Any] | None = self._retry(read)
        return result

    def validate(self, flow: SoakFlow, index: int) -> None:
        """Validate the flow's current shadow stretch (at most the gate's 3 days); record it."""
        from flowctl.migration import record_validations
        from flowlib.migration.validations import validation_rules
        from flowlib.validation import validate_lakes
        from flowlib.validation.options import ValidationOptions

        since = self.shadow_since[flow.key]
        assert since is not None
        first = max(since, index - 2)
        options = ValidationOptions(  # as `flowctl validate`: the manifests' rules and slots
            flows=(flow.dataset,),
            since=flow.partition_day(self.day(first)),
            until=flow.partition_day(self.day(index)),
            rules=validation_rules(),
        )
        report = validate_lakes(self.roots["prod"], self.roots["dev"], options).to_dict()
        record_validations(report, actor="soak-validation", services=self.services())
        self.journal["actions"].append(
            self.note(
                "validate",
                slot=index,
                flow=flow.key,
                since=first,
                passed=bool(report.get("passed")),
            )
        )

    def end_of_slot(self, index: int) -> None:
        """Watcher, validation and the plan's phase operations, at the slot's afternoon."""
        from flowctl.migration import cutover, decommission, watch

        self.clock.at(self.day(index), 14)
        result = self._retry(lambda: watch(late_after=LATE_AFTER, services=self.services()))
        for outcome in result.outcomes:
            self.journal["actions"].append(
                self.note("watcher", slot=index, status=outcome.status, message=outcome.message)
            )
        # a fail-back takes seconds, a slot is a day: it ends before the next slot (bounded)
        deadline = time.monotonic() + max(4 * self.slot_seconds, 120)
        while time.monotonic() < deadline and any(
            (self.raw_record(f) or {}).get("failing_back") for f in self.flows
        ):
            time.sleep(0.5)
        self.wait_runs([], deadline)  # and its recovery runs
        for flow, phase in zip(self.flows, self.phases().values(), strict=True):
            if phase in ("shadow", "validated"):
                if self.shadow_since[flow.key] is None:
                    self.shadow_since[flow.key] = index
                self.validate(flow, index)
            else:
                self.shadow_since[flow.key] = None
        self.clock.at(self.day(index), 15)
        for flow in self.flows:
            if index in self.plan.cutover_after:
                [outcome] = cutover(  # the schedule to the legacy slot: recoveries keep the stamp
                    flow.project,
                    flow.flow,
                    actor="soak",
                    services=self.services(),
                    pools=self.pools,
                    move_to_legacy_slot=True,
                )
                self.journal["actions"].append(
                    self.note(
                        "cutover",
                        slot=index,
                        flow=flow.key,
                        status=outcome.status,
                        message=outcome.message,
                    )
                )
                if outcome.status == "done":
                    self.shadow_since[flow.key] = None
            if index == self.plan.decommission_after:
                [outcome] = decommission(
                    flow.project,
                    flow.flow,
                    actor="soak",
                    force=True,
                    reason="soak: the quiet period (14 days) compressed to the soak's slots",
                    services=self.services(),
                )
                self.journal["actions"].append(
                    self.note("decommission", slot=index, flow=flow.key, status=outcome.status)
                )

    def tick(self, index: int) -> None:
        """One slot: faults, both schedulers, waiting, then the end-of-slot work."""
        started = time.monotonic()
        self.say(f"slot {index} ({self.day(index)}), phases {self.phases()}")
        self.clock.at(self.day(index), 0)
        faults = self.plan.faults_at(index)
        for kind in faults:
            self.fault_start(kind, index)
        if index == self.plan.deploy_at:
            self.deploy()
            self.journal["actions"].append(self.note("deploy", slot=index, phases=self.phases()))
        self.journal["ticks"].append(
            {"index": index, "phases": self.phases(), "at": datetime.now(UTC).isoformat()}
        )
        self.legacy_tick(index)
        self.new_tick(index)
        runs = {
            self.new_runs[(f.key, index)][0]: f
            for f in self.flows
            if (f.key, index) in self.new_runs
        }
        # the slot's runs finish before its end-of-slot work (a loaded machine stretches the slot)
        deadline = started + max(self.slot_seconds * 4, 240)
        poll = self._fault_watch(faults, runs) if runs else None
        if "worker-stopped" in faults:
            # the runs stay Scheduled until the server marks them Late, then past the threshold
            self.wait_late(list(runs), started + max(self.slot_seconds * 2, 90))
            deadline = 0.0
        self.wait_runs(list(runs), deadline, poll)
        if "sigkill-flow-run" in faults:
            # the operator's step after killed pods, once no run is in flight: Prefect 2 keeps
            # the source slots they held (docs/sources.md, "Limits")
            sync_source_limits(self.server.api_url, reset_slots=True)
        self.api.clear_faults()
        if self.gate is not None:
            self.gate.allow()
        elif "lake-unwritable" in faults:
            for flow in self.flows:
                self.lake_writable(flow, True)
        extra = self.rerun_and_backfill(index) if "rerun-and-backfill" in faults else []
        if extra:
            self.wait_runs(extra, time.monotonic() + max(4 * self.slot_seconds, 180))
        self.end_of_slot(index)
        if "worker-stopped" in faults:
            self.start_worker("prod")
            self.journal["actions"].append(self.note("worker-restarted", slot=index))
        self.supervise()
        rest = started + self.slot_seconds - time.monotonic()
        if rest > 0:
            time.sleep(rest)

    # -- the whole run ---------------------------------------------------------------------
    def _lakes(self, stack: ExitStack) -> dict[str, str]:
        """The lakes' variables: local folders, or two containers in Azurite (behind the gate)."""
        if self.lake == "local":
            self.roots = {e: (self.workdir / "lake" / e).as_uri() + "/" for e in ("dev", "prod")}
            return {f"LAKE_{e.upper()}_ROOT": r for e, r in self.roots.items()}
        from devtools.lake_gate import write_gate
        from devtools.services import Azurite, azurite

        emulator = stack.enter_context(azurite(self.workdir))
        self.gate = stack.enter_context(write_gate(emulator.blob_url))
        gated = Azurite(blob_url=self.gate.url)
        self.containers = {"dev": "soak-dev", "prod": "soak-prod"}
        self.roots = {e: gated.lake_root(c) for e, c in self.containers.items()}
        # the checker and the legacy side reach Azurite past the gate (the emulator's public
        # development key: not a secret)
        self.journal["azurite_connection_string"] = emulator.connection_string
        self.legacy_lake = {"LAKE_PROD_CONNECTION_STRING": emulator.connection_string}
        values = {f"LAKE_{e.upper()}_ROOT": r for e, r in self.roots.items()}
        for env in ("DEV", "PROD"):
            values[f"LAKE_{env}_CONNECTION_STRING"] = gated.connection_string
        return values

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
            self.api = stack.enter_context(
                SampleApi.start_subprocess(port=0, transactions_per_day=TRANSACTIONS_PER_DAY)
            )
            lakes = self._lakes(stack)
            self.journal["roots"] = self.roots
            self.server = ServerProcess(self.workdir / "prefect")
            self.server.start()
            stack.callback(self.server.stop)
            legacy_env = legacy_run_env(
                self.roots["prod"],
                self.api.url,
                self.api.shop_token,
                self.api.url,
                self.api.ledger_key,
                self.workdir / "prefect1-home",
            )
            legacy_env.update(self.legacy_lake)
            self.stub = Prefect1Stub(executor=legacy_executor(legacy_env)).start()
            stack.callback(self.stub.close)
            soaked = {f.key for f in self.flows}
            for plan in Manifests.load().plans:
                if f"{plan.project}/{plan.flow}" in soaked:
                    self.stub.add_flow(
                        plan.legacy.name,
                        plan.legacy.project,
                        parameters=plan.legacy.parameters,
                        legacy_path=f"{plan.project}/{plan.flow}",
                    )
            self.values = {
                **load_environment("local"),
                "SHOP_API_URL": self.api.url,
                "LEDGER_API_URL": self.api.url,
                **lakes,
            }
            env = {
                **self.values,
                "PREFECT_API_URL": self.server.api_url,
                "PREFECT_HOME": str(self.server.home),
                "PREFECT1_API_URL": self.stub.url,
                "SHOP_API_TOKEN": self.api.shop_token,
                "LEDGER_API_TOKEN": self.api.ledger_key,
                "SHOP_API_BACKOFF_SECONDS": "0.05",
                "LEDGER_API_BACKOFF_SECONDS": "0.05",
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
            if self.lake == "local" and any(f.kind == "lake-unwritable" for f in self.plan.faults):
                self.check_chattr()  # fails now, not at the fault's slot minutes later
                for flow in self.flows:  # never leave an immutable folder behind
                    stack.callback(self.lake_writable, flow, True)
            self.stub.start_agent(poll_seconds=0.2)
            self.journal["setup_seconds"] = round(time.monotonic() - began, 1)
            for index in range(self.plan.slots):
                self.tick(index)
            self.wait_runs([r for r, _ in self.new_runs.values()], time.monotonic() + 120)
            runs = self.raw_runs()
            for entry, flow in zip(self.journal["flows"], self.flows, strict=True):
                entry["new_runs"] = [r for r in runs if r["flow_name"] == flow.flow_name]
                entry["legacy_runs"] = [
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
                    for r in self.stub.runs_of(flow.legacy_name)
                ]
                entry["final_record"] = self.raw_record(flow)
            self.journal["api_url"] = self.api.url
            # the sample API's throwaway credentials (the checker asks it what it served)
            self.journal["tokens"] = {
                PRODUCTS.endpoint: self.api.shop_token,
                TRANSACTIONS.endpoint: self.api.ledger_key,
            }
            self.journal["gate_refused"] = self.gate.refused if self.gate is not None else None
            self.journal["seconds"] = round(time.monotonic() - began, 1)
            (self.workdir / "journal.json").write_text(json.dumps(self.journal, indent=1))
            if inspect is not None:
                inspect(self.journal)
        return self.journal

    def raw_runs(self) -> list[dict[str, Any]]:
        """Every run of the soaked flows, as the server's REST API returns them (with its flow)."""
        names = [f.flow_name for f in self.flows]
        body = {"flows": {"name": {"any_": names}}, "limit": 200, "offset": 0}
        response = httpx.post(f"{self.server.api_url}/flow_runs/filter", json=body, timeout=30)
        response.raise_for_status()
        runs = list(response.json())
        flows = httpx.post(
            f"{self.server.api_url}/flows/filter",
            json={"flows": {"name": {"any_": names}}},
            timeout=30,
        )
        flows.raise_for_status()
        name_of = {f["id"]: f["name"] for f in flows.json()}
        for run in runs:
            run["flow_name"] = name_of.get(run["flow_id"])
        return runs
