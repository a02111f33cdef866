"""bench-ingest: the high-volume flow against a plain script, same data, same lake, same run.

For each volume, the sample API serves that many transactions for one day; the plain script
(httpx + pyarrow, no Prefect) and the flow (a real run against a local Prefect server) each load
the day into their own local lake folder, in separate processes. Wall time is measured from the
parent (interpreter start to exit); peak memory is each process's own max RSS. Both lakes must
hold the same rows. Results go to benchmarks/results/ingest-prefect<major>.json.
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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 5_000_000])
    parser.add_argument("--shards", type=int, default=8)
    args = parser.parse_args()
    major = prefect.__version__.split(".")[0]
    results = []
    with prefect_server() as server:
        for rows in args.rows:
            with (
                SampleApi.start_subprocess(port=0, transactions_per_day=rows) as api,
                tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp,
            ):
                plain_lake, flow_lake = Path(tmp, "plain"), Path(tmp, "flow")
                env = server.env()
                env.update(
                    LEDGER_API_URL=api.url,
                    LEDGER_API_TOKEN=api.ledger_key,
                    LAKE_DEV_ROOT=flow_lake.as_uri() + "/",
                    PREFECT_LOGGING_LEVEL="WARNING",
                )
                plain = run(
                    [
                        sys.executable,
                        str(HERE / "plain_ingest.py"),
                        "--url",
                        api.url,
                        "--key",
                        api.ledger_key,
                        "--day",
                        DAY,
                        "--shards",
                        str(args.shards),
                        "--lake",
                        str(plain_lake),
                    ],
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
                assert plain[1] == flow[1] == rows, (plain, flow, rows)
                assert lake_rows(plain_lake) == lake_rows(flow_lake) == rows
                time_ratio, mem_ratio = flow[0] / plain[0], flow[2] / plain[2]
                results.append(
                    {
                        "rows": rows,
                        "plain_s": round(plain[0], 2),
                        "flow_s": round(flow[0], 2),
                        "plain_peak_mb": plain[2] // 1024,
                        "flow_peak_mb": flow[2] // 1024,
                        "time_ratio": round(time_ratio, 2),
                        "memory_ratio": round(mem_ratio, 2),
                    }
                )
                print(
                    f"{rows:>9} rows  plain {plain[0]:6.1f}s {plain[2] // 1024:5d} MB   "
                    f"flow {flow[0]:6.1f}s {flow[2] // 1024:5d} MB   "
                    f"ratios time {time_ratio:.2f} memory {mem_ratio:.2f}",
                    flush=True,
                )
    out = HERE / "results" / f"ingest-prefect{major}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "prefect": prefect.__version__,
                "cpus": os.cpu_count(),
                "python": platform.python_version(),
                "results": results,
            },
            indent=2,
        )
    )
    last = results[-1]
    print(
        f"ingest {last['rows']} rows: time ratio {last['time_ratio']:.2f}, "
        f"memory ratio {last['memory_ratio']:.2f}"
    )


if __name__ == "__main__":
    main()
