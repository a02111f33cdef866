"""The one HTTP extraction path every flow uses.

httpx with explicit (connect, read) timeouts; retries with exponential backoff and jitter on
connection errors, 429 and 5xx, honouring ``Retry-After``; page-number, cursor and ``Link``-header
pagination; bearer-token or API-key auth; and a per-source limit on concurrent requests (plus an
optional request rate) shared by every task of the process, so the mapped tasks of one flow run
never exceed it together; and, for a source whose contract declares ``global_concurrency``, one
slot of its Prefect global concurrency limit per request, so all flow runs together never exceed
that (:func:`flowlib.limits.source_slot`).

High-volume flows read pages with :meth:`SourceClient.batches`: each page's body is parsed straight
into an Arrow batch (no Python object per record) and dropped before the next page is fetched, so
a run's memory is bounded by a page per shard in flight, not by the day's volume.
"""

from __future__ import annotations

import io
import logging
import random
import threading
import time
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any, Literal, Protocol, TypeVar

import httpx
import orjson
import pyarrow as pa

from flowlib.arrow import json_to_batch, page_memory_pool, records_to_batch
from flowlib.limits import LimitTimeoutError, SourceLimitError, source_slot
from flowlib.settings import SourceSettings, env_prefix, source_settings, source_token

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
# headers that describe the bytes on the wire, not the decoded body a response is rebuilt with
_FRAMING = frozenset({"content-encoding", "content-length", "transfer-encoding"})
MAX_RETRY_AFTER_SECONDS = 300.0
Record = dict[str, Any]


class SourceError(RuntimeError):
    """A source request failed for good; names the source, URL and page, and what to check."""

    def __init__(self, source: str, url: str, page: str, reason: str) -> None:
        super().__init__(f"source {source!r}: {reason} (url {url}, {page})")
        self.source = source
        self.url = url
        self.page = page
        self.reason = reason


@dataclass(frozen=True)
class SourceSpec:
    """A source API's contract: name (the settings prefix), auth, and its global concurrency.

    The global concurrency is how many requests the API takes at once from all flow runs
    together.
    ``global_concurrency`` becomes the Prefect global concurrency limit ``flowlib-source:<name>``
    (``flowctl limits sync``); every request of every run holds one of its slots
    (:func:`flowlib.limits.source_slot`). ``None``: not declared, which ``flowctl limits sync``
    refuses.
    """

    name: str
    auth: Literal["bearer", "header", "none"] = "bearer"
    auth_header: str = "Authorization"
    global_concurrency: int | None = None


@dataclass(frozen=True)
class Page:
    """One page of records and where it came from."""

    number: int
    url: str
    records: list[Record]


@dataclass(frozen=True)
class BatchPage:
    """One page parsed straight into an Arrow batch, and where it came from."""

    number: int
    url: str
    batch: pa.RecordBatch


Payload = TypeVar("Payload", list[Record], pa.RecordBatch)
Parsed = TypeVar("Parsed")
Reader = Callable[[str, Mapping[str, Any] | None, str], tuple[Payload, dict[str, Any]]]
"""Fetch and parse one page: ``(url, query, label) -> (its records, the envelope fields)``."""


class Paginator(Protocol):
    """How a source splits a result into pages."""

    def pages(self, client: SourceClient, path: str, params: Mapping[str, Any]) -> Iterator[Page]:
        """Yield every page in order."""
        ...


class _Limiter:
    """A concurrency cap and optional request rate for one source, shared process-wide."""

    def __init__(self, max_concurrency: int, rate_per_second: float | None) -> None:
        self.semaphore = threading.BoundedSemaphore(max_concurrency)
        self.max_concurrency = max_concurrency
        self.interval = 1.0 / rate_per_second if rate_per_second else 0.0
        self._lock = threading.Lock()
        self._next_slot = 0.0

    def wait_for_slot(self) -> None:
        """Space requests at least ``interval`` apart (a simple token bucket of size one)."""
        if not self.interval:
            return
        with self._lock:
            now = time.monotonic()
            slot = max(now, self._next_slot)
            self._next_slot = slot + self.interval
        if slot > now:
            time.sleep(slot - now)


