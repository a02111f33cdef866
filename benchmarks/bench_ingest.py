"""bench-ingest: the high-volume flow against a plain script, same data, same lake, same run.

For each volume, the sample API serves that many transactions for one day; the plain script
(httpx + pyarrow, no Prefect: the baseline), the same script with the memory fix (a second
baseline, ``plain_ingest_fixed.py``) and the flow (a real run against a local Prefect server)
each load the day into their own local lake folder, in separate processes. Wall time is measured
from the parent (interpreter start to exit); peak memory is each process's own max RSS (the
sample API and the Prefect server run in processes of their own). All lakes must hold the same
rows. Ends with one line per volume, the largest last:
``ingest N rows: time ratio X.XX, memory ratio Y.YY, flow peak Z MB`` (flow / plain script).
With ``--enforce`` it exits 1 when the flow's peak exceeds ``--max-peak-mb`` at any volume or
its time exceeds the plain script's at 5 million rows. Results go to
benchmarks/results/ingest-prefect<major>.json.
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import prefect
import pyarrow.parquet as pq

from devtools.sample_api import SampleApi
from devtools.services import prefect_server

HERE = Path(__file__).resolve().parent
DAY = "2026-11-24"


def run(cmd: list[str], env: dict[str, str]) -> tuple[float, int, int]:
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    lines = dict(line.split(" ", 1) for line in proc.stdout.splitlines() if " " in line)
    return wall, int(lines["rows"]), int(lines["peak_rss_kb"])


def lake_rows(folder: Path) -> int:
    return sum(pq.ParquetFile(p).metadata.num_rows for p in folder.rglob("*.parquet"))


def plain_cmd(script: str, api_url: str, key: str, shards: int, lake: Path) -> list[str]:
    return [
        sys.executable,
        str(HERE / script),
        *("--url", api_url, "--key", key, "--day", DAY),
        *("--shards", str(shards), "--lake", str(lake)),
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, nargs="+", default=[5_000_000, 20_000_000])
    parser.add_argument("--shards", type=int, default=8)
    parser.add_argument("--max-peak-mb", type=int, default=400)
    parser.add_argument("--time-target-rows", type=int, default=5_000_000)
    parser.add_argument("--enforce", action="store_true")
    args = parser.parse_args()
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    major = prefect.__version__.split(".")[0]
    results = []
    with prefect_server() as server:
        for rows in args.rows:
            with (
                SampleApi.start_subprocess(port=0, transactions_per_day=rows) as api,
                tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp,
            ):
                plain_lake, fixed_lake, flow_lake = (
                    Path(tmp, "plain"),
                    Path(tmp, "plain-fixed"),
                    Path(tmp, "flow"),
                )
                env = server.env()
                env.update(
                    LEDGER_API_URL=api.url,
                    LEDGER_API_TOKEN=api.ledger_key,
                    LAKE_DEV_ROOT=flow_lake.as_uri() + "/",
                    PREFECT_LOGGING_LEVEL="WARNING",
                )
                plain = run(
                    plain_cmd("plain_ingest.py", api.url, api.ledger_key, args.shards, plain_lake),
                    env,
                )
                fixed = run(
                    plain_cmd(
                        "plain_ingest_fixed.py", api.url, api.ledger_key, args.shards, fixed_lake
                    ),
                    env,
                )
                flow = run(
                    [
                        sys.executable,
                        str(HERE / "flow_ingest.py"),
                        "--day",
                        DAY,
                        "--shards",
                        str(args.shards),
                    ],
                    env,
                )
                assert plain[1] == fixed[1] == flow[1] == rows, (plain, fixed, flow, rows)
                assert lake_rows(plain_lake) == lake_rows(fixed_lake) == rows
                assert lake_rows(flow_lake) == rows
                time_ratio, mem_ratio = flow[0] / plain[0], flow[2] / plain[2]
                results.append(
                    {
                        "rows": rows,
                        "plain_s": round(plain[0], 2),
                        "plain_fixed_s": round(fixed[0], 2),
                        "flow_s": round(flow[0], 2),
                        "plain_peak_mb": plain[2] // 1024,
                        "plain_fixed_peak_mb": fixed[2] // 1024,
                        "flow_peak_mb": flow[2] // 1024,
                        "time_ratio": round(time_ratio, 2),
                        "memory_ratio": round(mem_ratio, 2),
                        "time_ratio_fixed": round(flow[0] / fixed[0], 2),
                        "memory_ratio_fixed": round(flow[2] / fixed[2], 2),
                        "load_average": [round(x, 2) for x in os.getloadavg()],
                    }
                )
                print(
                    f"{rows:>9} rows  plain {plain[0]:6.1f}s {plain[2] // 1024:5d} MB   "
                    f"plain fixed {fixed[0]:6.1f}s {fixed[2] // 1024:5d} MB   "
                    f"flow {flow[0]:6.1f}s {flow[2] // 1024:5d} MB   "
                    f"ratios to plain: time {time_ratio:.2f} memory {mem_ratio:.2f}; "
                    f"to plain fixed: time {flow[0] / fixed[0]:.2f} memory {flow[2] / fixed[2]:.2f}"
                    f"   (load average {os.getloadavg()[0]:.2f})",
                    flush=True,
                )
    out = HERE / "results" / f"ingest-prefect{major}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "prefect": prefect.__version__,
                "cpus": os.cpu_count(),
                "memory_gib": round(
                    os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
                ),
                "python": platform.python_version(),
                "results": results,
            },
            indent=2,
        )
    )
    missed = []
    for r in sorted(results, key=lambda r: r["rows"]):
        if r["flow_peak_mb"] > args.max_peak_mb:
            missed.append(f"{r['rows']} rows: flow peak {r['flow_peak_mb']} MB")
        if r["rows"] == args.time_target_rows and r["time_ratio"] > 1.0:
            missed.append(f"{r['rows']} rows: time ratio {r['time_ratio']:.2f}")
        print(
            f"ingest {r['rows']} rows: time ratio {r['time_ratio']:.2f}, "
            f"memory ratio {r['memory_ratio']:.2f}, flow peak {r['flow_peak_mb']} MB"
        )
    if missed and args.enforce:
        sys.exit(f"targets missed: {'; '.join(missed)}")


if __name__ == "__main__":
    main()
