"""The ``shop`` API's contract (docs/sources.md): bearer token, settings prefix ``SHOP_API_``."""

from flowlib.http import SourceSpec

SHOP = SourceSpec(name="shop", auth="bearer")
