"""The baseline: the same extraction as finance/transactions_daily, as a plain script.

httpx + orjson + pyarrow, no Prefect and no flowlib: fetch every page of every shard and stream
it into one Parquet file per shard, written aside and renamed (the same files the flow writes).
Prints its own peak RSS as the last line: ``peak_rss_kb N``.
"""

import argparse
import os
import resource
from datetime import UTC, datetime

import httpx
import orjson
import pyarrow as pa
import pyarrow.parquet as pq

SCHEMA = pa.schema(
    [
        ("txn_id", pa.int64()),
        ("account_id", pa.int64()),
        ("booked_at", pa.string()),
        ("amount", pa.float64()),
        ("currency", pa.string()),
        ("counterparty", pa.string()),
        ("category", pa.string()),
    ]
)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--day", required=True)
    parser.add_argument("--shards", type=int, default=8)
    parser.add_argument("--page-size", type=int, default=50_000)
    parser.add_argument("--lake", required=True, help="a local folder")
    args = parser.parse_args()
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    folder = os.path.join(args.lake, "finance/ledger/transactions", args.day.replace("-", "/"))
    os.makedirs(folder, exist_ok=True)
    rows = 0
    with httpx.Client(base_url=args.url, headers={"X-API-Key": args.key}, timeout=120) as client:
        for shard in range(args.shards):
            final = os.path.join(folder, f"transactions-part-{shard:02d}_{stamp}.parquet")
            aside = final + ".tmp"
            with pq.ParquetWriter(aside, SCHEMA, compression="snappy") as writer:
                page = 1
                while True:
                    response = client.get(
                        "/ledger/v1/transactions",
                        params={
                            "date": args.day,
                            "shard": shard,
                            "shards": args.shards,
                            "page": page,
                            "page_size": args.page_size,
                        },
                    )
                    response.raise_for_status()
                    body = orjson.loads(response.content)
                    records = body["data"]
                    if records:
                        columns = {n: [r.get(n) for r in records] for n in SCHEMA.names}
                        writer.write_batch(pa.RecordBatch.from_pydict(columns, schema=SCHEMA))
                        rows += len(records)
                    if page >= body["total_pages"] or not records:
                        break
                    page += 1
            os.replace(aside, final)
    print(f"rows {rows}")
    print(f"peak_rss_kb {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}")


if __name__ == "__main__":
    main()
