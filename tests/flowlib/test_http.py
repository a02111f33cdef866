"""The one HTTP path, against the real bundled sample server (in a thread) and its faults."""

import gc
import threading
import weakref
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pyarrow as pa
import pytest

from devtools.sample_api import SampleApi
from flowlib.arrow import records_to_table
from flowlib.http import (
    Cursor,
    LinkHeader,
    PageNumber,
    SourceClient,
    SourceError,
    SourceSpec,
    backoff_seconds,
    retry_after_seconds,
)
from flowlib.settings import SourceSettings

SHOP = SourceSpec("shop", auth="bearer")
LEDGER = SourceSpec("ledger", auth="header", auth_header="X-API-Key")


@pytest.fixture(scope="module")
def api() -> Iterator[SampleApi]:
    with SampleApi.start_in_thread(port=0) as server:
        yield server


@pytest.fixture(autouse=True)
def _clear(api):
    api.clear_faults()
    yield
    api.clear_faults()


class Sleeps(list):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def client(api, spec=SHOP, sleeps=None, **settings) -> SourceClient:
    token = api.shop_token if spec is SHOP else api.ledger_key
    conf = SourceSettings(url=api.url, **{"backoff_seconds": 0.01, **settings})
    return SourceClient(
        spec=spec, settings=conf, token=token, sleep=sleeps if sleeps is not None else Sleeps()
    )


def test_retry_after_parsing():
    assert retry_after_seconds("7") == 7.0
    assert retry_after_seconds(None) is None
    assert retry_after_seconds("soon") is None
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    assert 25 < retry_after_seconds(later) <= 30


def test_backoff_grows_with_jitter_and_is_capped():
    assert backoff_seconds(0, 1.0, 60, lambda: 0.0) == 0.5
    assert backoff_seconds(3, 1.0, 60, lambda: 1.0) == 8.0
    assert backoff_seconds(10, 1.0, 60, lambda: 1.0) == 60.0


def test_page_number_reaches_every_row_once(api):
    with client(api) as c:
        rows = c.records("/shop/v1/products", {"as_of": "2026-11-24"}, PageNumber(page_size=300))
    ids = [r["product_id"] for r in rows]
    assert ids == list(range(1, len(ids) + 1))
    assert len(ids) == 2500


def test_cursor_pagination_covers_the_window(api):
    params = {"updated_after": "2026-11-24T00:00:00Z", "updated_before": "2026-11-24T06:00:00Z"}
    with client(api) as c:
        small = c.records("/shop/v1/orders", params, Cursor(limit=50))
        big = c.records("/shop/v1/orders", params, Cursor(limit=5000))
    assert small == big
    assert len(small) > 100
    keys = [(r["updated_at"], r["order_id"]) for r in small]
    assert keys == sorted(keys)
    assert all("2026-11-24T00:00:00Z" < r["updated_at"] <= "2026-11-24T06:00:00Z" for r in small)


def test_link_header_pagination(api):
    with client(api, LEDGER) as c:
        pages = list(
            c.pages("/ledger/v1/fx-rates", {"date": "2026-11-24"}, LinkHeader(per_page=40))
        )
    assert len(pages) > 1
    quotes = [r["quote"] for p in pages for r in p.records]
    assert quotes == sorted(quotes) and len(set(quotes)) == len(quotes)


def test_a_429_storm_is_survived_honouring_retry_after(api):
    api.inject_fault("/shop/v1/products", "429", count=3, retry_after=2)
    sleeps = Sleeps()
    with client(api, sleeps=sleeps) as c:
        rows = c.records("/shop/v1/products", {"as_of": "2026-11-24"}, PageNumber(page_size=1000))
    assert len(rows) == 2500
    assert sleeps == [2.0, 2.0, 2.0]


def test_500s_are_retried_with_backoff(api):
    api.inject_fault("/shop/v1/products", "500", count=2)
    sleeps = Sleeps()
    with client(api, sleeps=sleeps, backoff_seconds=1.0) as c:
        c.records("/shop/v1/products", {"as_of": "2026-11-24"}, PageNumber(page_size=1000))
    assert len(sleeps) == 2
    assert 0.5 <= sleeps[0] <= 1.0 and 1.0 <= sleeps[1] <= 2.0


def test_retries_exhausted_name_url_and_page(api):
    api.inject_fault("/shop/v1/products", "500", count=50)
    with client(api, max_attempts=3) as c, pytest.raises(SourceError) as err:
        c.records("/shop/v1/products", {"as_of": "2026-11-24"}, PageNumber(page_size=1000))
    message = str(err.value)
    assert "HTTP 500 after 3 attempts" in message
    assert "/shop/v1/products?as_of=2026-11-24&page=1" in message
    assert "page 1" in message


