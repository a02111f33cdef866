"""bench-deploy: `prefect deploy --all` against `flowctl deploy`, 300 deployments, two latencies.

`--db sqlite` (default: Prefect's embedded database) or `--db postgres` (each server on its own
PostgreSQL cluster, Debian's package: `make bench-deploy DB=postgres`).

Generates 3 prefect.yaml files x 100 deployments (benchmarks/deploy_fixtures.py) in a temp dir,
then for each of two links - direct, and through a local TCP proxy adding 50 ms to every API call
(benchmarks/deploy_proxy.py) - starts two fresh Prefect servers and deploys the same files into
each, from the repository root with the local values (a process work pool):

- one with `prefect --no-prompt deploy --all --prefect-file FILE`, once per file (as `make deploy`);
- one with `flowctl deploy --prefect-file ... --yes` (one command for the three files), then
  once more with the same files (everything unchanged: nothing is written). Its adaptive write
  concurrency is printed: each window's limit and writes per second, the peak and where it
  settled (does it climb?).

Each wall time covers the whole commands (interpreter start-up included). Afterwards the two
servers are read directly and compared field by field (ids and timestamps aside). Prints:

    deploy 300: prefect deploy X s, flowctl Y s, ratio Z  (direct)       then (via 50 ms proxy)
    deploy 300 via 50 ms proxy: speed-up N.NN

Exit code 1 when the servers differ or a command fails; with --enforce also when the speed-up
through the proxy is below --target (5).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from deploy_fixtures import differences, generate, read_all
from deploy_proxy import latency_proxy, measure

from devtools.services import (
    DATABASES,
    REPO_ROOT,
    Database,
    PrefectServer,
    prefect_cli,
    prefect_server,
)
from flowctl.deployments import load_environment

POOL = "bench-deploy"
BIN = Path(sys.executable).parent


def start_servers(stack: ExitStack, root: Path, db: Database) -> list[PrefectServer]:
    """Two fresh servers, started side by side (scheduler off: no run creation during timing).

    On PostgreSQL each has its own cluster with the default (durable) settings, as in production.
    """
    managers = [
        prefect_server(
            home=Path(tempfile.mkdtemp(prefix="server-", dir=root)),
            db=db,
            durable=True,
            timeout=300,
        )
        for _ in range(2)
    ]
    with ThreadPoolExecutor(2) as pool:
        futures = [pool.submit(m.__enter__) for m in managers]
    for manager, future in zip(managers, futures, strict=True):
        if future.exception() is None:
            stack.callback(manager.__exit__, None, None, None)
    return [f.result() for f in futures]


def load() -> str:
    """The 1, 5 and 15 minute load averages: how much else wanted the CPUs meanwhile."""
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def create_pool(api_url: str) -> None:
    import asyncio

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.settings import PREFECT_API_URL, temporary_settings

    async def create() -> None:
        async with get_client() as client:
            await client.create_work_pool(WorkPoolCreate(name=POOL, type="process"))

    with temporary_settings(updates={PREFECT_API_URL: api_url}):
        asyncio.run(create())


def timed(cmds: list[list[str]], env: dict[str, str], label: str) -> tuple[float, str]:
    """Run the commands one after the other: seconds, and the last one's stdout."""
    start = time.perf_counter()
    stdout = ""
    for cmd in cmds:
        proc = subprocess.run(
            cmd, cwd=REPO_ROOT, env=env, capture_output=True, text=True, check=False
        )
        if proc.returncode != 0:
            sys.exit(
                f"{label} failed ({' '.join(cmd[:4])} ...):\n"
                f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
            )
        stdout = proc.stdout
    return time.perf_counter() - start, stdout


@dataclass
class Run:
    """One link's result."""

    t_cli: float
    t_flowctl: float
    differences: list[str]
    deployments: int
    requests: tuple[int, int] | None  # API requests through the proxy: CLI, flowctl
    writes: dict[str, int]  # flowctl: writes at once at the end, the peak, 503s retried
    trials: list[list[float]]  # flowctl: (limit, writes per second) of each window
    t_again: float  # flowctl deploy of the same files once more: everything unchanged


