"""Server-side limits: Prefect global concurrency limits that hold across runs and processes.

A limit on the Prefect server holds for every flow run that asks for it, wherever it runs (two
pods, a backfill beside a scheduled run, a Late run beside the next one): what a lock or a
counter inside one process cannot do. Prefect 2.20 and 3.x share
``prefect.concurrency.sync.concurrency(names, occupy, timeout_seconds)``; a limit that does not
exist limits nothing there (2.20 even creates it, inactive; 3.x warns unless ``strict``), so the
run lock creates its limit first (:func:`ensure_limit`), and a source's slot
(:func:`source_slot`) refuses to run without its limit, which ``flowctl limits sync`` creates from
the source's contract.

Three kinds of limits:

- ``flowlib-run:<flow>:<target_env>`` (1 slot): one run of a flow writes one lake at a time;
- ``flowlib-source:<source>`` (the contract's ``global_concurrency``): every request of every
  flow run to that source API holds a slot while it is in flight (docs/sources.md, "Limits");
- ``flowlib-prod-commit:<project>:<flow>`` (1 slot, :func:`exclusive`): a migration flow's prod
  commit (ownership check and publish) or its fail-back's flip, one at a time
  (docs/cutover.md, "the commit lock").
"""

from __future__ import annotations

import asyncio
import os
import random
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any, Literal

from flowlib import compat
from flowlib._aio import run_sync

RUN_LOCK_PREFIX = "flowlib-run"
COMMIT_LOCK_PREFIX = "flowlib-prod-commit"
SOURCE_LIMIT_PREFIX = "flowlib-source"
SOURCE_LIMITS_VAR = "FLOWLIB_SOURCE_LIMITS"
SourceLimitMode = Literal["server", "local"]


class LimitTimeoutError(TimeoutError):
    """The slot was not free in time; the message names the limit and what holds it."""


class SourceLimitError(RuntimeError):
    """A source's server-side limit cannot be used: the message names the server and the fix."""


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
    name = run_lock_name(flow_name, target_env)
    busy = (
        f"another run of {flow_name} into the {target_env} lake held the global concurrency "
        f"limit {name!r} for more than {timeout_seconds:.0f} s; this run loaded nothing. "
        "Check the other run (prefect flow-run ls --state Running), then re-run this one."
    )
    with exclusive(name, timeout_seconds, busy=busy):
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
def exclusive(
    name: str, timeout_seconds: float, take_over: bool = False, busy: str | None = None
) -> Iterator[None]:
    """Hold the one slot of the limit ``name`` (created with 1 slot if missing).

    ``take_over``: when the slot stays taken for ``timeout_seconds``, its holder is taken for
    dead (a killed process never releases its slot): free it and take it. Otherwise wait no
    longer and raise, with ``busy`` as the message when given.

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
                busy
                or f"the global concurrency limit {name!r} stayed taken for more than "
                f"{timeout_seconds:.0f} s; retry later, or free it if its holder died "
                f"(`prefect gcl update {name} --active-slots 0`)."
            ) from exc
        free_limit(name)
        held.enter_context(concurrency(name, occupy=1, timeout_seconds=timeout_seconds))
    with held:
        yield


# --- source limits: one slot per request to a source API, across every run ----------------


def source_limit_name(source: str) -> str:
    """The global concurrency limit of a source API: ``flowlib-source:<source>``."""
    return f"{SOURCE_LIMIT_PREFIX}:{source}"


def api_url() -> str | None:
    """The Prefect API this process reports to (``PREFECT_API_URL``); ``None``: ephemeral."""
    from prefect.settings import PREFECT_API_URL

    return PREFECT_API_URL.value() or None


def source_limit_mode() -> SourceLimitMode:
    """Where a source's limit holds: ``server`` (every run) or ``local`` (this process).

    ``FLOWLIB_SOURCE_LIMITS``, else ``server`` when a Prefect API is configured and ``local`` when
    none is (a laptop run on the ephemeral API, which no other run shares: only this process's
    limit applies then).
    """
    value = os.environ.get(SOURCE_LIMITS_VAR, "").strip().lower()
    if value in ("server", "local"):
        return value  # type: ignore[return-value]
    if value:
        raise SourceLimitError(
            f"{SOURCE_LIMITS_VAR}={value!r}: use 'server' (the Prefect global concurrency limit "
            "of each source, the default with a Prefect API) or 'local' (this process's limit only)"
        )
    return "server" if api_url() else "local"


class _SlotClient:
    """One Prefect client per process and API, on its own event loop thread, for every slot.

    ``prefect.concurrency.sync.concurrency`` opens a new client for each release on 2.20 (and
    starts a lease renewal task per acquisition on 3.x): about half a second per request on this
    machine. A request to a source takes its slot through this one client instead: one
    ``increment`` and one ``decrement`` (Prefect's ``/v2/concurrency_limits`` API, the client
    methods both lines share) over a kept-alive connection.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, name="flowlib-limits", daemon=True).start()
        self.client: Any = self.run(self._open())

    async def _open(self) -> Any:
        from prefect import get_client
        from prefect.settings import PREFECT_API_URL, temporary_settings

        with temporary_settings(updates={PREFECT_API_URL: self.url}):
            client = get_client()
        await client.__aenter__()
        return client

    def run(self, coro: Any) -> Any:
        """Run a coroutine on the client's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    async def limit(self, name: str) -> Any:
        """The limit named ``name``, or ``None``."""
        from prefect.exceptions import ObjectNotFound

        try:
            return await self.client.read_global_concurrency_limit_by_name(name)
        except ObjectNotFound:
            return None

    async def acquire(self, name: str, timeout_seconds: float) -> None:
        """Take one slot; while all are taken wait the server's ``Retry-After`` (jittered)."""
        import httpx

        deadline = time.monotonic() + timeout_seconds
        while True:
            try:
                await self.client.increment_concurrency_slots(
                    names=[name], slots=1, mode="concurrency"
                )
                return
            except httpx.HTTPStatusError as exc:
                if exc.response.status_code != 423:  # 423 Locked: every slot is taken
                    raise
                hint = float(exc.response.headers.get("Retry-After") or 1.0)
                wait = min(max(hint, 0.05), 5.0) * (0.5 + random.random())
                if time.monotonic() + wait > deadline:
                    raise TimeoutError(name) from exc
                await asyncio.sleep(wait)

    async def release(self, name: str, occupancy_seconds: float) -> None:
        """Give the slot back."""
        await self.client.release_concurrency_slots(
            names=[name], slots=1, occupancy_seconds=occupancy_seconds
        )


