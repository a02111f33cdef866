"""The Prefect API as flowctl uses it: one client, a health check, bulk reads, partial updates.

Everything here works against Prefect 2.20 and 3.x servers alike. The two places where the client
libraries differ are wrapped in this module only:

- :func:`jsonable`: models are pydantic v1 (``.json()``) on 2.20 and v2 (``model_dump``) on 3.x;
- :func:`patch_deployment`: a partial ``PATCH /deployments/{id}`` of the named fields only. On 2.20
  ``client.update_deployment`` takes a whole deployment and re-sends its ``schedule`` (which
  replaces every schedule), so the route is called directly; on 3.x ``update_deployment`` sends
  only the fields set.

- :func:`parameter_schema_json`: the flow's parameter schema as ``prefect deploy`` sends it
  (``.dict()`` on 2.20, ``model_dump_for_openapi()`` on 3.x).

The API is the one the active Prefect profile or ``PREFECT_API_URL`` names.
"""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any
from uuid import UUID

from flowctl.common import FlowctlError

if TYPE_CHECKING:
    from prefect.client.orchestration import PrefectClient

PAUSED_TAG = "paused"
"""The tag ``flowctl pause`` puts on a deployment: ``flowctl deploy`` keeps its schedules off."""

HEALTH_TIMEOUT_SECONDS = 15.0
PAGE = 200  # the server's default (and maximum) page size


@functools.cache
def prefect_major() -> int:
    """The installed Prefect's major version (2 or 3)."""
    import prefect

    return int(prefect.__version__.split(".", 1)[0])


def parameter_schema_json(flow: Any) -> dict[str, Any]:
    """The flow's parameter schema, exactly as ``prefect deploy`` sends it."""
    from prefect.utilities.callables import parameter_schema

    schema = parameter_schema(flow)
    if prefect_major() >= 3:  # RunnerDeployment sends model_dump(exclude_unset=True)
        return dict(jsonable(schema.model_dump(exclude_unset=True)))  # type: ignore[attr-defined,unused-ignore]
    return dict(jsonable(schema.dict()))


def api_url() -> str:
    """The API URL of the active profile (``PREFECT_API_URL``), or a note that none is set."""
    from prefect.settings import PREFECT_API_URL

    return PREFECT_API_URL.value() or "(none: PREFECT_API_URL is unset, ephemeral API)"


@asynccontextmanager
async def connect(timeout: float = HEALTH_TIMEOUT_SECONDS) -> AsyncIterator[PrefectClient]:
    """One client for the whole command, after ``/health`` answered.

    Raises:
        FlowctlError: The API does not answer (exit code 2), naming its URL.
    """
    from prefect.client.orchestration import get_client

    url = api_url()
    async with get_client() as client:
        try:
            problem = await asyncio.wait_for(client.api_healthcheck(), timeout)
        except TimeoutError:
            problem = TimeoutError(f"no answer within {timeout:.0f}s")
        if problem is not None:
            raise FlowctlError(
                f"the Prefect API at {url} is unreachable ({type(problem).__name__}: "
                f"{problem}). Start it, or point PREFECT_API_URL (or the active profile: "
                "`prefect profile use ...`) at a running server or Cloud workspace."
            )
        yield client


def jsonable(value: Any) -> Any:
    """A Prefect model (or plain data holding models) as JSON-compatible data."""
    if hasattr(value, "model_dump"):  # pydantic v2 models (Prefect 3)
        return value.model_dump(mode="json")
    if hasattr(value, "json") and hasattr(value, "__fields__"):  # pydantic v1 (Prefect 2)
        return json.loads(value.json())
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, UUID):
        return str(value)
    return value


async def patch_deployment(client: PrefectClient, deployment_id: UUID, **fields: Any) -> None:
    """Update only the given fields of a deployment (``tags``, ``parameters``, ...)."""
    if prefect_major() >= 3:
        from prefect.client.schemas.actions import DeploymentUpdate

        await client.update_deployment(deployment_id, DeploymentUpdate(**fields))  # type: ignore[call-arg,arg-type,unused-ignore]
        return
    response = await client._client.patch(f"/deployments/{deployment_id}", json=jsonable(fields))
    response.raise_for_status()


