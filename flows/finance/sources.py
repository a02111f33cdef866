"""The ``ledger`` API's contract (docs/sources.md): API-key header, settings ``LEDGER_API_*``.

At most 4 requests in flight from all flow runs together (the global concurrency limit
``flowlib-source:ledger``, created by ``flowctl limits sync``).
"""

from flowlib.http import SourceSpec

LEDGER = SourceSpec(name="ledger", auth="header", auth_header="X-API-Key", global_concurrency=4)
