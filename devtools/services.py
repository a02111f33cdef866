"""Real local services for tests, the demo and benchmarks: Azurite, PostgreSQL, a Prefect server.

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
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import httpx

from flowctl.deployments.prefect_cli import prefect_cli
from flowlib import REPO_ROOT

__all__ = [
    "DATABASES",
    "REPO_ROOT",
    "Azurite",
    "Postgres",
    "PrefectServer",
    "ServiceError",
    "api_environment",
    "azurite",
    "free_port",
    "postgres",
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


# What a Prefect server keeps its data in: SQLite (the embedded default: demo, `make test`) or
# PostgreSQL (what production runs; `make test-postgres`, `make bench-deploy DB=postgres`).
Database = Literal["sqlite", "postgres"]
DATABASES: tuple[Database, ...] = ("sqlite", "postgres")
POSTGRES_TOOLS = "make postgres-tools"  # installs Debian's postgresql package (make/postgres.mk)


@dataclass(frozen=True)
class Postgres:
    """A running throwaway PostgreSQL cluster with one database, ``prefect``, trust auth."""

    host: str
    port: int
    user: str
    database: str
    directory: Path  # data, socket and log; removed on stop

    @property
    def url(self) -> str:
        """The SQLAlchemy URL a Prefect server takes (``PREFECT_API_DATABASE_CONNECTION_URL``)."""
        return f"postgresql+asyncpg://{self.user}@{self.host}:{self.port}/{self.database}"


def postgres_bindir() -> Path:
    """The directory of ``initdb`` and ``pg_ctl`` (Debian keeps them off PATH, per version).

    ``FLOWLIB_POSTGRES_BIN`` overrides it (another distribution, a local build).
    """
    override = os.environ.get("FLOWLIB_POSTGRES_BIN")
    candidates = [Path(override)] if override else []
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
        reverse=True,
    )
    if not override:
        candidates += found
        on_path = shutil.which("pg_ctl")
        if on_path:
            candidates.append(Path(on_path).resolve().parent)
    for bindir in candidates:
        if all((bindir / tool).exists() for tool in ("initdb", "pg_ctl", "createdb")):
            return bindir
    where = f"FLOWLIB_POSTGRES_BIN={override}" if override else "/usr/lib/postgresql/*/bin or PATH"
    raise ServiceError(
        f"PostgreSQL's initdb, pg_ctl and createdb were not found ({where}): run "
        f"`{POSTGRES_TOOLS}` (apt-get install postgresql), or point FLOWLIB_POSTGRES_BIN at them."
    )


def _as_postgres_user(cmd: Sequence[str]) -> list[str]:
    """The command as the ``postgres`` user when we are root; else unchanged.

    ``initdb`` and ``postgres`` refuse to run as root: as root they run as ``postgres`` (the
    user Debian's package creates) through ``runuser``.
    """
    if os.geteuid() != 0:
        return list(cmd)
    runuser = shutil.which("runuser")
    if runuser is None:
        raise ServiceError("running as root without `runuser` (util-linux): cannot start postgres")
    try:
        import pwd

        pwd.getpwnam("postgres")
    except KeyError as exc:
        raise ServiceError(
            f"running as root and there is no `postgres` user to run PostgreSQL as: "
            f"run `{POSTGRES_TOOLS}` (Debian's package creates it)"
        ) from exc
    return [runuser, "-u", "postgres", "--", *cmd]


def _run(cmd: Sequence[str], what: str) -> None:
    proc = subprocess.run(list(cmd), capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise ServiceError(f"{what} failed (exit {proc.returncode}): {proc.stderr[-2000:]}")


@contextmanager
def postgres(workdir: Path | None = None, *, durable: bool = False) -> Iterator[Postgres]:
    """Start a PostgreSQL cluster on a free port in a fresh temp directory; stop and remove it.

    The cluster listens on 127.0.0.1 only, trusts local connections (a throwaway, no password)
    and holds one database, ``prefect``, owned by the user ``prefect``. ``durable=False`` (tests)
    turns fsync and synchronous commit off: a cluster that is deleted at the end need not
    survive a power cut, and the shared CI machine's disk is then not the bottleneck; concurrency
    and locking behave as in production. ``durable=True`` keeps PostgreSQL's defaults (benchmarks).

    The directory is made with its own ``mkdtemp`` (under ``workdir`` or the system temp dir),
    since pytest's per-user temp dirs are closed to the ``postgres`` user.
    """
    bindir = postgres_bindir()
    root = Path(tempfile.mkdtemp(prefix="flowlib-pg-", dir=workdir))
    data = root / "data"
    if os.geteuid() == 0:
        shutil.chown(root, user="postgres")
        # the cluster's user must reach the directory: every parent has to be traversable
        for parent in root.parents:
            if parent.stat().st_mode & 0o001 == 0:
                shutil.rmtree(root, ignore_errors=True)
                raise ServiceError(
                    f"{parent} is not traversable by the postgres user: give postgres() a "
                    "workdir under a world-traversable directory (the default, the system "
                    "temp dir, is)"
                )
    port = free_port()
    user, database = "prefect", "prefect"
    options = [
        f"-p {port}",
        f"-k {root}",  # the unix socket beside the data, not in /var/run/postgresql
        "-c listen_addresses=127.0.0.1",
        "-c max_connections=200",  # a Prefect server's pools, several servers' worth
    ]
    if not durable:
        options += ["-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off"]
    pg_ctl = str(bindir / "pg_ctl")
    started = False
    try:
        _run(
            _as_postgres_user(
                [str(bindir / "initdb"), "-D", str(data), "-U", user, "--auth=trust", "-E", "UTF8"]
            ),
            "initdb",
        )
        _run(
            _as_postgres_user(
                [
                    *(pg_ctl, "-D", str(data), "-l", str(root / "postgres.log")),
                    *("-w", "-t", "60", "-o", " ".join(options), "start"),
                ]
            ),
            f"pg_ctl start (log: {root / 'postgres.log'})",
        )
        started = True
        _run(
            [str(bindir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", user, database],
            "createdb",
        )
        yield Postgres(host="127.0.0.1", port=port, user=user, database=database, directory=root)
    finally:
        if started:
            subprocess.run(
                _as_postgres_user([pg_ctl, "-D", str(data), "-m", "fast", "-w", "stop"]),
                capture_output=True,
                check=False,
            )
        shutil.rmtree(root, ignore_errors=True)


@dataclass(frozen=True)
class PrefectServer:
    """A running ``prefect server start`` with its own database (SQLite or PostgreSQL)."""

    api_url: str
    home: Path
    ui: bool = False
    db: Database = "sqlite"
    database_url: str = ""  # PREFECT_API_DATABASE_CONNECTION_URL (trust auth: no secret in it)

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
    db: Database = "sqlite",
    durable: bool = False,
) -> Iterator[PrefectServer]:
    """Start a real Prefect server on a free port (or ``port``); stop it on exit.

    ``ui``: also serve the Prefect UI (for people, and for the browser test of the artifact).
    ``source_limits``: create the source APIs' global concurrency limits from their contracts
    (``flowctl limits sync``), as an operator does once per server: flow runs that report to a
    server refuse to call a source whose limit is missing (docs/sources.md, "Limits").
    ``db``: ``sqlite`` (a file in ``home``, Prefect's embedded default) or ``postgres`` (a
    PostgreSQL cluster of its own, :func:`postgres`, stopped after the server; ``durable`` is
    passed to it).
    """
    if db not in DATABASES:
        raise ValueError(f"db={db!r}: expected one of {', '.join(DATABASES)}")
    with ExitStack() as stack:
        if db == "postgres":
            database_url = stack.enter_context(postgres(durable=durable)).url
        else:
            home = home or Path(tempfile.mkdtemp(prefix="prefect-home-"))
            database_url = f"sqlite+aiosqlite:///{home}/prefect.db"
        yield stack.enter_context(
            _prefect_server(home, timeout, ui, port, db, database_url, source_limits)
        )


@contextmanager
def _prefect_server(
    home: Path | None,
    timeout: float,
    ui: bool,
    port: int,
    db: Database,
    database_url: str,
    source_limits: bool,
) -> Iterator[PrefectServer]:
    port = port or free_port()
    home = home or Path(tempfile.mkdtemp(prefix="prefect-home-"))
    home.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env.update(
        {
            "PREFECT_HOME": str(home),
            "PREFECT_API_DATABASE_CONNECTION_URL": database_url,
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
        yield PrefectServer(api_url=api_url, home=home, ui=ui, db=db, database_url=database_url)
    finally:
        _stop(proc)
        log.close()


@contextmanager
def api_environment(env: Mapping[str, str]) -> Iterator[None]:
    """``env`` in ``os.environ`` and Prefect's API URL setting, restored afterwards.

    For in-process operations against a server the demo or the soak started.
    """
    from prefect.settings import PREFECT_API_URL, temporary_settings

    saved = dict(os.environ)
    os.environ.update(env)
    try:
        with temporary_settings(updates={PREFECT_API_URL: env["PREFECT_API_URL"]}):
            yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def sync_source_limits(api_url: str, reset_slots: bool = False) -> None:
    """``flowctl limits sync [--reset-slots]`` against the server at ``api_url``, in this process.

    ``reset_slots``: what an operator does after a flow-run process was killed (an OOM-killed
    pod): Prefect 2 keeps the slots it held taken (docs/sources.md, "Limits").
    """
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from flowctl.limits import sync_limits

    with temporary_settings(updates={PREFECT_API_URL: api_url}):
        sync_limits(reset_slots=reset_slots)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Interrupt (Azurite and uvicorn stop at once on SIGINT), then kill if it lingers."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