_LIMITERS: dict[str, _Limiter] = {}
_LIMITERS_LOCK = threading.Lock()


def limiter_for(source: str, settings: SourceSettings) -> _Limiter:
    """The process-wide limiter of a source (created on first use, never at import)."""
    with _LIMITERS_LOCK:
        limiter = _LIMITERS.get(source)
        if limiter is None or limiter.max_concurrency != settings.max_concurrency:
            limiter = _Limiter(settings.max_concurrency, settings.rate_per_second)
            _LIMITERS[source] = limiter
        return limiter


def release_on_last_reference(response: httpx.Response) -> None:
    """Break httpx's response <-> stream reference cycle once the body has been read.

    httpx 0.28 binds each response's stream back to the response (to set ``elapsed``), so a
    response, body included, is freed only by Python's cyclic garbage collector. A page outlives
    its parsing long enough to reach the oldest generation, whose full collection runs only when
    the long-lived objects have grown by a quarter: almost never in a process that imported
    Prefect. So every page of a run stayed in memory (peak RSS grew with the day's volume;
    ``benchmarks/README.md``, encode/httpx#3733). The spent stream is swapped for the body, and
    the response is freed by reference counting as soon as the caller drops it.
    """
    response.stream = httpx.ByteStream(b"")  # a read response keeps its body in ``content``


