"""The ``shop`` API's contract (docs/sources.md): bearer token, settings prefix ``SHOP_API_``.

At most 2 requests in flight from all flow runs together (the global concurrency limit
``flowlib-source:shop``, created by ``flowctl limits sync``).
"""

from flowlib.http import SourceSpec

SHOP = SourceSpec(name="shop", auth="bearer", global_concurrency=2)
