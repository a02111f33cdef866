"""bench-validate: ``flowctl validate`` against datacompy on a pair of large Parquet files.

Generates (fixed seed, in a temp dir) a prod and a dev lake each holding one Parquet file of
``--rows`` rows (default 5 000 000) and 6 columns; the dev file has one changed value and one new
column, and a different run timestamp in its name and different row-group sizes. Then runs, each in
its own subprocess so wall time and peak RSS (``os.wait4`` rusage of that child) are its own:

* ``flowctl startup``: ``flowctl --help`` (interpreter and imports; informational);
* ``floor``: read both files with ``pyarrow.parquet.read_table`` (the least any tool must do);
* ``flowctl --key id``: ``flowctl validate --key id --json ...`` (rows matched by key);
* ``flowctl positional``: the same without ``--key`` (informational);
* ``flowctl --key id, dev shuffled``: the dev rows in random order, so the keyed comparison
  must hash-partition (informational; ``--no-shuffled`` skips it);
* ``datacompy``: ``pandas.read_parquet`` both, ``datacompy.PandasCompare(join_columns="id")``,
  ``matches()`` and ``all_mismatch()`` (to find the differing row).

Then a *day* (``--no-day`` skips it): 24 hourly files of ``--day-rows`` rows (default 200 000) on
each side, the dev stamps staggered 38 minutes from the prod ones, one changed value in the 14th
slot; ``flowctl validate --key id`` (every slot paired and compared) against datacompy comparing
the 24 pairs one after the other in one process.

Checks that both tools give the same verdict (differences found) and find the changed row; prints
the ratios; the last line is ``validate N rows: time ratio X.XX (flowctl/datacompy), memory ratio
Y.YY``. Exit code 1 when a verdict is wrong, or (with ``--enforce``) when a target is missed:
time ratio <= 1/3, memory ratio <= 1/4.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SEED = 20261125
CHUNK = 500_000
PROD_NAME = "events_20260101T020000.parquet"
DEV_NAME = "events_20260101T023000.parquet"
DATASET = "bench/src/events/2026/01/01"
CATEGORIES = ["books", "games", "garden", "kitchen", "music", "sports", "tools", "toys"]

DATACOMPY_CHILD = r"""
import json, sys
import datacompy
import pandas as pd

prod = pd.read_parquet(sys.argv[1])
dev = pd.read_parquet(sys.argv[2])
compare = datacompy.PandasCompare(prod, dev, join_columns="id", abs_tol=0, rel_tol=0)
matches = compare.matches()
differing = compare.all_mismatch()
ids = sorted(int(i) for i in differing["id"].head(100))
print(json.dumps({"matches": bool(matches), "ids": ids, "count": int(len(differing))}))
"""

DATACOMPY_DAY_CHILD = r"""
import json, sys
from pathlib import Path
import datacompy
import pandas as pd

prod = sorted(Path(sys.argv[1]).glob("*.parquet"))
dev = sorted(Path(sys.argv[2]).glob("*.parquet"))
failing = []
for p, d in zip(prod, dev, strict=True):
    compare = datacompy.PandasCompare(
        pd.read_parquet(p), pd.read_parquet(d), join_columns="id", abs_tol=0, rel_tol=0
    )
    if not compare.matches():
        failing.append([p.name, sorted(int(i) for i in compare.all_mismatch()["id"].head(10))])
print(json.dumps({"failing": failing}))
"""

DAY_DATASET = "bench/src/orders/2026/01/01"
DAY_CHANGED_HOUR = 13

FLOOR_CHILD = r"""
import sys
import pyarrow.parquet as pq