def retry_after_seconds(value: str | None) -> float | None:
    """Parse ``Retry-After``: delay seconds or an HTTP date; ``None`` when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def backoff_seconds(attempt: int, base: float, cap: float, rng: Callable[[], float]) -> float:
    """Exponential backoff with jitter: between half and all of ``base * 2**attempt``, capped."""
    ceiling = min(cap, base * (2**attempt))
    return ceiling * (0.5 + 0.5 * rng())


@dataclass
class SourceClient:
    """A retrying HTTP client for one source; use as a context manager."""

    spec: SourceSpec
    settings: SourceSettings = field(default_factory=SourceSettings)
    token: str | None = field(default=None, repr=False)  # a secret: never in a repr or a log
    logger: logging.Logger | logging.LoggerAdapter[logging.Logger] | None = None
    transport: httpx.BaseTransport | None = None
    sleep: Callable[[float], None] = time.sleep
    rng: Callable[[], float] = random.random

    def __post_init__(self) -> None:
        headers = {"Accept": "application/json", "User-Agent": "flowlib"}
        auth: _SecretHeaderAuth | None = None
        if self.spec.auth != "none":
            if not self.token:
                raise SourceError(
                    self.spec.name,
                    self.settings.url,
                    "before the first page",
                    "no credentials were given",
                )
            value = f"Bearer {self.token}" if self.spec.auth == "bearer" else self.token
            auth = _SecretHeaderAuth(self.spec.auth_header, value)
        timeout = httpx.Timeout(
            self.settings.timeout_seconds, connect=self.settings.connect_timeout_seconds
        )
        self._client = httpx.Client(
            base_url=self.settings.url,
            headers=headers,
            auth=auth,
            timeout=timeout,
            transport=self.transport,
        )
        self._limiter = limiter_for(self.spec.name, self.settings)
        page_memory_pool()  # page-sized buffers (bodies, columns) go back to the OS when freed
        self._log = self.logger or logging.getLogger(f"flowlib.http.{self.spec.name}")

    @classmethod
    def from_settings(
        cls,
        spec: SourceSpec,
        logger: logging.Logger | logging.LoggerAdapter[logging.Logger] | None = None,
    ) -> SourceClient:
        """Build a client from ``<SOURCE>_API_*`` settings and the source's secret."""
        settings = source_settings(spec.name)
        token = None if spec.auth == "none" else source_token(spec.name, settings)
        return cls(spec=spec, settings=settings, token=token, logger=logger)

    def __enter__(self) -> SourceClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()

    def request(self, url: str, params: Mapping[str, Any] | None, page: str) -> httpx.Response:
        """GET with retries; returns a 2xx response or raises :class:`SourceError`."""
        return self.fetch(url, params, page, _as_is)

    def _get(self, url: str, params: Mapping[str, Any] | None) -> httpx.Response:
        """GET the whole body into one buffer; return a response that owns it and no stream.

        httpx's own ``read()`` gathers a body as a list of chunks of up to 64 KiB and joins
        them at the end: a page's worth of small blocks in the thread's malloc arena at once,
        left there as free but resident memory (50-60 MB over a run's shard threads). Appended
        to one buffer as they arrive, one chunk is alive at a time, and the buffer, megabytes
        long, is mmap'd and unmapped again (:func:`flowlib.arrow.page_memory_pool`).
        """
        request = self._client.build_request("GET", url, params=params)
        streamed = self._client.send(request, stream=True)
        try:
            body = io.BytesIO()  # grows in place; getvalue() hands over its buffer, no copy
            for chunk in streamed.iter_bytes():
                body.write(chunk)
        finally:
            streamed.close()
            release_on_last_reference(streamed)
        decoded = [(k, v) for k, v in streamed.headers.multi_items() if k.lower() not in _FRAMING]
        response = httpx.Response(
            streamed.status_code, headers=decoded, content=body.getvalue(), request=request
        )
        del body
        response.elapsed = streamed.elapsed
        return response

    def fetch(
        self,
        url: str,
        params: Mapping[str, Any] | None,
        page: str,
        parse: Callable[[httpx.Response], Parsed],
    ) -> Parsed:
        """GET with retries and ``parse`` the 2xx response while still holding the source's slot.

        A page's body and its parse buffers then exist only inside a slot, so the pages a process
        holds at once are bounded by ``max_concurrency``, whatever its number of mapped tasks.
        """
        attempts = max(1, self.settings.max_attempts)
        for attempt in range(attempts):
            wait: float | None = None
            try:
                with self._limiter.semaphore, self._server_slot(url, page):
                    self._limiter.wait_for_slot()
                    response = self._get(url, params)
                    if response.is_success:
                        return parse(response)
            except httpx.TransportError as exc:
                reason = f"{type(exc).__name__}: {exc}"
                full_url = str(self._client.build_request("GET", url, params=params).url)
            else:
                full_url = str(response.url)
                if response.status_code not in RETRY_STATUSES:
                    raise SourceError(
                        self.spec.name,
                        full_url,
                        page,
                        f"HTTP {response.status_code}: {response.text[:200]!r}; "
                        f"{_advice(response.status_code, self.spec.name)}",
                    )
                reason = f"HTTP {response.status_code}"
                wait = retry_after_seconds(response.headers.get("Retry-After"))
            if attempt + 1 >= attempts:
                raise SourceError(
                    self.spec.name, full_url, page, f"{reason} after {attempts} attempts"
                )
            delay = backoff_seconds(
                attempt, self.settings.backoff_seconds, self.settings.max_backoff_seconds, self.rng
            )
            if wait is not None:
                delay = max(delay, min(wait, MAX_RETRY_AFTER_SECONDS))
            self._log.warning(
                "%s %s (%s): %s; retry %d/%d in %.1fs",
                self.spec.name,
                full_url,
                page,
                reason,
                attempt + 1,
                attempts - 1,
                delay,
            )
            self.sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    @contextmanager
    def _server_slot(self, url: str, page: str) -> Iterator[None]:
        """A slot of the source's Prefect global concurrency limit, across every flow run.

        Taken inside the process's own limit (so a run queues for the server's slots with at
        most ``max_concurrency`` requests), for contracts that declare ``global_concurrency``.
        """
        if self.spec.global_concurrency is None:
            yield
            return
        try:
            with source_slot(self.spec.name, self.settings.slot_timeout_seconds):
                yield
        except (SourceLimitError, LimitTimeoutError) as exc:
            raise SourceError(self.spec.name, url, page, str(exc)) from exc

    def get_json(self, url: str, params: Mapping[str, Any] | None, page: str) -> Any:
        """GET and parse JSON; a body that is not JSON fails with the URL and page."""

        def parse(response: httpx.Response) -> Any:
            try:
                return orjson.loads(response.content)
            except orjson.JSONDecodeError as exc:
                raise SourceError(
                    self.spec.name,
                    str(response.url),
                    page,
                    f"the body is not valid JSON ({exc}; {len(response.content)} bytes); "
                    "the response was cut short or the API changed",
                ) from exc

        return self.fetch(url, params, page, parse)

    def pages(
        self,
        path: str,
        params: Mapping[str, Any],
        paginator: Paginator,
        max_pages: int | None = None,
    ) -> Iterator[Page]:
        """Every page of a resource, in order (``max_pages`` for samples)."""
        for count, page in enumerate(paginator.pages(self, path, params), start=1):
            yield page
            if max_pages is not None and count >= max_pages:
                return

    def batches(
        self,
        path: str,
        params: Mapping[str, Any],
        paginator: Paginator,
        schema: pa.Schema,
        max_pages: int | None = None,
    ) -> Iterator[pa.RecordBatch]:
        """Every non-empty page as a batch of ``schema``, one page in memory at a time.

        Paginators with a ``batch_pages`` method (all of this module's) parse each body straight
        into Arrow; any other is read through :meth:`pages` and :func:`records_to_batch`.
        """
        batch_pages = getattr(paginator, "batch_pages", None)
        pages: Iterator[BatchPage] = (
            batch_pages(self, path, params, schema)
            if batch_pages is not None
            else _converted(paginator.pages(self, path, params), schema)
        )
        for count, page in enumerate(pages, start=1):
            batch = page.batch
            del page  # hold nothing of this page while the next one is fetched
            if batch.num_rows:
                yield batch
            del batch
            if max_pages is not None and count >= max_pages:
                return

    def json_reader(self, data_field: str | None, fields: Sequence[str]) -> Reader[list[Record]]:
        """Read a page as records (orjson) and the body's ``fields``."""

        def read(
            url: str, query: Mapping[str, Any] | None, page: str
        ) -> tuple[list[Record], dict[str, Any]]:
            body = self.get_json(url, query, page)
            full_url = f"{self.settings.url}{url}" if url.startswith("/") else url
            records = _records(body, data_field, self.spec.name, full_url, page)
            envelope = {f: body.get(f) for f in fields} if isinstance(body, dict) else {}
            return records, envelope

        return read

    def arrow_reader(
        self, schema: pa.Schema, data_field: str | None, fields: Mapping[str, pa.DataType]
    ) -> Reader[pa.RecordBatch]:
        """Read a page straight into a batch of ``schema`` and the body's ``fields``."""

        def read(
            url: str, query: Mapping[str, Any] | None, page: str
        ) -> tuple[pa.RecordBatch, dict[str, Any]]:
            def parse(response: httpx.Response) -> tuple[pa.RecordBatch, dict[str, Any]]:
                try:
                    return json_to_batch(response.content, schema, data_field, fields)
                except ValueError as exc:
                    raise SourceError(
                        self.spec.name,
                        str(response.url),
                        page,
                        f"the body is not valid JSON of the contract's shape ({exc}; "
                        f"{len(response.content)} bytes); the response was cut short or the "
                        "API changed",
                    ) from exc

            return self.fetch(url, query, page, parse)

        return read

    def records(
        self,
        path: str,
        params: Mapping[str, Any],
        paginator: Paginator,
        max_pages: int | None = None,
    ) -> list[Record]:
        """Every record of a resource, concatenated in page order."""
        out: list[Record] = []
        for page in self.pages(path, params, paginator, max_pages):
            out.extend(page.records)
        return out


