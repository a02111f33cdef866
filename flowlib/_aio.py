"""Run the Prefect client's coroutines from sync code: ``flowctl``, hooks, sync flows.

``asyncio.run`` in the calling thread when no event loop runs there (a CLI, a sync flow's thread,
the thread Prefect runs a sync hook in); otherwise in a fresh thread, so a caller inside an event
loop does not deadlock.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")


def run_sync(fn: Callable[[], Awaitable[T]]) -> T:
    """Run ``fn()`` (a coroutine function without arguments) to completion and return its value."""

    async def main() -> T:
        return await fn()

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(main())
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="flowlib-sync") as pool:
        return pool.submit(asyncio.run, main()).result()
