"""The ``ledger`` API's contract (docs/sources.md): API-key header, settings ``LEDGER_API_*``."""

from flowlib.http import SourceSpec

LEDGER = SourceSpec(name="ledger", auth="header", auth_header="X-API-Key")
