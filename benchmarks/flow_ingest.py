"""The contender: finance/transactions_daily as a real flow run reporting to a Prefect server.

Settings come from the environment the benchmark sets (PREFECT_API_URL, LAKE_DEV_ROOT,
LEDGER_API_*). Prints its own peak RSS as the last line: ``peak_rss_kb N``.
"""

import argparse
import resource
from datetime import date

from flows.finance.transactions_daily import transactions_daily


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--day", required=True)
    parser.add_argument("--shards", type=int, default=8)
    args = parser.parse_args()
    result = transactions_daily(
        target_env="dev", day=date.fromisoformat(args.day), shards=args.shards
    )
    print(f"rows {result['rows']}")
    print(f"peak_rss_kb {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}")


if __name__ == "__main__":
    main()
