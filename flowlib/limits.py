"""Server-side limits: Prefect global concurrency limits that hold across runs and processes.

A limit on the Prefect server holds for every flow run that asks for it, wherever it runs (two
pods, a backfill beside a scheduled run, a Late run beside the next one): what a lock or a
counter inside one process cannot do. Prefect 2.20 and 3.x share
``prefect.concurrency.sync.concurrency(names, occupy, timeout_seconds)``; a limit that does not
exist limits nothing there, so :func:`ensure_limit` creates it first.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

from flowlib import compat
from flowlib._aio import run_sync

RUN_LOCK_PREFIX = "flowlib-run"
COMMIT_LOCK_PREFIX = "flowlib-prod-commit"


class LimitTimeoutError(TimeoutError):
    """The slot was not free in time; the message names the limit and what holds it."""


def ensure_limit(name: str, limit: int) -> None:
    """Create the global concurrency limit ``name`` with ``limit`` slots unless it exists."""
    from prefect import get_client
    from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate

    async def create() -> None:
        async with get_client() as client:
            try:
                await client.create_global_concurrency_limit(
                    GlobalConcurrencyLimitCreate(name=name, limit=limit, active=True)  # type: ignore[arg-type,unused-ignore]
                )
            except Exception as exc:  # an existing limit is what we want
                if compat.http_status(exc) != 409:
                    raise

    run_sync(create)


def run_lock_name(flow_name: str, target_env: str) -> str:
    """The limit that lets one run of a flow write one lake at a time."""
    return f"{RUN_LOCK_PREFIX}:{flow_name}:{target_env}"


@contextmanager
def one_run_at_a_time(flow_name: str, target_env: str, timeout_seconds: float) -> Iterator[None]:
    """Hold the flow's run lock for ``target_env`` (a limit of 1 slot on the server).

    A second run of the flow against the same lake waits here until the first is done, then
    sees what the first wrote (its watermark): two runs never load the same rows twice.

    Raises:
        LimitTimeoutError: Another run held the lock for longer than ``timeout_seconds``.
    """
    from prefect.concurrency.sync import concurrency

    name = run_lock_name(flow_name, target_env)
    ensure_limit(name, 1)
    held = ExitStack()
    try:
        held.enter_context(concurrency(name, occupy=1, timeout_seconds=timeout_seconds))
    except TimeoutError as exc:
        raise LimitTimeoutError(
            f"another run of {flow_name} into the {target_env} lake held the global concurrency "
            f"limit {name!r} for more than {timeout_seconds:.0f} s; this run loaded nothing. "
            "Check the other run (prefect flow-run ls --state Running), then re-run this one."
        ) from exc
    with held:
        yield


def commit_lock_name(project: str, flow: str) -> str:
    """The limit a flow's prod commits and its fail-back share (one of them at a time)."""
    return f"{COMMIT_LOCK_PREFIX}:{project}:{flow}"


def free_limit(name: str) -> None:
    """Set the limit's occupied slots to 0 (a holder that died cannot release its slot)."""
    from prefect import get_client
    from prefect.client.schemas.actions import GlobalConcurrencyLimitUpdate

    async def free() -> None:
        async with get_client() as client:
            await client.update_global_concurrency_limit(
                name,
                GlobalConcurrencyLimitUpdate(active_slots=0),  # type: ignore[arg-type,call-arg,unused-ignore]
            )

    run_sync(free)


@contextmanager
def exclusive(name: str, timeout_seconds: float, take_over: bool = False) -> Iterator[None]:
    """Hold the one slot of the limit ``name`` (created with 1 slot if missing).

    ``take_over``: when the slot stays taken for ``timeout_seconds``, its holder is taken for
    dead (a killed process never releases its slot): free it and take it. Otherwise wait no
    longer and raise.

    Raises:
        LimitTimeoutError: The slot was not free within ``timeout_seconds`` (and not taken over).
    """
    from prefect.concurrency.sync import concurrency

    ensure_limit(name, 1)
    held = ExitStack()
    try:
        held.enter_context(concurrency(name, occupy=1, timeout_seconds=timeout_seconds))
    except TimeoutError as exc:
        if not take_over:
            raise LimitTimeoutError(
                f"the global concurrency limit {name!r} stayed taken for more than "
                f"{timeout_seconds:.0f} s; retry later, or free it if its holder died "
                f"(`prefect gcl update {name} --active-slots 0`)."
            ) from exc
        free_limit(name)
        held.enter_context(concurrency(name, occupy=1, timeout_seconds=timeout_seconds))
    with held:
        yield
