"""HTTP server for the sample source APIs (contract: ``docs/sources.md``).

Standard library only on the HTTP side (``http.server.ThreadingHTTPServer``) so the server runs
wherever the flows run, with no web framework to pin. It speaks HTTP/1.1 keep-alive and always
sends ``Content-Length`` so that clients reuse connections: the transactions benchmark pulls
hundreds of multi-megabyte pages and must not pay a TCP handshake per page.
"""

from __future__ import annotations

import contextlib
import hmac
import socket
import sys
import threading
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from email.message import Message
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlencode, urlsplit

import orjson

from devtools.sample_api import data
from devtools.sample_api.config import SampleApiConfig
from devtools.sample_api.faults import Fault, FaultMode, FaultRegistry

__all__ = [
    "BadRequest",
    "Request",
    "RequestStats",
    "Response",
    "SampleApiServer",
    "serve",
]

MAX_PRODUCTS_PAGE_SIZE = 1000
MAX_ORDERS_LIMIT = 5000
MAX_TRANSACTIONS_PAGE_SIZE = 100_000
MAX_FX_PER_PAGE = 500
MAX_SHARDS = 1_000_000
_MAX_ADMIN_BODY = 64 * 1024


# --------------------------------------------------------------------------------------------
# request / response values


class BadRequest(Exception):
    """A request parameter is missing or invalid; the message names it (answered with 400)."""


@dataclass(frozen=True)
class Request:
    """The parts of an HTTP request the endpoints look at.

    Attributes:
        method: HTTP method, upper case.
        path: URL path without the query string.
        query: Query parameters as parsed by :func:`urllib.parse.parse_qs`.
        headers: Request headers (case-insensitive lookup).
        body: Raw request body (empty for GET).
        raw_query: The query string as sent, kept for building ``Link`` URLs.
    """

    method: str
    path: str
    query: Mapping[str, list[str]]
    headers: Message
    body: bytes = b""
    raw_query: str = ""


@dataclass(frozen=True)
class Response:
    """A complete response: status, JSON body and any extra headers.

    The body is kept as a sequence of byte strings that are written one after the other: a
    transactions page is megabytes of rows, and wrapping it in its envelope by concatenation
    would copy (and page-fault in) all of it once more per request.
    """

    status: int
    parts: tuple[bytes, ...]
    headers: tuple[tuple[str, str], ...] = ()

    @property
    def body(self) -> bytes:
        """The whole body as one byte string."""
        return b"".join(self.parts)

    @property
    def content_length(self) -> int:
        """Length of the body in bytes."""
        return sum(len(part) for part in self.parts)

    @classmethod
    def json(cls, status: int, payload: Any, headers: tuple[tuple[str, str], ...] = ()) -> Response:
        """Build a JSON response from a Python value."""
        return cls(status, (orjson.dumps(payload),), headers)

    @classmethod
    def error(
        cls, status: int, message: str, headers: tuple[tuple[str, str], ...] = ()
    ) -> Response:
        """Build the contract's error shape ``{"error": "..."}``."""
        return cls.json(status, {"error": message}, headers)


