"""The few places where Prefect 2.20 and 3.x (or their type stubs) differ, in one module.

Flows and tasks never branch on the Prefect version; they call these helpers instead.
"""

from __future__ import annotations

from typing import Any

import prefect

PREFECT_MAJOR = int(prefect.__version__.split(".", 1)[0])


def fixed(value: Any) -> Any:
    """Mark a ``.map()`` argument as not mapped (``prefect.unmapped``), typed for both lines."""
    from prefect import unmapped

    return unmapped(value)  # type: ignore[call-arg,misc,unused-ignore]


def load_block(block_cls: Any, name: str) -> Any:
    """Load a block by name synchronously (2.x types ``load`` as a coroutine; it is sync here)."""
    return block_cls.load(name)