def _as_is(response: httpx.Response) -> httpx.Response:
    return response


def _converted(pages: Iterator[Page], schema: pa.Schema) -> Iterator[BatchPage]:
    """Pages of records as batches (for paginators without ``batch_pages``)."""
    for page in pages:
        converted = BatchPage(page.number, page.url, records_to_batch(page.records, schema))
        del page
        yield converted
        del converted


class _SecretHeaderAuth(httpx.Auth):
    """Sets the credential header on each request; its ``repr`` never shows the value.

    Kept apart from the client's default headers, whose ``repr`` shows any header but
    ``Authorization`` in clear (an ``X-API-Key`` would appear in a log of the client).
    """

    __slots__ = ("_header", "_value")

    def __init__(self, header: str, value: str) -> None:
        self._header = header
        self._value = value

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        """Add the header, then send."""
        request.headers[self._header] = self._value
        yield request

    def __repr__(self) -> str:
        return f"{type(self).__name__}(header={self._header!r}, value='***')"


def same_origin(url: httpx.URL, base: httpx.URL) -> bool:
    """Same scheme, host and port (default ports filled in): where a credential may go."""

    def origin(u: httpx.URL) -> tuple[str, str, int | None]:
        return (u.scheme, u.host.lower(), u.port or {"http": 80, "https": 443}.get(u.scheme))

    return origin(url) == origin(base)