@dataclass
class RequestStats:
    """Thread-safe request counts per path and status, for ``GET /_admin/stats``.

    Tests and benchmarks read it to prove, for example, that a client retried exactly as often
    as faults were injected.
    """

    _counts: dict[str, dict[str, int]] = field(default_factory=dict)
    _in_flight: dict[str, int] = field(default_factory=dict)
    _in_flight_max: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def started(self, source: str) -> None:
        """A request to ``source`` (``shop``, ``ledger``) is being answered; keep the maximum."""
        with self._lock:
            now = self._in_flight.get(source, 0) + 1
            self._in_flight[source] = now
            self._in_flight_max[source] = max(now, self._in_flight_max.get(source, 0))

    def finished(self, source: str) -> None:
        """The request's answer is ready; counted before it is sent.

        The client's wait for a reply always covers this interval, so a client-side limit
        bounds what is counted.
        """
        with self._lock:
            self._in_flight[source] = self._in_flight.get(source, 1) - 1

    def record(self, path: str, status: int) -> None:
        """Count one answered request."""
        with self._lock:
            per_status = self._counts.setdefault(path, {})
            key = str(status)
            per_status[key] = per_status.get(key, 0) + 1

    def snapshot(self) -> dict[str, Any]:
        """Return ``{"requests": {path: {status: n}}, "total": n}`` (a copy)."""
        with self._lock:
            requests = {path: dict(counts) for path, counts in sorted(self._counts.items())}
            in_flight_max = dict(sorted(self._in_flight_max.items()))
        total = sum(sum(counts.values()) for counts in requests.values())
        return {"requests": requests, "total": total, "in_flight_max": in_flight_max}

    def reset(self) -> None:
        """Forget all counts and maxima (requests in flight stay counted)."""
        with self._lock:
            self._counts.clear()
            self._in_flight_max = {k: v for k, v in self._in_flight.items() if v}


# --------------------------------------------------------------------------------------------
# parameter parsing


def _param(request: Request, name: str) -> str | None:
    """Return the first value of a query parameter, or ``None`` when absent."""
    values = request.query.get(name)
    return values[0] if values else None