def test_a_401_fails_at_once_and_says_what_to_check(api):
    conf = SourceSettings(url=api.url)
    sleeps = Sleeps()
    with SourceClient(spec=SHOP, settings=conf, token="wrong", sleep=sleeps) as c:
        with pytest.raises(SourceError, match="HTTP 401.*check the shop API credentials"):
            c.records("/shop/v1/products", {"as_of": "2026-11-24"}, PageNumber())
    assert sleeps == []


def test_truncated_json_fails_naming_the_page(api):
    api.inject_fault("/ledger/v1/transactions", "truncate", count=1)
    with client(api, LEDGER) as c, pytest.raises(SourceError, match="not valid JSON") as err:
        c.records(
            "/ledger/v1/transactions",
            {"date": "2026-11-24"},
            PageNumber(page_size=100),
            max_pages=1,
        )
    assert "page 1" in str(err.value) and "ledger" in str(err.value)


def test_connection_errors_are_retried_then_reported():
    conf = SourceSettings(url="http://127.0.0.1:9", max_attempts=2, backoff_seconds=0.01)
    sleeps = Sleeps()
    with SourceClient(spec=SHOP, settings=conf, token="t", sleep=sleeps) as c:
        with pytest.raises(SourceError, match="ConnectError.*after 2 attempts"):
            c.get_json("/shop/v1/products", {}, "page 1")
    assert len(sleeps) == 1


class InFlight:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.now = 0
        self.peak = 0


class CountingTransport(httpx.HTTPTransport):
    """The real transport, counting requests in flight at once across clients."""

    def __init__(self, counter: InFlight) -> None:
        super().__init__()
        self.counter = counter

    def handle_request(self, request):
        with self.counter.lock:
            self.counter.now += 1
            self.counter.peak = max(self.counter.peak, self.counter.now)
        try:
            return super().handle_request(request)
        finally:
            with self.counter.lock:
                self.counter.now -= 1