async def read_flow_ids(client: PrefectClient, flow_names: Iterable[str]) -> dict[str, UUID]:
    """The ids of the named flows that exist, by name."""
    from prefect.client.schemas.filters import FlowFilter, FlowFilterName

    names = sorted(set(flow_names))
    found: dict[str, UUID] = {}
    for start in range(0, len(names), PAGE):
        chunk = names[start : start + PAGE]
        flows = await client.read_flows(
            flow_filter=FlowFilter(name=FlowFilterName(any_=chunk)), limit=PAGE
        )
        found.update({f.name: f.id for f in flows})
    return found


async def read_deployments_by_name(
    client: PrefectClient, full_names: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], Any]:
    """The existing deployments among ``(flow name, deployment name)`` pairs, in few calls.

    Returns:
        The server's deployments (``DeploymentResponse``) by ``(flow name, deployment name)``.
    """
    from prefect.client.schemas.filters import (
        DeploymentFilter,
        DeploymentFilterName,
        FlowFilter,
        FlowFilterId,
    )

    wanted = set(full_names)
    flow_ids = await read_flow_ids(client, {f for f, _ in wanted})
    if not flow_ids:
        return {}
    flow_names = {v: k for k, v in flow_ids.items()}
    dep_names = sorted({d for f, d in wanted if f in flow_ids})
    found: dict[tuple[str, str], Any] = {}
    offset = 0
    while True:
        page = await client.read_deployments(
            flow_filter=FlowFilter(id=FlowFilterId(any_=list(flow_ids.values()))),
            deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=dep_names)),
            limit=PAGE,
            offset=offset,
        )
        for dep in page:
            key = (flow_names.get(dep.flow_id, ""), dep.name)
            if key in wanted:
                found[key] = dep
        if len(page) < PAGE:
            return found
        offset += PAGE


async def read_tagged_deployments(client: PrefectClient, tag: str) -> list[Any]:
    """Every deployment carrying ``tag`` (e.g. ``project:sales``), with its flow's name set."""
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterTags

    result: list[Any] = []
    offset = 0
    while True:
        page = await client.read_deployments(
            deployment_filter=DeploymentFilter(tags=DeploymentFilterTags(all_=[tag])),
            limit=PAGE,
            offset=offset,
        )
        result.extend(page)
        if len(page) < PAGE:
            return result
        offset += PAGE


async def flow_names_by_id(client: PrefectClient, flow_ids: Iterable[UUID]) -> dict[UUID, str]:
    """The names of flows by id."""
    from prefect.client.schemas.filters import FlowFilter, FlowFilterId

    ids = sorted(set(flow_ids), key=str)
    names: dict[UUID, str] = {}
    for start in range(0, len(ids), PAGE):
        flows = await client.read_flows(
            flow_filter=FlowFilter(id=FlowFilterId(any_=ids[start : start + PAGE])), limit=PAGE
        )
        names.update({f.id: f.name for f in flows})
    return names


def http_error_detail(exc: BaseException) -> str:
    """The server's own words for a failed call (its ``detail``), else the exception's text."""
    cause: BaseException | None = exc
    while cause is not None and getattr(cause, "response", None) is None:
        cause = cause.__cause__  # Prefect 3's apply() wraps the HTTP error
    response = getattr(cause, "response", None)
    if response is not None:
        try:
            detail = response.json().get("detail")
        except (ValueError, AttributeError):
            detail = None
        return f"HTTP {response.status_code}: {detail or response.text[:500]}"
    return f"{type(exc).__name__}: {exc}"