def _advice(status: int, source: str) -> str:
    if status in (401, 403):
        return f"check the {source} API credentials ({source.upper()}_API_TOKEN or its block)"
    if status == 404:
        return f"check {source.upper()}_API_URL and the endpoint path"
    return "the request was rejected; check the parameters against the source contract"


def _records(body: Any, field_name: str | None, source: str, url: str, page: str) -> list[Record]:
    data = (
        body if field_name is None else (body.get(field_name) if isinstance(body, dict) else None)
    )
    if not isinstance(data, list):
        where = "the body" if field_name is None else f"field {field_name!r}"
        raise SourceError(source, url, page, f"{where} is not a JSON list of records")
    return data


@dataclass(frozen=True)
class PageNumber:
    """``?page=N&page_size=M`` with ``total_pages`` in the body; stops on an empty page too."""

    page_size: int = 100
    page_param: str = "page"
    size_param: str = "page_size"
    total_field: str = "total_pages"
    data_field: str = "data"

    def pages(self, client: SourceClient, path: str, params: Mapping[str, Any]) -> Iterator[Page]:
        """Yield pages 1..total_pages."""
        read = client.json_reader(self.data_field, [self.total_field])
        for number, url, records in self._walk(client, path, params, read):
            yield Page(number, url, records)
            del records

    def batch_pages(
        self, client: SourceClient, path: str, params: Mapping[str, Any], schema: pa.Schema
    ) -> Iterator[BatchPage]:
        """Yield pages 1..total_pages as Arrow batches."""
        read = client.arrow_reader(schema, self.data_field, {self.total_field: pa.int64()})
        for number, url, batch in self._walk(client, path, params, read):
            yield BatchPage(number, url, batch)
            del batch

    def _walk(
        self,
        client: SourceClient,
        path: str,
        params: Mapping[str, Any],
        read: Reader[Payload],
    ) -> Iterator[tuple[int, str, Payload]]:
        number = 1
        while True:
            query = {**params, self.page_param: number, self.size_param: self.page_size}
            label = f"page {number}"
            payload, envelope = read(path, query, label)
            url = f"{client.settings.url}{path}"
            total = envelope.get(self.total_field)
            if not isinstance(total, int):
                raise SourceError(
                    client.spec.name,
                    url,
                    label,
                    f"field {self.total_field!r} is missing or not an integer",
                )
            last = number >= total or not len(payload)
            if len(payload):
                yield number, url, payload
            del payload  # drop this page before fetching the next
            if last:
                return
            number += 1