_CLIENTS: dict[str, _SlotClient] = {}
_CHECKED: set[tuple[str, str]] = set()
_LOCK = threading.Lock()


def _slot_client(url: str) -> _SlotClient:
    with _LOCK:
        client = _CLIENTS.get(url)
        if client is None:
            client = _CLIENTS[url] = _SlotClient(url)
        return client


def _unreachable(source: str, url: str, exc: BaseException) -> SourceLimitError:
    return SourceLimitError(
        f"the Prefect server at {url} did not answer ({type(exc).__name__}: {exc}); it holds "
        f"the global concurrency limit {source_limit_name(source)!r} that guards the {source} "
        "API across flow runs, so no request was sent. Check the server and PREFECT_API_URL; "
        f"to run without the server-side guarantee, set {SOURCE_LIMITS_VAR}=local (this process's "
        f"limit only, {source.upper().replace('-', '_')}_API_MAX_CONCURRENCY)."
    )


def require_source_limit(source: str, url: str) -> None:
    """Check once per process that the source's limit exists and is active on the server.

    Raises:
        SourceLimitError: The server does not answer, or the limit is missing or inactive
            (``flowctl limits sync`` creates it; 2.20 creates a missing limit, inactive, when a
            slot of it is asked for, and then limits nothing; 3.x limits nothing either).
    """
    name = source_limit_name(source)
    with _LOCK:
        if (url, name) in _CHECKED:
            return
    try:
        client = _slot_client(url)
        limit = client.run(client.limit(name))
    except Exception as exc:
        raise _unreachable(source, url, exc) from exc
    if limit is None or not limit.active:
        state = "is missing" if limit is None else "is inactive (it limits nothing)"
        raise SourceLimitError(
            f"the global concurrency limit {name!r} {state} on the Prefect server at {url}; "
            f"it guards the {source} API across flow runs, so no request was sent. Run "
            "`flowctl limits sync` against this server (it creates every source's limit from "
            f"its contract in flows/<project>/sources.py), or set {SOURCE_LIMITS_VAR}=local "
            "for a run without it."
        )
    with _LOCK:
        _CHECKED.add((url, name))


def forget_checked_limits() -> None:
    """Check every limit again on next use (after a limit was deleted; tests)."""
    with _LOCK:
        _CHECKED.clear()


@contextmanager
def source_slot(source: str, timeout_seconds: float) -> Iterator[None]:
    """Hold one slot of the source's global concurrency limit (server mode) around a request.

    In ``local`` mode (:func:`source_limit_mode`) this holds nothing: the caller's per-process
    limit is the only one. Errors of the body pass through untouched; the slot is given back
    whatever happens (a killed process cannot: ``flowctl limits sync --reset-slots``).

    Raises:
        LimitTimeoutError: Every slot stayed taken for ``timeout_seconds``.
        SourceLimitError: The server is unreachable, or the limit is missing or inactive.
    """
    url = api_url()
    if source_limit_mode() == "local":
        yield
        return
    if url is None:
        raise SourceLimitError(
            f"{SOURCE_LIMITS_VAR}=server, but no Prefect server is configured (PREFECT_API_URL "
            f"is unset): point PREFECT_API_URL at the server holding {source_limit_name(source)!r}"
            f", or set {SOURCE_LIMITS_VAR}=local"
        )
    require_source_limit(source, url)
    name = source_limit_name(source)
    client = _slot_client(url)
    try:
        client.run(client.acquire(name, timeout_seconds))
    except TimeoutError as exc:
        raise LimitTimeoutError(
            f"every slot of the global concurrency limit {name!r} stayed taken for "
            f"{timeout_seconds:.0f} s (other flow runs on the {source} API, or slots of a killed "
            "process: `flowctl limits` shows them, `flowctl limits sync --reset-slots` frees "
            "them)"
        ) from exc
    except Exception as exc:
        raise _unreachable(source, url, exc) from exc
    started = time.monotonic()
    try:
        yield
    finally:
        try:
            client.run(client.release(name, time.monotonic() - started))
        except Exception as exc:
            raise _unreachable(source, url, exc) from exc