class WriteLimiter:
    """How many writes are in flight: fixed, or found while writing (``limit=None``).

    Servers differ. Prefect Cloud and a Postgres-backed server take many writes at once. A
    SQLite-backed server (``prefect server start`` by default) runs one write transaction at a
    time: when two deployment upserts overlap, one fails with 503 ("database is locked") and is
    retried (:func:`watch_responses` makes that retry quick). Unless fixed, the limit starts at 1
    and doubles after each window of completed writes (``window``, and at least twice the limit)
    while the throughput grows by a tenth or more, up to ``maximum``; it then settles on the best
    limit seen. A 429 (rate limit) halves the limit and settles it.
    """

    def __init__(self, limit: int | None = None, maximum: int = 16, window: int = 8) -> None:
        self.fixed = limit is not None
        self.limit = max(1, limit) if limit is not None else 1
        self.maximum = maximum
        self.window = window
        self.in_flight = 0
        self.done = 0
        self.conflicts = 0  # 503s seen (each retried)
        self.best: tuple[float, int] | None = None  # (writes per second, limit)
        self.settled = self.fixed
        self.trials: list[tuple[int, float]] = []  # (limit, writes per second) of each window
        self._condition = asyncio.Condition()
        self._window_start: float | None = None
        self._window_done = 0

    async def __aenter__(self) -> None:
        async with self._condition:
            await self._condition.wait_for(lambda: self.in_flight < self.limit)
            self.in_flight += 1
            if self._window_start is None:
                self._window_start = asyncio.get_running_loop().time()

    async def __aexit__(self, *exc: object) -> None:
        async with self._condition:
            self.in_flight -= 1
            self.done += 1
            self._window_done += 1
            # a window spans at least two rounds of the current limit, so batches even out
            if not self.settled and self._window_done >= max(self.window, 2 * self.limit):
                self._adapt()
            self._condition.notify_all()

    @property
    def peak(self) -> int:
        """The highest limit tried (the limit climbed this far before settling)."""
        return max([self.limit, *(limit for limit, _ in self.trials)])

    def busy(self) -> None:
        """The server asked to slow down (429): fewer writes at once from now on."""
        if not self.fixed:
            self.limit = max(1, self.limit // 2)
            self.settled = True

    def _adapt(self) -> None:
        now = asyncio.get_running_loop().time()
        rate = self._window_done / max(now - (self._window_start or now), 1e-6)
        self._window_start, self._window_done = now, 0
        self.trials.append((self.limit, rate))
        if self.best is None or rate > self.best[0] * 1.1:
            self.best = (rate, self.limit)
            if self.limit < self.maximum:
                self.limit = min(self.maximum, self.limit * 2)
                return
        self.limit = self.best[1]
        self.settled = True


QUICK_RETRIES = (0.1, 0.3, 0.9)  # seconds before the 1st, 2nd, 3rd retry of a 503


def watch_responses(client: PrefectClient, limiter: WriteLimiter) -> None:
    """Hook the client's responses: 429 slows the limiter; a 503 is retried quickly.

    The Prefect client retries a 503 after ``Retry-After`` or else 2, 4, 8... seconds. A 503
    without ``Retry-After`` from a Prefect server is a write that lost a race for the SQLite
    database, worth retrying at once: its first three retries get ``Retry-After`` 0.1, 0.3 and
    0.9 s (the client adds jitter); later ones keep the client's own back-off.
    """
    http = getattr(client, "_client", None)  # the httpx client (both Prefect lines)
    if http is None:
        return
    seen: dict[int, int] = {}

    async def on_response(response: Any) -> None:
        if response.status_code == 429:
            limiter.busy()
        elif response.status_code == 503 and "Retry-After" not in response.headers:
            limiter.conflicts += 1
            key = id(response.request)
            seen[key] = seen.get(key, 0) + 1
            if seen[key] <= len(QUICK_RETRIES):
                response.headers["Retry-After"] = str(QUICK_RETRIES[seen[key] - 1])

    hooks = dict(http.event_hooks)
    hooks["response"] = [*hooks.get("response", []), on_response]
    http.event_hooks = hooks