@dataclass(frozen=True)
class Cursor:
    """``?cursor=C&limit=M`` with ``next_cursor`` in the body; ``null`` ends."""

    limit: int = 500
    cursor_param: str = "cursor"
    limit_param: str = "limit"
    next_field: str = "next_cursor"
    data_field: str = "data"

    def pages(self, client: SourceClient, path: str, params: Mapping[str, Any]) -> Iterator[Page]:
        """Follow the cursor until it is null."""
        read = client.json_reader(self.data_field, [self.next_field])
        for number, url, records in self._walk(client, path, params, read):
            yield Page(number, url, records)
            del records

    def batch_pages(
        self, client: SourceClient, path: str, params: Mapping[str, Any], schema: pa.Schema
    ) -> Iterator[BatchPage]:
        """Follow the cursor until it is null, yielding Arrow batches."""
        read = client.arrow_reader(schema, self.data_field, {self.next_field: pa.string()})
        for number, url, batch in self._walk(client, path, params, read):
            yield BatchPage(number, url, batch)
            del batch

    def _walk(
        self,
        client: SourceClient,
        path: str,
        params: Mapping[str, Any],
        read: Reader[Payload],
    ) -> Iterator[tuple[int, str, Payload]]:
        cursor: str | None = None
        number = 1
        while True:
            query = {**params, self.limit_param: self.limit}
            if cursor is not None:
                query[self.cursor_param] = cursor
            label = f"page {number} (cursor {cursor or 'start'})"
            payload, envelope = read(path, query, label)
            url = f"{client.settings.url}{path}"
            yield number, url, payload
            del payload  # drop this page before fetching the next
            cursor = envelope.get(self.next_field)
            if not cursor:
                return
            if not isinstance(cursor, str):
                raise SourceError(
                    client.spec.name, url, label, f"field {self.next_field!r} is not a string"
                )
            number += 1


@dataclass(frozen=True)
class LinkHeader:
    """RFC 8288 ``Link: <url>; rel="next"``: follow it until absent; the body is the list."""

    per_page: int = 50
    size_param: str = "per_page"
    data_field: str | None = None

    def pages(self, client: SourceClient, path: str, params: Mapping[str, Any]) -> Iterator[Page]:
        """Follow ``rel="next"`` links."""
        url: str = path
        query: Mapping[str, Any] | None = {**params, self.size_param: self.per_page}
        number = 1
        while True:
            label = f"page {number}"
            response = client.request(url, query, label)
            try:
                body = orjson.loads(response.content)
            except orjson.JSONDecodeError as exc:
                raise SourceError(
                    client.spec.name,
                    str(response.url),
                    label,
                    f"the body is not valid JSON ({exc})",
                ) from exc
            records = _records(body, self.data_field, client.spec.name, str(response.url), label)
            page_url, next_link = str(response.url), response.links.get("next", {}).get("url")
            # a relative link stays on the page's origin
            target = response.url.join(next_link) if next_link else None
            del response, body  # drop this page before fetching the next
            yield Page(number, page_url, records)
            del records
            if target is None:
                return
            if not same_origin(target, httpx.URL(client.settings.url)):
                raise SourceError(
                    client.spec.name,
                    page_url,
                    label,
                    f"the Link header's next page {target} is on another scheme, host or port "
                    f"than {env_prefix(client.spec.name)}URL={client.settings.url}; refusing to "
                    "send the source's credentials there (a downgrade or a redirect to another "
                    "host); fix the API's base URL or ask the source's owners",
                )
            url, query = str(target), None
            number += 1