def test_concurrency_limit_holds_across_threads(api):
    api.inject_fault("/shop/v1/products", "slow", count=12, delay=0.2)
    counter = InFlight()
    conf = SourceSettings(url=api.url, max_concurrency=2)

    def fetch() -> None:
        with SourceClient(
            spec=SHOP, settings=conf, token=api.shop_token, transport=CountingTransport(counter)
        ) as c:
            c.get_json("/shop/v1/products", {"as_of": "2026-11-24"}, "page 1")

    threads = [threading.Thread(target=fetch) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert counter.peak == 2


def test_pages_are_freed_by_reference_counting_not_left_to_the_cyclic_gc(api):
    # httpx ties each response to its stream in a cycle; left to the cyclic GC, a run kept every
    # page it had read (peak memory grew with the day's volume: benchmarks/README.md).
    gc.collect()
    gc.disable()
    try:
        with client(api, LEDGER) as c:
            params = {"date": "2026-11-24", "shard": 0, "shards": 1}
            pages = c.pages("/ledger/v1/transactions", params, PageNumber(page_size=500))
            rows = sum(len(page.records) for page in pages)
            response = c.request("/ledger/v1/transactions", {**params, "page_size": 10}, "page 1")
            assert len(response.json()["data"]) == 10  # the body is still readable
            last = weakref.ref(response)
            del response
            assert last() is None
            dead = [
                o
                for o in gc.get_objects()
                if isinstance(o, httpx.Response) and "/ledger/v1/transactions" in str(o.url)
            ]
    finally:
        gc.enable()
    assert rows > 500 * 2, "the test needs several pages"
    assert dead == []


TXN_SCHEMA = pa.schema(
    [("txn_id", pa.int64()), ("amount", pa.float64()), ("currency", pa.string())]
)


def test_batches_hold_the_same_rows_as_the_records(api):
    params = {"date": "2026-11-24", "shard": 1, "shards": 3}
    with client(api, LEDGER) as c:
        records = c.records("/ledger/v1/transactions", params, PageNumber(page_size=70))
        batches = list(c.batches("/ledger/v1/transactions", params, PageNumber(70), TXN_SCHEMA))
    assert len(batches) > 2
    assert pa.Table.from_batches(batches).equals(records_to_table(records, TXN_SCHEMA))


def test_batches_follow_a_cursor_and_stop_at_max_pages(api):
    params = {"updated_after": "2026-11-24T00:00:00Z", "updated_before": "2026-11-24T06:00:00Z"}
    schema = pa.schema([("order_id", pa.int64()), ("updated_at", pa.string())])
    with client(api) as c:
        records = c.records("/shop/v1/orders", params, Cursor(limit=50))
        batches = list(c.batches("/shop/v1/orders", params, Cursor(limit=50), schema))
        first = list(c.batches("/shop/v1/orders", params, Cursor(limit=50), schema, max_pages=1))
    assert pa.Table.from_batches(batches).equals(records_to_table(records, schema))
    assert [b.num_rows for b in first] == [50]


def test_batches_read_through_pages_for_a_paginator_without_batch_pages(api):
    schema = pa.schema([("quote", pa.string())])
    with client(api, LEDGER) as c:
        quotes = [
            q
            for b in c.batches(
                "/ledger/v1/fx-rates", {"date": "2026-11-24"}, LinkHeader(40), schema
            )
            for q in b.column("quote").to_pylist()
        ]
    assert len(quotes) > 40 and quotes == sorted(set(quotes))


def test_a_truncated_page_fails_naming_source_and_page_on_the_arrow_path_too(api):
    api.inject_fault("/ledger/v1/transactions", "truncate", count=1)
    params = {"date": "2026-11-24"}
    with client(api, LEDGER) as c, pytest.raises(SourceError, match="not valid JSON") as err:
        list(c.batches("/ledger/v1/transactions", params, PageNumber(100), TXN_SCHEMA))
    assert "page 1" in str(err.value) and "ledger" in str(err.value)


@pytest.mark.parametrize(
    ("spec", "path", "params"),
    [
        (SHOP, "/shop/v1/products", {"as_of": "2026-11-24"}),
        (LEDGER, "/ledger/v1/fx-rates", {"date": "2026-11-24"}),
    ],
)
def test_repr_shows_no_token(api, spec, path, params):
    secret = api.shop_token if spec is SHOP else api.ledger_key
    with client(api, spec) as c:
        assert secret not in repr(c)
        assert secret not in repr(c._client.auth)  # the object that holds the header
        assert secret not in repr(c._client.headers)  # an X-API-Key default header would show
        assert "***" in repr(c._client.auth)
        # and the credential still reaches the API (a missing one is a 401, raised here)
        assert c.get_json(path, params, "page 1")


class LinkServer:
    """A tiny real HTTP server: a page whose ``Link`` names ``next_link``; records each hit."""

    def __init__(self) -> None:
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        outer = self
        self.next_link: str | None = None
        self.hits: list[tuple[str, dict[str, str]]] = []

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.hits.append((self.path, dict(self.headers)))
                body = b'[{"quote": "EUR"}]'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                if outer.next_link and "page=2" not in self.path:
                    self.send_header("Link", f'<{outer.next_link}>; rel="next"')
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def link_servers() -> Iterator[tuple[LinkServer, LinkServer]]:
    source, elsewhere = LinkServer(), LinkServer()
    yield source, elsewhere
    source.close()
    elsewhere.close()


@pytest.mark.parametrize(
    "foreign",
    [
        "http://127.0.0.1:{other_port}/ledger/v1/fx-rates?page=2",  # another port
        "http://localhost:{port}/ledger/v1/fx-rates?page=2",  # another host (same machine)
        "https://127.0.0.1:{port}/ledger/v1/fx-rates?page=2",  # another scheme
    ],
)
def test_a_link_to_another_origin_is_refused_and_gets_no_credential(link_servers, foreign):
    source, elsewhere = link_servers
    source.next_link = foreign.format(port=source.port, other_port=elsewhere.port)
    conf = SourceSettings(url=source.url, max_attempts=1)
    with SourceClient(spec=LEDGER, settings=conf, token="k3y-value") as c:
        with pytest.raises(SourceError) as err:
            list(c.pages("/ledger/v1/fx-rates", {"date": "2026-11-24"}, LinkHeader()))
    message = str(err.value)
    assert "source 'ledger'" in message
    assert source.next_link in message
    assert f"LEDGER_API_URL={source.url}" in message
    assert "page 1" in message
    assert "k3y-value" not in message
    assert len(source.hits) == 1  # page 1 only: the foreign page was never requested
    assert source.hits[0][1].get("X-API-Key") == "k3y-value"
    assert elsewhere.hits == []


def test_a_relative_or_same_origin_link_is_followed(link_servers):
    source, _ = link_servers
    for link in ("/ledger/v1/fx-rates?page=2", f"{source.url}/ledger/v1/fx-rates?page=2"):
        source.hits.clear()
        source.next_link = link
        with SourceClient(spec=LEDGER, settings=SourceSettings(url=source.url), token="k") as c:
            pages = list(c.pages("/ledger/v1/fx-rates", {}, LinkHeader()))
        assert [p.number for p in pages] == [1, 2]
        assert [h[1].get("X-API-Key") for h in source.hits] == ["k", "k"]