def _int_param(request: Request, name: str, default: int, low: int, high: int) -> int:
    """Return an integer parameter in ``[low, high]`` or raise :class:`BadRequest` naming it."""
    raw = _param(request, name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        value = low - 1
    if not low <= value <= high:
        raise BadRequest(f"{name} must be an integer between {low} and {high}, got {raw!r}")
    return value


def _date_param(request: Request, name: str) -> date:
    """Return a required ``YYYY-MM-DD`` parameter or raise :class:`BadRequest` naming it."""
    raw = _param(request, name)
    if not raw:
        raise BadRequest(f"missing required query parameter {name} (YYYY-MM-DD)")
    try:
        if len(raw) != 10:
            raise ValueError(raw)
        return date.fromisoformat(raw)
    except ValueError:
        raise BadRequest(f"{name} must be a date YYYY-MM-DD, got {raw!r}") from None


def _ts_param(request: Request, name: str) -> int | None:
    """Return an ISO 8601 timestamp parameter as epoch seconds, ``None`` when absent."""
    raw = _param(request, name)
    if raw is None or raw == "":
        return None
    try:
        return data.parse_ts(raw)
    except ValueError:
        raise BadRequest(
            f"{name} must be an ISO 8601 UTC timestamp like 2026-11-25T10:00:00Z, got {raw!r}"
        ) from None


def _paged_body(rows: tuple[bytes, ...], **meta: int) -> tuple[bytes, ...]:
    """Wrap pre-serialised rows in ``{"data": rows, **meta}`` without re-encoding or copying."""
    return (b'{"data":', *rows, b"," + orjson.dumps(meta)[1:])


# --------------------------------------------------------------------------------------------
# endpoints


def _products(config: SampleApiConfig, request: Request) -> Response:
    """``GET /shop/v1/products``: page-number pagination over the catalogue snapshot."""
    as_of = _date_param(request, "as_of")
    page = _int_param(request, "page", 1, 1, 10**9)
    page_size = _int_param(request, "page_size", 100, 1, MAX_PRODUCTS_PAGE_SIZE)
    frame = data.products_page(as_of, config.products, page, page_size)
    body = _paged_body(
        data.rows_json_parts(frame),
        page=page,
        page_size=page_size,
        total_pages=data.total_pages(config.products, page_size),
        total=config.products,
    )
    return Response(200, body)


def _orders(config: SampleApiConfig, request: Request) -> Response:
    """``GET /shop/v1/orders``: cursor pagination over ``(updated_after, updated_before]``."""
    after = _ts_param(request, "updated_after")
    before = _ts_param(request, "updated_before")
    limit = _int_param(request, "limit", 500, 1, MAX_ORDERS_LIMIT)
    token = _param(request, "cursor")
    cursor: data.OrderCursor | None = None
    if token:
        try:
            cursor = data.decode_order_cursor(token)
        except ValueError:
            raise BadRequest("cursor is invalid; pass next_cursor from the previous page") from None
        if (after is not None and after != cursor.updated_after_s) or (
            before is not None and before != cursor.updated_before_s
        ):
            raise BadRequest("cursor does not belong to this updated_after/updated_before window")
        after, before = cursor.updated_after_s, cursor.updated_before_s
    if after is None:
        raise BadRequest("missing required query parameter updated_after (ISO 8601 UTC)")
    if before is None:
        raise BadRequest("missing required query parameter updated_before (ISO 8601 UTC)")
    if after > before:
        raise BadRequest("updated_after must not be later than updated_before")
    page = data.orders_page(after, before, config.orders_per_hour, limit, cursor)
    next_token = data.encode_order_cursor(page.next_cursor) if page.next_cursor else None
    tail = b',"next_cursor":' + orjson.dumps(next_token) + b"}"
    return Response(200, (b'{"data":', *data.rows_json_parts(page.frame), tail))


def _transactions(config: SampleApiConfig, request: Request) -> Response:
    """``GET /ledger/v1/transactions``: one page of one shard of a day."""
    day = _date_param(request, "date")
    if day < data.EPOCH_DATE:
        raise BadRequest(f"date must be on or after {data.EPOCH_DATE.isoformat()}")
    shards = _int_param(request, "shards", 1, 1, MAX_SHARDS)
    shard = _int_param(request, "shard", 0, 0, shards - 1)
    page = _int_param(request, "page", 1, 1, 10**9)
    page_size = _int_param(request, "page_size", 1000, 1, MAX_TRANSACTIONS_PAGE_SIZE)
    rows = data.shard_range(day, config.transactions_per_day, shard, shards)
    frame = data.transactions_page(day, config.transactions_per_day, shard, shards, page, page_size)
    body = _paged_body(
        data.rows_json_parts(frame),
        page=page,
        page_size=page_size,
        total_pages=data.total_pages(rows.count, page_size),
        total=rows.count,
    )
    return Response(200, body)


def _fx_rates(config: SampleApiConfig, request: Request) -> Response:
    """``GET /ledger/v1/fx-rates``: a bare JSON array, next page announced in ``Link``."""
    del config  # rates do not depend on configuration
    day = _date_param(request, "date")
    page = _int_param(request, "page", 1, 1, 10**9)
    per_page = _int_param(request, "per_page", 50, 1, MAX_FX_PER_PAGE)
    headers: tuple[tuple[str, str], ...] = ()
    if page * per_page < len(data.FX_QUOTES):
        params = [(k, v) for k, v in parse_qsl(request.raw_query, keep_blank_values=True)]
        params = [(k, v) for k, v in params if k != "page"] + [("page", str(page + 1))]
        host = request.headers.get("Host") or "localhost"
        next_url = f"http://{host}{request.path}?{urlencode(params)}"
        headers = (("Link", f'<{next_url}>; rel="next"'),)
    return Response(200, data.rows_json_parts(data.fx_rates_page(day, page, per_page)), headers)


Endpoint = Callable[[SampleApiConfig, Request], Response]

_SHOP = "shop"
_LEDGER = "ledger"
_ROUTES: dict[str, tuple[str, Endpoint]] = {
    "/shop/v1/products": (_SHOP, _products),
    "/shop/v1/orders": (_SHOP, _orders),
    "/ledger/v1/transactions": (_LEDGER, _transactions),
    "/ledger/v1/fx-rates": (_LEDGER, _fx_rates),
}


def _authorised(config: SampleApiConfig, realm: str, headers: Message) -> bool:
    """Check the shop bearer token or the ledger API key in constant time."""
    if realm == _SHOP:
        scheme, _, token = (headers.get("Authorization") or "").strip().partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(
            token.strip().encode(), config.shop_token.encode()
        )
    key = (headers.get("X-API-Key") or "").strip()
    return hmac.compare_digest(key.encode(), config.ledger_key.encode())


# --------------------------------------------------------------------------------------------
# server


class SampleApiServer(ThreadingHTTPServer):
    """Threaded HTTP server holding the config, the fault registry and the request stats.

    It tracks open connections so that :meth:`server_close` can cut idle keep-alive
    connections; otherwise an in-process server would leave handler threads blocked on
    sockets long after a test finished.
    """

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(
        self,
        address: tuple[str, int],
        config: SampleApiConfig | None = None,
        *,
        log_requests: bool = False,
    ) -> None:
        self.config = config or SampleApiConfig()
        self.faults = FaultRegistry(self.config.faults)
        self.stats = RequestStats()
        self.log_requests = log_requests
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    @property
    def port(self) -> int:
        """The bound port (useful after binding port 0)."""
        return int(self.server_address[1])

    @property
    def url(self) -> str:
        """Base URL of the server, e.g. ``http://127.0.0.1:8765``."""
        host = str(self.server_address[0])
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        """Handle one connection in its thread, remembering it while it is open."""
        with self._connections_lock:
            self._connections.add(request)
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self._connections_lock:
                self._connections.discard(request)

    def server_close(self) -> None:
        """Close the listening socket and every open client connection."""
        super().server_close()
        with self._connections_lock:
            connections = list(self._connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    """Routes requests, applies faults and auth, and writes JSON responses."""

    server: SampleApiServer
    protocol_version = "HTTP/1.1"
    server_version = "flowlib-sample-api/1"
    disable_nagle_algorithm = True  # small answers must not wait for delayed ACKs
    timeout = 300  # idle keep-alive connections end eventually

    def do_GET(self) -> None:
        """Handle GET."""
        self._dispatch()

    def do_POST(self) -> None:
        """Handle POST."""
        self._dispatch()

    def do_DELETE(self) -> None:
        """Handle DELETE."""
        self._dispatch()

    def do_PUT(self) -> None:
        """Handle PUT (always 404/405, but as JSON)."""
        self._dispatch()

    def do_PATCH(self) -> None:
        """Handle PATCH (always 404/405, but as JSON)."""
        self._dispatch()

    def log_message(self, format: str, *args: Any) -> None:
        """Log to stderr only when asked: per-request logging costs throughput."""
        if self.server.log_requests:
            super().log_message(format, *args)

    def _read_body(self) -> bytes:
        """Read the request body so the keep-alive stream stays in sync."""
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _dispatch(self) -> None:
        """Turn the raw request into a :class:`Response` and send it."""
        parts = urlsplit(self.path)
        try:
            body = self._read_body()
        except ValueError:
            self._send(Response.error(400, "invalid Content-Length"))
            return
        request = Request(
            method=self.command,
            path=parts.path,
            query=parse_qs(parts.query, keep_blank_values=True),
            headers=self.headers,
            body=body,
            raw_query=parts.query,
        )
        if request.path.startswith("/_admin/"):
            self._send(self._admin(request))
            return
        started = time.perf_counter()
        source = request.path.strip("/").split("/", 1)[0]
        self.server.stats.started(source)
        try:
            if self.server.config.latency:
                time.sleep(self.server.config.latency)
            response = self._serve(request)
        finally:
            self.server.stats.finished(source)
        elapsed_ms = (time.perf_counter() - started) * 1000
        # Lets a benchmark tell server time from client time without instrumenting either.
        timing = ("Server-Timing", f"app;dur={elapsed_ms:.1f}")
        response = replace(response, headers=(*response.headers, timing))
        self.server.stats.record(request.path, response.status)
        self._send(response)

    def _serve(self, request: Request) -> Response:
        """Answer a non-admin request, applying a pending fault if one matches."""
        fault = self.server.faults.take(request.path)
        if fault is not None:
            if fault.mode is FaultMode.RATE_LIMITED:
                return Response.error(
                    429, "rate limited (injected)", (("Retry-After", f"{fault.retry_after:g}"),)
                )
            if fault.mode is FaultMode.SERVER_ERROR:
                return Response.error(500, "internal server error (injected)")
            if fault.mode is FaultMode.SLOW:
                time.sleep(fault.delay)
        response = self._route(request)
        if fault is not None and fault.mode is FaultMode.TRUNCATE:
            body = response.body
            response = Response(response.status, (body[: len(body) // 2],), response.headers)
        return response

    def _route(self, request: Request) -> Response:
        """Find the endpoint, check method and auth, and run it."""
        if request.path == "/health":
            if request.method != "GET":
                return Response.error(405, "method not allowed", (("Allow", "GET"),))
            return Response.json(200, {"status": "ok"})
        route = _ROUTES.get(request.path)
        if route is None:
            return Response.error(404, f"not found: {request.path}")
        if request.method != "GET":
            return Response.error(405, "method not allowed", (("Allow", "GET"),))
        realm, endpoint = route
        config = self.server.config
        if not _authorised(config, realm, request.headers):
            if realm == _SHOP:
                return Response.error(
                    401,
                    "missing or invalid bearer token (Authorization: Bearer <token>)",
                    (("WWW-Authenticate", 'Bearer realm="shop"'),),
                )
            return Response.error(401, "missing or invalid API key (X-API-Key header)")
        try:
            return endpoint(config, request)
        except BadRequest as exc:
            return Response.error(400, str(exc))
        except Exception as exc:
            traceback.print_exc(file=sys.stderr)
            return Response.error(500, f"internal error: {type(exc).__name__}: {exc}")

    def _admin(self, request: Request) -> Response:
        """``/_admin/faults`` and ``/_admin/stats``: unauthenticated, never faulted or counted."""
        server = self.server
        if request.path == "/_admin/faults":
            if request.method == "GET":
                return Response.json(200, {"faults": server.faults.pending()})
            if request.method == "DELETE":
                # ?path=P: only the faults injected on P
                only = dict(parse_qsl(request.raw_query, keep_blank_values=True)).get("path")
                return Response.json(200, {"cleared": server.faults.clear(only)})
            if request.method == "POST":
                if len(request.body) > _MAX_ADMIN_BODY:
                    return Response.error(400, "body too large")
                try:
                    fault = Fault.from_json(orjson.loads(request.body or b"null"))
                except orjson.JSONDecodeError:
                    return Response.error(400, "body must be JSON")
                except ValueError as exc:
                    return Response.error(400, str(exc))
                server.faults.add(fault)
                return Response.json(200, {"faults": server.faults.pending()})
            return Response.error(405, "method not allowed", (("Allow", "GET, POST, DELETE"),))
        if request.path == "/_admin/stats":
            if request.method == "GET":
                return Response.json(200, server.stats.snapshot())
            if request.method == "DELETE":
                server.stats.reset()
                return Response.json(200, server.stats.snapshot())
            return Response.error(405, "method not allowed", (("Allow", "GET, DELETE"),))
        return Response.error(404, f"not found: {request.path}")

    def _send(self, response: Response) -> None:
        """Write status, headers (always ``Content-Length``) and body."""
        try:
            self.send_response(response.status, HTTPStatus(response.status).phrase)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(response.content_length))
            for name, value in response.headers:
                self.send_header(name, value)
            self.end_headers()
            for part in response.parts:
                self.wfile.write(part)
        except (ConnectionError, TimeoutError):
            self.close_connection = True


def serve(
    config: SampleApiConfig | None = None,
    host: str = "127.0.0.1",
    port: int = 8765,
    *,
    log_requests: bool = False,
) -> None:
    """Run the server in the foreground until interrupted.

    Prints exactly one line, ``sample-api listening on http://HOST:PORT``, once the socket is
    bound (with the real port when ``port`` is 0), so a parent process can wait for it.
    """
    server = SampleApiServer((host, port), config, log_requests=log_requests)
    try:
        print(f"sample-api listening on {server.url}", flush=True)
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