rows = sum(pq.read_table(path).num_rows for path in sys.argv[1:])
print(rows)
"""


def changed_row(rows: int) -> int:
    """The row whose ``amount`` differs in dev (its id is row + 1)."""
    return int(rows * 0.6283) if rows > 10 else rows - 1


def _chunk(rng, start, n):
    import numpy as np
    import pyarrow as pa

    categories = np.array(CATEGORIES)
    ids = np.arange(start + 1, start + n + 1, dtype=np.int64)
    return pa.table(
        {
            "id": ids,
            "customer_id": rng.integers(1, 200_000, n, dtype=np.int64),
            "amount": np.round(rng.gamma(2.0, 35.0, n), 2),
            "category": pa.array(categories[rng.integers(0, len(categories), n)]),
            "sku": pa.array(np.char.add("SKU-", rng.integers(0, 50_000, n).astype(str))),
            "created_at": pa.array(
                (1_767_225_600 + ids * 3).astype("datetime64[s]").astype("datetime64[us]")
            ),
        }
    )


def generate(root: Path, rows: int) -> tuple[Path, Path]:
    """Write the prod and dev files; returns their paths."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    prod_path = root / "prod" / DATASET / PROD_NAME
    dev_path = root / "dev" / DATASET / DEV_NAME
    for path in (prod_path, dev_path):
        path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(SEED)
    target = changed_row(rows)
    schema = _chunk(np.random.default_rng(0), 0, 1).schema
    dev_schema = schema.append(pa.field("channel", pa.string()))
    with (
        pq.ParquetWriter(prod_path, schema) as prod_writer,
        pq.ParquetWriter(dev_path, dev_schema) as dev_writer,
    ):
        for start in range(0, rows, CHUNK):
            n = min(CHUNK, rows - start)
            table = _chunk(rng, start, n)
            prod_writer.write_table(table, row_group_size=CHUNK // 2)
            dev = table
            if start <= target < start + n:
                amounts = table.column("amount").to_numpy().copy()
                amounts[target - start] += 1.0
                dev = dev.set_column(2, "amount", pa.array(amounts))
            channel = pa.array(np.where(np.arange(n) % 3 == 0, "web", "store"))
            dev_writer.write_table(dev.append_column("channel", channel), row_group_size=CHUNK)
    return prod_path, dev_path


def generate_day(root: Path, rows: int) -> None:
    """24 hourly files per side; dev stamps at :43 instead of :05; one changed value at 13:00."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(SEED)
    for side in ("prod", "dev"):
        (root / side / DAY_DATASET).mkdir(parents=True, exist_ok=True)
    for hour in range(24):
        table = _chunk(rng, hour * rows, rows)
        pq.write_table(
            table, root / "prod" / DAY_DATASET / f"orders_20260101T{hour:02d}0500.parquet"
        )
        if hour == DAY_CHANGED_HOUR:
            amounts = table.column("amount").to_numpy().copy()
            amounts[rows // 2] += 1.0
            table = table.set_column(2, "amount", pa.array(amounts))
        pq.write_table(
            table, root / "dev" / DAY_DATASET / f"orders_20260101T{hour:02d}4300.parquet"
        )


def run_day(rows: int, workdir: Path | None) -> list[str]:
    """The day of 24 hourly files: flowctl against datacompy; returns problems."""
    print(f"bench-validate day: 24 hourly files x {rows} rows per side")
    problems = []
    with tempfile.TemporaryDirectory(prefix="bench-validate-day-", dir=workdir) as tmp:
        root = Path(tmp)
        script = [sys.executable, __file__, "--day-rows", str(rows), "--generate-day", str(root)]
        subprocess.run(script, check=True)
        report_path = root / "report.json"
        prod_url, dev_url = (root / "prod").as_uri() + "/", (root / "dev").as_uri() + "/"
        keyed = run(
            [flowctl(), "validate", "--prod", prod_url, "--dev", dev_url, "--quiet", "--key", "id",
             "--no-rules", "--json", str(report_path)],
            "flowctl --key id (day)",
        )  # fmt: skip
        report = json.loads(report_path.read_text())
        dc = run(
            [sys.executable, "-c", DATACOMPY_DAY_CHILD, str(root / "prod" / DAY_DATASET),
             str(root / "dev" / DAY_DATASET)],
            "datacompy (24 pairs)",
        )  # fmt: skip
    slots = report.get("slots", [])
    failing = [s["slot"] for s in slots if s["status"] != "pass"]
    if (
        keyed["code"] != 1
        or len(slots) != 24
        or failing != [f"20260101T{DAY_CHANGED_HOUR:02d}0500"]
    ):
        problems.append(f"flowctl day: exit {keyed['code']}, {len(slots)} slots, failing {failing}")
    dc_failing = json.loads(dc["out"])["failing"] if dc["code"] == 0 else None
    if not dc_failing or len(dc_failing) != 1:
        problems.append(f"datacompy day: {dc_failing or dc['err']}")
    print(
        f"validate a day of 24 x {rows} rows: time ratio "
        f"{float(keyed['wall']) / float(dc['wall']):.2f} (flowctl/datacompy), memory ratio "
        f"{float(keyed['peak']) / float(dc['peak']):.2f}; slots compared {len(slots)}, "
        f"failing {failing}"
    )
    return problems


def shuffle(dev_path: Path, target: Path) -> None:
    """Write the dev file's rows in a random (seeded) order."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    target.parent.mkdir(parents=True, exist_ok=True)
    table = pq.read_table(dev_path)
    order = np.random.default_rng(SEED + 1).permutation(table.num_rows)
    pq.write_table(table.take(pa.array(order)), target, row_group_size=CHUNK)


def run(cmd: list[str], label: str) -> dict[str, object]:
    """Run a child process; return its wall time, peak RSS, exit code and output."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(), err.read().decode()
    peak = usage.ru_maxrss * 1024  # kilobytes on Linux
    print(f"  {label:<24} {wall:8.2f} s  {peak / 2**20:8.0f} MiB  exit {proc.returncode}")
    return {"wall": wall, "peak": peak, "code": proc.returncode, "out": stdout, "err": stderr}


def flowctl() -> str:
    path = Path(sys.executable).parent / "flowctl"
    if not path.exists():
        sys.exit(f"{path} is missing: run `pip install -e . --no-deps` (make setup)")
    return str(path)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--workdir", type=Path, default=None, help="keep the files here")
    parser.add_argument("--enforce", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument("--no-shuffled", dest="shuffled", action="store_false")
    parser.add_argument("--generate", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--shuffle", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--day-rows", type=int, default=200_000, help="rows per hourly file")
    parser.add_argument("--no-day", dest="day", action="store_false", help="skip the day")
    parser.add_argument("--only-day", action="store_true", help="run the day only")
    parser.add_argument("--generate-day", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    rows = args.rows
    if args.generate_day:
        generate_day(args.generate_day, args.day_rows)
        return 0
    if args.only_day:
        day_problems = run_day(args.day_rows, args.workdir)
        for problem in day_problems:
            print(f"  problem: {problem}")
        return 1 if day_problems else 0
    if args.generate and args.shuffle:
        dataset = args.generate / "dev" / DATASET / DEV_NAME
        shuffle(dataset, args.generate / "dev-shuffled" / DATASET / DEV_NAME)
        return 0
    if args.generate:
        generate(args.generate, rows)
        return 0
    target_id = changed_row(rows) + 1
    print(
        f"bench-validate: {rows} rows x 6 columns; machine: {os.cpu_count()} CPUs, "
        f"{_memory_gib():.0f} GiB RAM, {platform.python_implementation()} "
        f"{platform.python_version()}; load average {os.getloadavg()[0]:.1f}"
    )
    with tempfile.TemporaryDirectory(prefix="bench-validate-", dir=args.workdir) as tmp:
        root = Path(tmp)
        start = time.perf_counter()
        # in a child: a child's ru_maxrss includes the RSS of the parent it was forked from,
        # so this process stays small (no numpy/pyarrow) and the measurements stay clean
        script = [sys.executable, __file__, "--rows", str(rows), "--generate", str(root)]
        subprocess.run(script, check=True)
        prod_path = root / "prod" / DATASET / PROD_NAME
        dev_path = root / "dev" / DATASET / DEV_NAME
        size = (prod_path.stat().st_size + dev_path.stat().st_size) / 2**20
        print(f"  generated in {time.perf_counter() - start:.1f} s ({size:.0f} MiB of Parquet)")
        prod_url, dev_url = (root / "prod").as_uri() + "/", (root / "dev").as_uri() + "/"
        report_path = root / "report.json"
        base = [flowctl(), "validate", "--prod", prod_url, "--dev", dev_url, "--quiet"]
        startup = run([flowctl(), "--help"], "flowctl startup")
        floor = run([sys.executable, "-c", FLOOR_CHILD, str(prod_path), str(dev_path)], "floor")
        keyed = run([*base, "--key", "id", "--json", str(report_path)], "flowctl --key id")
        keyed_report = json.loads(report_path.read_text())
        positional = run([*base, "--json", str(report_path)], "flowctl positional")
        positional_report = json.loads(report_path.read_text())
        shuffled: dict[str, object] | None = None
        if args.shuffled:
            subprocess.run([*script, "--shuffle"], check=True)
            shuffled_url = (root / "dev-shuffled").as_uri() + "/"
            shuffled_cmd = [*base[:4], "--dev", shuffled_url, "--quiet", "--key", "id"]
            shuffled = run([*shuffled_cmd, "--json", str(report_path)], "flowctl --key, shuffled")
            shuffled_report = json.loads(report_path.read_text())
        dc_cmd = [sys.executable, "-c", DATACOMPY_CHILD, str(prod_path), str(dev_path)]
        dc = run(dc_cmd, "datacompy")
    problems = []
    dc_result = json.loads(dc["out"]) if dc["code"] == 0 else {}
    if dc["code"] != 0:
        problems.append(f"datacompy failed: {str(dc['err'])[-500:]}")
    elif dc_result["matches"] or target_id not in dc_result["ids"]:
        problems.append(f"datacompy did not find id {target_id}: {dc_result}")
    checks = [
        ("flowctl --key id", keyed, keyed_report, {"key": target_id}),
        ("flowctl positional", positional, positional_report, {"row": target_id - 1}),
    ]
    if shuffled is not None:
        checks.append(("flowctl shuffled", shuffled, shuffled_report, {"key": target_id}))
    for label, result, report, expect in checks:
        pair = report["pairs"][0] if report["pairs"] else {}
        found = [m for m in pair.get("mismatches", []) if all(m[k] == v for k, v in expect.items())]
        ok = (
            result["code"] == 1
            and not report["passed"]
            and pair.get("mismatch_count") == 1
            and pair.get("new_columns") == ["channel"]
            and found
            and found[0]["column"] == "amount"
        )
        if not ok:
            problems.append(f"{label}: wrong verdict or row: exit {result['code']}, {pair}")
    time_ratio = float(keyed["wall"]) / float(dc["wall"])
    memory_ratio = float(keyed["peak"]) / float(dc["peak"])
    print(
        f"  flowctl startup (imports, --help): {float(startup['wall']):.2f} s, "
        f"{float(startup['peak']) / 2**20:.0f} MiB"
    )
    print(
        f"  floor share of flowctl --key id: {float(floor['wall']) / float(keyed['wall']):.0%}; "
        f"positional: {float(positional['wall']):.2f} s, "
        f"{float(positional['peak']) / 2**20:.0f} MiB"
        + (
            f"; shuffled dev, keyed: {float(shuffled['wall']):.2f} s, "
            f"{float(shuffled['peak']) / 2**20:.0f} MiB"
            if shuffled is not None
            else ""
        )
    )
    met_time, met_memory = time_ratio <= 1 / 3, memory_ratio <= 1 / 4
    print(
        f"  targets: time <= 0.33 {'met' if met_time else 'MISSED'}, "
        f"memory <= 0.25 {'met' if met_memory else 'MISSED'}; "
        f"same verdict and differing row (id {target_id}) found: {'yes' if not problems else 'NO'}"
    )
    if args.day:
        problems += run_day(args.day_rows, args.workdir)
    for problem in problems:
        print(f"  problem: {problem}")
    print(
        f"validate {rows} rows: time ratio {time_ratio:.2f} (flowctl/datacompy), "
        f"memory ratio {memory_ratio:.2f}"
    )
    if problems or (args.enforce and not (met_time and met_memory)):
        return 1
    return 0


def _memory_gib() -> float:
    return float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")) / 2**30


if __name__ == "__main__":
    sys.exit(main())
