"""Bundled local HTTP server with deterministic data for the ``shop`` and ``ledger`` APIs.

The contract it implements is ``docs/sources.md``. Run it with
``python -m devtools.sample_api --port 8765``, or from Python::

    from devtools.sample_api import SampleApi

    with SampleApi.start_in_thread(transactions_per_day=1000) as api:
        ...  # api.url, api.shop_token, api.ledger_key, api.inject_fault(...), api.stats()
"""

from devtools.sample_api.config import (
    DEFAULT_LEDGER_KEY,
    DEFAULT_ORDERS_PER_HOUR,
    DEFAULT_PRODUCTS,
    DEFAULT_SHOP_TOKEN,
    DEFAULT_TRANSACTIONS_PER_DAY,
    SampleApiConfig,
)
from devtools.sample_api.faults import Fault, FaultMode, FaultRegistry, parse_fault_spec
from devtools.sample_api.harness import SampleApi
from devtools.sample_api.server import SampleApiServer, serve

__all__ = [
    "DEFAULT_LEDGER_KEY",
    "DEFAULT_ORDERS_PER_HOUR",
    "DEFAULT_PRODUCTS",
    "DEFAULT_SHOP_TOKEN",
    "DEFAULT_TRANSACTIONS_PER_DAY",
    "Fault",
    "FaultMode",
    "FaultRegistry",
    "SampleApi",
    "SampleApiConfig",
    "SampleApiServer",
    "parse_fault_spec",
    "serve",
]
