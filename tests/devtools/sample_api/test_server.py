"""The sample API over HTTP: auth, every pagination style, faults, errors, stats."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from datetime import date
from urllib.parse import parse_qs, urlsplit

import httpx
import orjson
import pytest

from devtools.sample_api import SampleApi, data

PER_DAY = 2000
PRODUCTS = 250
DATE = "2026-11-25"


@pytest.fixture(scope="module")
def api() -> Iterator[SampleApi]:
    with SampleApi.start_in_thread(
        transactions_per_day=PER_DAY, products=PRODUCTS, shop_token="tok", ledger_key="key"
    ) as running:
        yield running


@pytest.fixture
def client(api: SampleApi) -> Iterator[httpx.Client]:
    api.clear_faults()
    api.reset_stats()
    with httpx.Client(base_url=api.url, timeout=10) as c:
        yield c
    api.clear_faults()


def shop(api: SampleApi) -> dict[str, str]:
    return api.shop_headers


def ledger(api: SampleApi) -> dict[str, str]:
    return api.ledger_headers


# --------------------------------------------------------------------------- basics


def test_health_and_url(api, client):
    assert api.url.startswith("http://127.0.0.1:")
    assert api.port > 0
    assert (api.shop_token, api.ledger_key) == ("tok", "key")
    r = client.get("/health")
    assert r.status_code == 200 and r.json() == {"status": "ok"}
    assert r.headers["content-type"] == "application/json"


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/shop/v1/products", {"as_of": DATE}),
        (
            "/shop/v1/orders",
            {"updated_after": f"{DATE}T00:00:00Z", "updated_before": f"{DATE}T01:00:00Z"},
        ),
        ("/ledger/v1/transactions", {"date": DATE}),
        ("/ledger/v1/fx-rates", {"date": DATE}),
    ],
)
def test_auth_required(api, client, path, params):
    good = shop(api) if path.startswith("/shop") else ledger(api)
    assert client.get(path, params=params, headers=good).status_code == 200
    assert client.get(path, params=params).status_code == 401
    wrong = {"Authorization": "Bearer nope"} if path.startswith("/shop") else {"X-API-Key": "nope"}
    r = client.get(path, params=params, headers=wrong)
    assert r.status_code == 401 and "error" in r.json()
    # The other API's credentials do not work either.
    other = ledger(api) if path.startswith("/shop") else shop(api)
    assert client.get(path, params=params, headers=other).status_code == 401


def test_bearer_scheme_case_insensitive(api, client):
    r = client.get(
        "/shop/v1/products", params={"as_of": DATE}, headers={"Authorization": "bearer tok"}
    )
    assert r.status_code == 200


def test_unknown_path_and_method(api, client):
    r = client.get("/shop/v2/products", headers=shop(api))
    assert r.status_code == 404 and "error" in r.json()
    r = client.post("/shop/v1/products", headers=shop(api))
    assert r.status_code == 405


def test_keep_alive_serves_several_requests_on_one_connection(api):
    request = (
        f"GET /ledger/v1/fx-rates?date={DATE}&per_page=2 HTTP/1.1\r\n"
        f"Host: test\r\nX-API-Key: key\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", api.port), timeout=5) as sock:
        stream = sock.makefile("rb")
        for _ in range(3):
            sock.sendall(request)
            status = stream.readline()
            assert status.startswith(b"HTTP/1.1 200")
            length = None
            while (line := stream.readline()) not in (b"\r\n", b""):
                name, _, value = line.decode().partition(":")
                if name.lower() == "content-length":
                    length = int(value)
            assert length is not None
            assert len(orjson.loads(stream.read(length))) == 2


# --------------------------------------------------------------------------- pagination


def test_products_page_number_pagination_reaches_every_row_once(api, client):
    seen: list[int] = []
    page = 1
    while True:
        r = client.get(
            "/shop/v1/products",
            params={"as_of": DATE, "page": page, "page_size": 60},
            headers=shop(api),
        )
        body = r.json()
        assert body["total"] == PRODUCTS and body["total_pages"] == 5 and body["page_size"] == 60
        assert body["page"] == page
        seen += [row["product_id"] for row in body["data"]]
        if page >= body["total_pages"]:
            break
        page += 1
    assert seen == list(range(1, PRODUCTS + 1))
    past = client.get(
        "/shop/v1/products", params={"as_of": DATE, "page": 6, "page_size": 60}, headers=shop(api)
    ).json()
    assert past["data"] == [] and past["total_pages"] == 5


def test_orders_cursor_pagination_reaches_every_row_once(api, client):
    window = {"updated_after": "2026-11-25T10:00:00Z", "updated_before": "2026-11-25T14:00:00Z"}
    expected = data.orders_page(
        data.parse_ts(window["updated_after"]),
        data.parse_ts(window["updated_before"]),
        120,
        5000,
    )
    expected_ids = [row["order_id"] for row in orjson.loads(data.rows_json(expected.frame))]
    assert 400 < len(expected_ids) < 600
    got: list[int] = []
    params: dict[str, str | int] = {**window, "limit": 100}
    pages = 0
    while True:
        body = client.get("/shop/v1/orders", params=params, headers=shop(api)).json()
        pages += 1
        got += [row["order_id"] for row in body["data"]]
        if body["next_cursor"] is None:
            break
        params = {**window, "limit": 100, "cursor": body["next_cursor"]}
    assert got == expected_ids
    assert pages == -(-len(expected_ids) // 100)


def test_orders_cursor_alone_continues_the_window(api, client):
    window = {"updated_after": "2026-11-25T10:00:00Z", "updated_before": "2026-11-25T11:00:00Z"}
    first = client.get("/shop/v1/orders", params={**window, "limit": 10}, headers=shop(api)).json()
    with_window = client.get(
        "/shop/v1/orders",
        params={**window, "limit": 10, "cursor": first["next_cursor"]},
        headers=shop(api),
    ).json()
    alone = client.get(
        "/shop/v1/orders",
        params={"limit": 10, "cursor": first["next_cursor"]},
        headers=shop(api),
    ).json()
    assert alone == with_window
    assert not {r["order_id"] for r in first["data"]} & {r["order_id"] for r in alone["data"]}


@pytest.mark.parametrize("shards", [1, 3, 4])
def test_transactions_shards_and_pages_reach_every_row_once(api, client, shards):
    seen: list[int] = []
    for shard in range(shards):
        page = 1
        while True:
            body = client.get(
                "/ledger/v1/transactions",
                params={
                    "date": DATE,
                    "shard": shard,
                    "shards": shards,
                    "page": page,
                    "page_size": 300,
                },
                headers=ledger(api),
            ).json()
            ids = [row["txn_id"] for row in body["data"]]
            assert all(i % shards == shard for i in ids)
            seen += ids
            if page >= body["total_pages"]:
                break
            page += 1
    base = (date.fromisoformat(DATE) - data.EPOCH_DATE).days * 10**9
    assert sorted(seen) == [base + n for n in range(1, PER_DAY + 1)]
    assert len(set(seen)) == len(seen)


def test_transactions_totals_count_the_shard(api, client):
    totals = []
    for shard in range(3):
        body = client.get(
            "/ledger/v1/transactions",
            params={"date": DATE, "shard": shard, "shards": 3, "page_size": 10},
            headers=ledger(api),
        ).json()
        totals.append(body["total"])
        assert body["total_pages"] == -(-body["total"] // 10)
    assert sum(totals) == PER_DAY


def test_fx_rates_link_header_pagination(api, client):
    url = f"/ledger/v1/fx-rates?date={DATE}&per_page=40"
    quotes: list[str] = []
    pages = 0
    while url:
        r = client.get(url, headers=ledger(api))
        assert r.status_code == 200
        rows = r.json()
        assert isinstance(rows, list)
        quotes += [row["quote"] for row in rows]
        pages += 1
        link = r.headers.get("link")
        if link is None:
            break
        assert link.endswith('>; rel="next"')
        url = link[1 : link.index(">")]
        parts = urlsplit(url)
        assert f"{parts.scheme}://{parts.netloc}" == api.url  # absolute, from the Host header
        query = parse_qs(parts.query)
        assert query["page"] == [str(pages + 1)] and query["per_page"] == ["40"]
        assert query["date"] == [DATE]
    assert quotes == sorted(set(quotes)) and len(quotes) == len(data.FX_QUOTES)
    assert pages == -(-len(data.FX_QUOTES) // 40)


def test_fx_rates_link_uses_host_header(api, client):
    r = client.get(
        f"/ledger/v1/fx-rates?date={DATE}",
        headers={**ledger(api), "Host": "proxy.example:9000"},
    )
    assert r.headers["link"].startswith("<http://proxy.example:9000/ledger/v1/fx-rates?")


def test_same_request_same_bytes(api, client):
    params = {"date": DATE, "page": 2, "page_size": 100}
    a = client.get("/ledger/v1/transactions", params=params, headers=ledger(api)).content
    b = client.get("/ledger/v1/transactions", params=params, headers=ledger(api)).content
    assert a == b
    assert orjson.loads(a)["data"] == orjson.loads(
        data.rows_json(data.transactions_page(date.fromisoformat(DATE), PER_DAY, 0, 1, 2, 100))
    )


# --------------------------------------------------------------------------- bad requests


@pytest.mark.parametrize(
    ("path", "params", "named"),
    [
        ("/shop/v1/products", {}, "as_of"),
        ("/shop/v1/products", {"as_of": "25.11.2026"}, "as_of"),
        ("/shop/v1/products", {"as_of": DATE, "page": "0"}, "page"),
        ("/shop/v1/products", {"as_of": DATE, "page_size": "1001"}, "page_size"),
        ("/shop/v1/products", {"as_of": DATE, "page": "x"}, "page"),
        ("/shop/v1/orders", {"updated_before": "2026-11-25T00:00:00Z"}, "updated_after"),
        ("/shop/v1/orders", {"updated_after": "2026-11-25T00:00:00Z"}, "updated_before"),
        (
            "/shop/v1/orders",
            {"updated_after": "soon", "updated_before": "2026-11-25T00:00:00Z"},
            "updated_after",
        ),
        (
            "/shop/v1/orders",
            {"updated_after": "2026-11-25T02:00:00Z", "updated_before": "2026-11-25T01:00:00Z"},
            "updated_after",
        ),
        (
            "/shop/v1/orders",
            {
                "updated_after": "2026-11-25T00:00:00Z",
                "updated_before": "2026-11-25T01:00:00Z",
                "limit": "5001",
            },
            "limit",
        ),
        ("/shop/v1/orders", {"cursor": "garbage"}, "cursor"),
        ("/ledger/v1/transactions", {}, "date"),
        ("/ledger/v1/transactions", {"date": "2025-12-31"}, "date"),
        ("/ledger/v1/transactions", {"date": DATE, "shards": "0"}, "shards"),
        ("/ledger/v1/transactions", {"date": DATE, "shard": "3", "shards": "3"}, "shard"),
        ("/ledger/v1/transactions", {"date": DATE, "shard": "-1"}, "shard"),
        ("/ledger/v1/transactions", {"date": DATE, "page_size": "100001"}, "page_size"),
        ("/ledger/v1/fx-rates", {}, "date"),
        ("/ledger/v1/fx-rates", {"date": DATE, "per_page": "501"}, "per_page"),
    ],
)
def test_bad_params_give_400_naming_the_parameter(api, client, path, params, named):
    headers = shop(api) if path.startswith("/shop") else ledger(api)
    r = client.get(path, params=params, headers=headers)
    assert r.status_code == 400, r.text
    assert named in r.json()["error"]


def test_cursor_from_another_window_is_rejected(api, client):
    window = {"updated_after": "2026-11-25T10:00:00Z", "updated_before": "2026-11-25T11:00:00Z"}
    first = client.get("/shop/v1/orders", params={**window, "limit": 5}, headers=shop(api)).json()
    r = client.get(
        "/shop/v1/orders",
        params={**window, "updated_before": "2026-11-25T12:00:00Z", "cursor": first["next_cursor"]},
        headers=shop(api),
    )
    assert r.status_code == 400 and "cursor" in r.json()["error"]


# --------------------------------------------------------------------------- faults


def test_fault_429_with_retry_after(api, client):
    api.inject_fault("/shop/v1/orders", "429", 2, retry_after=7)
    params = {"updated_after": f"{DATE}T00:00:00Z", "updated_before": f"{DATE}T00:10:00Z"}
    for _ in range(2):
        r = client.get("/shop/v1/orders", params=params, headers=shop(api))
        assert r.status_code == 429
        assert r.headers["retry-after"] == "7"
        assert "error" in r.json()
    assert client.get("/shop/v1/orders", params=params, headers=shop(api)).status_code == 200
    assert api.stats()["requests"]["/shop/v1/orders"] == {"429": 2, "200": 1}


def test_fault_500_only_hits_matching_prefix(api, client):
    api.inject_fault("/ledger", "500", 1)
    assert (
        client.get("/shop/v1/products", params={"as_of": DATE}, headers=shop(api)).status_code
        == 200
    )
    r = client.get("/ledger/v1/fx-rates", params={"date": DATE}, headers=ledger(api))
    assert r.status_code == 500 and "error" in r.json()
    assert client.get("/ledger/v1/fx-rates", params={"date": DATE}, headers=ledger(api)).is_success


def test_fault_slow(api, client):
    api.inject_fault("/ledger/v1/fx-rates", "slow", 1, delay=0.3)
    started = time.perf_counter()
    r = client.get("/ledger/v1/fx-rates", params={"date": DATE}, headers=ledger(api))
    assert r.status_code == 200 and len(r.json()) == 50
    assert time.perf_counter() - started >= 0.3
    started = time.perf_counter()
    client.get("/ledger/v1/fx-rates", params={"date": DATE}, headers=ledger(api))
    assert time.perf_counter() - started < 0.3


def test_fault_truncate(api, client):
    api.inject_fault("/ledger/v1/transactions", "truncate", 1)
    params = {"date": DATE, "page_size": 100}
    r = client.get("/ledger/v1/transactions", params=params, headers=ledger(api))
    full = client.get("/ledger/v1/transactions", params=params, headers=ledger(api))
    assert r.status_code == 200
    assert int(r.headers["content-length"]) == len(r.content) == len(full.content) // 2
    assert full.content.startswith(r.content)
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(r.content)


def test_admin_faults_api(api, client):
    r = client.post(
        "/_admin/faults",
        json={"path": "/shop/v1/orders", "mode": "429", "count": 3, "retry_after": 1},
    )
    assert r.status_code == 200
    assert r.json()["faults"][0] | {"delay": 0} == {
        "path": "/shop/v1/orders",
        "mode": "429",
        "count": 3,
        "retry_after": 1,
        "delay": 0,
    }
    assert client.get("/_admin/faults").json()["faults"][0]["count"] == 3
    assert client.delete("/_admin/faults").json() == {"cleared": 1}
    assert client.get("/_admin/faults").json() == {"faults": []}
    bad = client.post("/_admin/faults", json={"path": "/x", "mode": "teapot", "count": 1})
    assert bad.status_code == 400 and "mode" in bad.json()["error"]
    bad = client.post("/_admin/faults", content=b"{nope")
    assert bad.status_code == 400
    # Admin endpoints need no auth, are never faulted and not counted.
    api.inject_fault("/", "500", 5)
    assert client.get("/_admin/stats").status_code == 200
    assert api.clear_faults() == 1


def test_faults_cleared_for_one_path_only(api):
    """A soak ends one source's storm while another's goes on."""
    api.inject_fault("/shop/v1/products", "500", 100)
    api.inject_fault("/ledger/v1/transactions", "500", 100)
    assert api.clear_faults("/shop/v1/products") == 1
    assert [f["path"] for f in api._client().get("/_admin/faults").json()["faults"]] == [
        "/ledger/v1/transactions"
    ]
    assert api.clear_faults() == 1


def test_faults_given_at_start(api):
    from devtools.sample_api import parse_fault_spec

    with (
        SampleApi.start_in_thread(
            faults=(parse_fault_spec("/shop/v1/products:429:1:0"),)
        ) as started,
        httpx.Client(base_url=started.url) as c,
    ):
        params = {"as_of": DATE}
        r = c.get("/shop/v1/products", params=params, headers=started.shop_headers)
        assert r.status_code == 429 and r.headers["retry-after"] == "0"
        assert c.get("/shop/v1/products", params=params, headers=started.shop_headers).is_success


# --------------------------------------------------------------------------- stats


def test_stats_count_per_path_and_status(api, client):
    client.get("/health")
    client.get("/ledger/v1/fx-rates", params={"date": DATE}, headers=ledger(api))
    client.get("/ledger/v1/fx-rates", params={"date": DATE})
    client.get("/ledger/v1/fx-rates", params={"date": DATE}, headers=ledger(api))
    client.get("/missing")
    stats = api.stats()
    assert stats["requests"] == {
        "/health": {"200": 1},
        "/ledger/v1/fx-rates": {"200": 2, "401": 1},
        "/missing": {"404": 1},
    }
    assert stats["total"] == 5
    api.reset_stats()
    assert api.stats() == {"requests": {}, "total": 0, "in_flight_max": {}}


def test_stats_count_the_most_requests_in_flight_per_source():
    from concurrent.futures import ThreadPoolExecutor

    with SampleApi.start_in_thread(latency=0.3) as slow, httpx.Client(base_url=slow.url) as c:
        with ThreadPoolExecutor(3) as pool:
            list(pool.map(lambda _: c.get("/ledger/v1/fx-rates", params={"date": DATE}), range(3)))
        c.get("/shop/v1/products", params={"as_of": DATE}, headers=slow.shop_headers)
        assert slow.stats()["in_flight_max"] == {"ledger": 3, "shop": 1}
        slow.reset_stats()
        assert slow.stats()["in_flight_max"] == {}


def test_server_timing_header(api, client):
    r = client.get("/ledger/v1/transactions", params={"date": DATE}, headers=ledger(api))
    assert r.headers["server-timing"].startswith("app;dur=")


# --------------------------------------------------------------------------- subprocess


def test_start_subprocess_reports_port_and_serves():
    with SampleApi.start_subprocess(
        port=0, transactions_per_day=50, ledger_key="sub-key", faults=()
    ) as api:
        assert api.port > 0
        with httpx.Client(base_url=api.url) as c:
            body = c.get(
                "/ledger/v1/transactions", params={"date": DATE}, headers=api.ledger_headers
            ).json()
            assert body["total"] == 50
            api.inject_fault("/ledger", "500", 1)
            assert (
                c.get(
                    "/ledger/v1/fx-rates", params={"date": DATE}, headers=api.ledger_headers
                ).status_code
                == 500
            )
            assert api.stats()["requests"]["/ledger/v1/fx-rates"] == {"500": 1}
        process = api._process
    assert process is not None and process.poll() is not None


def test_start_subprocess_failure_is_reported():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(RuntimeError, match="exited"):
            SampleApi.start_subprocess(port=port, startup_timeout=20)
