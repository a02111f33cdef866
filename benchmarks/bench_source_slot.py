"""What a slot of a source's server-side limit costs per request (docs/sources.md, "Limits").

A fresh Prefect server (its limits synced from the contracts) and the sample API; one
``SourceClient`` GETs a one-row page N times with ``FLOWLIB_SOURCE_LIMITS=local`` (the in-run
baseline: this process's limit only), then with ``server`` (plus one increment and one
decrement on the Prefect server per request), alternating twice. Ends with
``source slot: N requests, local X ms, server Y ms per request (median), overhead Z ms``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

from devtools.sample_api import SampleApi
from devtools.services import prefect_server


def main() -> None:
    """Measure and print the per-request overhead."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    with prefect_server() as server, SampleApi.start_subprocess(port=0) as api:
        from prefect.settings import PREFECT_API_URL, temporary_settings

        os.environ.update(SHOP_API_URL=api.url, SHOP_API_TOKEN=api.shop_token)
        with temporary_settings(updates={PREFECT_API_URL: server.api_url}):
            from flowlib.http import SourceClient
            from flows.sales.sources import SHOP

            times: dict[str, list[float]] = {"local": [], "server": []}
            query = {"as_of": "2026-11-24", "page_size": 1}
            for mode in ("local", "server", "local", "server"):
                os.environ["FLOWLIB_SOURCE_LIMITS"] = mode
                with SourceClient.from_settings(SHOP) as client:
                    client.get_json("/shop/v1/products", query, "warm-up")
                    for n in range(args.requests):
                        started = time.perf_counter()
                        client.get_json("/shop/v1/products", query, f"page {n}")
                        times[mode].append(time.perf_counter() - started)
    local, remote = (statistics.median(times[m]) * 1000 for m in ("local", "server"))
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(
        f"source slot: {2 * args.requests} requests, local {local:.1f} ms, server {remote:.1f} ms "
        f"per request (median), overhead {remote - local:.1f} ms"
    )


if __name__ == "__main__":
    main()