def run_pair(
    files: list[Path],
    values: dict[str, str],
    root: Path,
    delay_ms: float | None,
    concurrency: int | None,
    db: Database,
) -> Run:
    with ExitStack() as stack:
        by_cli, by_flowctl = start_servers(stack, root, db)
        for server in (by_cli, by_flowctl):
            create_pool(server.api_url)
        proxies = [
            stack.enter_context(latency_proxy(s.api_url, delay_ms)) if delay_ms else None
            for s in (by_cli, by_flowctl)
        ]
        urls = [
            p.url if p else s.api_url for p, s in zip(proxies, (by_cli, by_flowctl), strict=True)
        ]
        if delay_ms:
            print(
                f"  GET /health through the proxy: {measure(urls[0]) * 1000:.0f} ms "
                f"(direct {measure(by_cli.api_url) * 1000:.0f} ms)",
                flush=True,
            )
            for proxy in proxies:
                if proxy:
                    proxy.requests = 0

        cli_env = {**by_cli.env(), **values, "PREFECT_API_URL": urls[0]}
        cli = [
            [prefect_cli(), "--no-prompt", "deploy", "--all", "--prefect-file", str(f)]
            for f in files
        ]
        t_cli, _ = timed(cli, cli_env, "prefect deploy")

        fc_env = {**by_flowctl.env(), **values, "PREFECT_API_URL": urls[1]}
        fc = [
            str(BIN / "flowctl"),
            "deploy",
            "--yes",
            "--json",
            *[a for f in files for a in ("--prefect-file", str(f))],
        ]
        if concurrency:
            fc += ["--concurrency", str(concurrency)]
        t_fc, out = timed([fc], fc_env, "flowctl deploy")
        report = json.loads(out)
        writes, trials = report.get("writes") or {}, report.get("write_trials") or []
        requests = (proxies[0].requests, proxies[1].requests) if proxies[0] and proxies[1] else None
        t_again, _ = timed([fc], fc_env, "flowctl deploy (again)")

        expected, actual = read_all(by_cli.api_url), read_all(by_flowctl.api_url)
        return Run(
            t_cli,
            t_fc,
            differences(expected, actual),
            len(actual),
            requests,
            writes,
            trials,
            t_again,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=3)
    parser.add_argument("--per-file", type=int, default=100)
    parser.add_argument("--delay-ms", type=float, default=50.0)
    parser.add_argument(
        "--concurrency",
        type=int,
        default=None,
        help="flowctl --concurrency (default: its own, found while writing)",
    )
    parser.add_argument(
        "--db", choices=DATABASES, default="sqlite", help="the Prefect servers' database"
    )
    parser.add_argument("--target", type=float, default=5.0)
    parser.add_argument("--enforce", action="store_true", help="exit 1 below the target")
    args = parser.parse_args()

    # servers inherit this environment: no scheduler (it would create runs for 300 deployments
    # while we time), no telemetry
    os.environ["PREFECT_API_SERVICES_SCHEDULER_ENABLED"] = "false"
    os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
    os.environ.pop("PREFECT_API_URL", None)
    count = args.files * args.per_file
    values = {**load_environment("local"), "FLOWLIB_WORK_POOL": POOL}
    failed = False
    with tempfile.TemporaryDirectory(prefix="bench-deploy-") as tmp:
        root = Path(tmp)
        files = generate(root / "deployments", args.files, args.per_file)
        print(
            f"{count} deployments in {len(files)} files under {root}; {os.cpu_count()} CPUs; "
            f"servers on {args.db}; load average {load()}",
            flush=True,
        )
        speedup = 0.0
        for delay in (None, args.delay_ms):
            link = f"via {delay:.0f} ms proxy" if delay else "direct"
            print(f"{link}: starting two fresh servers ({args.db}) ...", flush=True)
            run = run_pair(files, values, root, delay, args.concurrency, args.db)
            t_cli, t_fc, diffs, n = run.t_cli, run.t_flowctl, run.differences, run.deployments
            same = "identical" if not diffs and n == count else f"DIFFERENT ({len(diffs)})"
            print(f"  servers hold {n} deployments each: {same}")
            for line in diffs[:20]:
                print(f"    {line}")
            if run.requests:
                print(
                    f"  API requests: prefect deploy {run.requests[0]} "
                    f"({run.requests[0] / count:.1f} per deployment), flowctl {run.requests[1]} "
                    f"({run.requests[1] / count:.1f} per deployment)"
                )
            print(
                f"  flowctl wrote {run.writes.get('at_once')} at once at the end (peak "
                f"{run.writes.get('peak')}), retried {run.writes.get('retried_503')} upserts "
                "after a 503 (server busy)"
            )
            climb = ", ".join(f"{int(limit)}: {rate:.1f}/s" for limit, rate in run.trials)
            print(f"  flowctl write windows (limit: writes per second): {climb or 'none'}")
            print(f"  load average after this link: {load()}")
            print(f"  flowctl deploy of the same files again (all unchanged): {run.t_again:.1f} s")
            failed |= bool(diffs) or n != count
            print(
                f"deploy {count}: prefect deploy {t_cli:.1f} s, flowctl {t_fc:.1f} s, "
                f"ratio {t_cli / t_fc:.2f}  ({link}, {args.db}; flowctl concurrency "
                f"{run.writes.get('peak')} peak, {run.writes.get('at_once')} settled)",
                flush=True,
            )
            speedup = t_cli / t_fc
    print(f"deploy {count} via {args.delay_ms:.0f} ms proxy ({args.db}): speed-up {speedup:.2f}")
    if failed or (args.enforce and speedup < args.target):
        sys.exit(1)


if __name__ == "__main__":
    main()
