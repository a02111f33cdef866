"""Deterministic synthetic data for the sample source APIs.

Every value here is a pure function of (source, entity, date, row number): a row's fields come
from a counter-based hash of its key, never from a stateful random generator. That is what lets
the legacy flow and the migrated flow fetch byte-identical rows for the same window, in different
processes and on different machines, whatever page size each of them uses. Python's ``hash()`` is
salted per process and is therefore never used; salts come from BLAKE2b and per-row mixing is
SplitMix64's finaliser, vectorised with numpy over exactly the rows of the requested page.

Pages are returned as :class:`polars.DataFrame` so that :func:`rows_json` can serialise them
row-oriented in Rust; a dict-per-row loop in Python is an order of magnitude too slow for the
transactions benchmark (millions of rows per run).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import cache
from typing import Any

import numpy as np
import orjson
import polars as pl
from numpy.typing import NDArray

__all__ = [
    "CURRENCIES",
    "EPOCH",
    "EPOCH_DATE",
    "FX_QUOTES",
    "MAX_ORDER_DELAY_S",
    "OrderCursor",
    "OrdersPage",
    "ShardRange",
    "decode_order_cursor",
    "encode_order_cursor",
    "format_ts",
    "fx_rates_page",
    "hash_u64",
    "order_created_s",
    "order_ids_created_between",
    "order_updated_s",
    "orders_page",
    "orders_rows",
    "parse_ts",
    "products_page",
    "rows_json",
    "rows_json_parts",
    "shard_range",
    "total_pages",
    "transactions_page",
]

EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
"""Start of the synthetic world: the first order is created here and day 0 of the ledger."""
EPOCH_DATE = EPOCH.date()
_EPOCH_S = int(EPOCH.timestamp())
MAX_ORDER_DELAY_S = 90 * 60
"""An order's ``updated_at`` is its ``created_at`` plus 0..this many seconds (inclusive)."""
TXN_DAY_STRIDE = 10**9
"""``txn_id = days_since_epoch * TXN_DAY_STRIDE + n``; caps transactions per day below 10**9."""
SECONDS_PER_DAY = 86_400

CURRENCIES: tuple[str, ...] = ("EUR", "USD", "CHF")
"""Currencies used by the shop (products and orders)."""
_LEDGER_CURRENCIES: tuple[str, ...] = ("EUR", "EUR", "EUR", "EUR", "USD", "USD", "CHF", "GBP")
_PRODUCT_CATEGORIES: tuple[str, ...] = (
    "electronics",
    "home",
    "garden",
    "toys",
    "sports",
    "books",
    "beauty",
    "grocery",
)
_NAME_ADJECTIVES: tuple[str, ...] = (
    "Classic",
    "Compact",
    "Deluxe",
    "Eco",
    "Essential",
    "Handy",
    "Modern",
    "Nordic",
    "Premium",
    "Rustic",
    "Smart",
    "Sturdy",
    "Travel",
    "Ultra",
    "Vintage",
    "Wireless",
)
_NAME_MATERIALS: tuple[str, ...] = (
    "Aluminium",
    "Bamboo",
    "Canvas",
    "Ceramic",
    "Cotton",
    "Glass",
    "Leather",
    "Linen",
    "Oak",
    "Rubber",
    "Steel",
    "Wool",
)
_NAME_NOUNS: tuple[str, ...] = (
    "Backpack",
    "Bottle",
    "Chair",
    "Clock",
    "Desk Lamp",
    "Headphones",
    "Kettle",
    "Mug",
    "Notebook",
    "Planter",
    "Speaker",
    "Tent",
    "Towel",
    "Tray",
    "Umbrella",
    "Watch",
)
_ORDER_STATUSES: tuple[str, ...] = (
    "placed",
    "placed",
    "paid",
    "paid",
    "paid",
    "shipped",
    "shipped",
    "shipped",
    "shipped",
    "cancelled",
)
_COUNTERPARTIES: tuple[str, ...] = (
    "Acme GmbH",
    "Alpine Telecom",
    "Bergbahn AG",
    "Blue Harbour Ltd",
    "Bright Energy",
    "Cafe Central",
    "City Parking",
    "Cloudsoft Inc",
    "Delta Airlines",
    "Euro Rail",
    "Fjord Insurance",
    "Green Grocers",
    "Harbor Freight",
    "Helvetia Bank",
    "Iberia Foods",
    "Kiosk 24",
    "Lakeside Rentals",
    "Metro Market",
    "Nordwind Logistics",
    "Northwind Traders",
    "Office World",
    "Orbit Media",
    "Pioneer Payroll",
    "Quick Fuel",
    "Riverside Clinic",
    "Summit Sports",
    "Tax Office",
    "Urban Utilities",
    "Vista Hotels",
    "Zenith Software",
)
_TXN_CATEGORIES: tuple[str, ...] = (
    "fees",
    "groceries",
    "insurance",
    "interest",
    "payroll",
    "rent",
    "software",
    "transfer",
    "travel",
    "utilities",
)
FX_QUOTES: tuple[str, ...] = tuple(
    sorted(
        [
            "AED",
            "AFN",
            "ALL",
            "AMD",
            "ANG",
            "AOA",
            "ARS",
            "AUD",
            "AWG",
            "AZN",
            "BAM",
            "BBD",
            "BDT",
            "BGN",
            "BHD",
            "BIF",
            "BMD",
            "BND",
            "BOB",
            "BRL",
            "BSD",
            "BTN",
            "BWP",
            "BYN",
            "BZD",
            "CAD",
            "CDF",
            "CHF",
            "CLP",
            "CNY",
            "COP",
            "CRC",
            "CUP",
            "CVE",
            "CZK",
            "DJF",
            "DKK",
            "DOP",
            "DZD",
            "EGP",
            "ERN",
            "ETB",
            "FJD",
            "FKP",
            "GBP",
            "GEL",
            "GHS",
            "GIP",
            "GMD",
            "GNF",
            "GTQ",
            "GYD",
            "HKD",
            "HNL",
            "HTG",
            "HUF",
            "IDR",
            "ILS",
            "INR",
            "IQD",
            "IRR",
            "ISK",
            "JMD",
            "JOD",
            "JPY",
            "KES",
            "KGS",
            "KHR",
            "KMF",
            "KRW",
            "KWD",
            "KYD",
            "KZT",
            "LAK",
            "LBP",
            "LKR",
            "LRD",
            "LSL",
            "LYD",
            "MAD",
            "MDL",
            "MGA",
            "MKD",
            "MMK",
            "MNT",
            "MOP",
            "MRU",
            "MUR",
            "MVR",
            "MWK",
            "MXN",
            "MYR",
            "MZN",
            "NAD",
            "NGN",
            "NIO",
            "NOK",
            "NPR",
            "NZD",
            "OMR",
            "PAB",
            "PEN",
            "PGK",
            "PHP",
            "PKR",
            "PLN",
            "PYG",
            "QAR",
            "RON",
            "RSD",
            "RUB",
            "RWF",
            "SAR",
            "SBD",
            "SCR",
            "SDG",
            "SEK",
            "SGD",
            "SHP",
            "SLE",
            "SOS",
            "SRD",
            "SSP",
            "STN",
            "SZL",
            "THB",
            "TJS",
            "TMT",
            "TND",
            "TOP",
            "TRY",
            "TTD",
            "TWD",
            "TZS",
            "UAH",
            "UGX",
            "USD",
            "UYU",
            "UZS",
            "VES",
            "VND",
            "VUV",
            "WST",
            "XAF",
            "XCD",
            "XOF",
            "XPF",
            "YER",
            "ZAR",
            "ZMW",
        ]
    )
)
"""The ~150 quote currencies of the fx-rates endpoint (base is always EUR), sorted."""
_FX_ANCHORS_MICRO: dict[str, int] = {
    "USD": 1_085_000,
    "GBP": 855_000,
    "CHF": 945_000,
    "JPY": 162_300_000,
    "SEK": 11_450_000,
    "NOK": 11_700_000,
    "DKK": 7_460_000,
    "PLN": 4_310_000,
    "CAD": 1_475_000,
    "AUD": 1_640_000,
}
"""Realistic EUR rates (in millionths) for a few majors, so reports built on them look sane."""

Int64Array = NDArray[np.int64]
UInt64Array = NDArray[np.uint64]

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_S30 = np.uint64(30)
_S27 = np.uint64(27)
_S31 = np.uint64(31)


# --------------------------------------------------------------------------------------------
# hashing


@cache
def _salt(*parts: str) -> int:
    """Return a 64-bit salt for a key path such as ``("ledger", "transactions", "amount")``.

    BLAKE2b rather than ``hash()`` because the salt must be identical in every process.
    """
    digest = hashlib.blake2b("/".join(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little")


def hash_u64(keys: Int64Array | UInt64Array, *salt_parts: str) -> UInt64Array:
    """Hash integer row keys to well-mixed 64-bit values (SplitMix64 finaliser).

    Counter-based hashing makes each row's fields independent of which page or shard it is
    served in, which a seeded ``default_rng`` stream per page could not guarantee.

    Args:
        keys: Row numbers (any int64/uint64 array; negatives wrap, which is fine).
        *salt_parts: Names that select an independent stream, e.g. source, entity, field, date.

    Returns:
        One uint64 per key.
    """
    x = keys.astype(np.uint64, copy=True)
    x *= _GOLDEN
    x += np.uint64(_salt(*salt_parts))
    x ^= x >> _S30
    x *= _MIX1
    x ^= x >> _S27
    x *= _MIX2
    x ^= x >> _S31
    return x


def _uniform_int(keys: Int64Array, low: int, high: int, *salt_parts: str) -> Int64Array:
    """Return ints in ``[low, high]`` (inclusive), one per key, deterministically."""
    span = np.uint64(high - low + 1)
    return (hash_u64(keys, *salt_parts) % span).astype(np.int64) + low


def _pick(keys: Int64Array, choices: Sequence[str], *salt_parts: str) -> pl.Series:
    """Pick one of ``choices`` per key; repeated entries in ``choices`` act as weights."""
    idx = _uniform_int(keys, 0, len(choices) - 1, *salt_parts)
    return _vocab(tuple(choices)).gather(idx)


@cache
def _vocab(choices: tuple[str, ...]) -> pl.Series:
    """Return a cached Series of ``choices`` so picking is one vectorised ``gather``."""
    return pl.Series(values=list(choices), dtype=pl.String)


@cache
def _clock_strings() -> pl.Series:
    """Return ``"HH:MM:SS"`` for every second of a day, built once per process.

    Gathering from this table is several times faster than ``strftime`` on each row, which
    matters on the transactions hot path.
    """
    return pl.Series(
        values=[f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}" for s in range(SECONDS_PER_DAY)],
        dtype=pl.String,
    )


# --------------------------------------------------------------------------------------------
# time helpers


def parse_ts(value: str) -> int:
    """Parse an ISO 8601 timestamp into whole UTC epoch seconds (floored).

    Flooring keeps window filtering exact for second-precision data: for integer ``t``,
    ``t > x`` iff ``t > floor(x)`` and ``t <= x`` iff ``t <= floor(x)``. A missing offset is read
    as UTC because the contract speaks only UTC.

    Raises:
        ValueError: If the string is not ISO 8601.
    """
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    delta = parsed - EPOCH
    return _EPOCH_S + delta.days * SECONDS_PER_DAY + delta.seconds


def format_ts(epoch_s: int) -> str:
    """Format epoch seconds the way every timestamp in the APIs looks: ``2026-11-25T10:00:00Z``."""
    return datetime.fromtimestamp(epoch_s, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _format_ts_series(epoch_s: Int64Array) -> pl.Series:
    """Vectorised :func:`format_ts`."""
    return pl.from_epoch(pl.Series(values=epoch_s, dtype=pl.Int64), time_unit="s").dt.strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )


def _day_index(day: date) -> int:
    """Days since 2026-01-01 (negative before it)."""
    return (day - EPOCH_DATE).days


# --------------------------------------------------------------------------------------------
# pagination helpers


def total_pages(total: int, page_size: int) -> int:
    """Number of pages needed for ``total`` rows (0 when there are no rows)."""
    return -(-total // page_size)


@dataclass(frozen=True)
class ShardRange:
    """The rows of one shard of one day, as an arithmetic progression of row numbers.

    Rows of a shard are ``n = first, first + step, ...`` (``count`` of them), which lets a page be
    generated from its bounds alone instead of filtering the whole day.
    """

    first: int
    step: int
    count: int

    def page(self, page: int, page_size: int) -> Int64Array:
        """Return the row numbers ``n`` of 1-based ``page`` (empty past the last page)."""
        start = (page - 1) * page_size
        stop = min(start + page_size, self.count)
        if start >= stop:
            return np.empty(0, dtype=np.int64)
        return self.first + np.arange(start, stop, dtype=np.int64) * self.step


def shard_range(day: date, rows_per_day: int, shard: int, shards: int) -> ShardRange:
    """Locate the rows of ``shard`` among the day's rows ``n = 1..rows_per_day``.

    A row belongs to the shard when ``txn_id % shards == shard``; since ``txn_id = base + n`` this
    is ``n ≡ shard - base (mod shards)``, so the shard's rows are evenly spaced.

    Args:
        day: The ledger date.
        rows_per_day: Transactions per day (``--transactions-per-day``).
        shard: 0-based shard index, ``0 <= shard < shards``.
        shards: Number of shards (>= 1).
    """
    base = _day_index(day) * TXN_DAY_STRIDE
    first = (shard - base) % shards
    if first == 0:
        first = shards
    count = 0 if first > rows_per_day else (rows_per_day - first) // shards + 1
    return ShardRange(first=first, step=shards, count=count)


# --------------------------------------------------------------------------------------------
# serialisation


class _ChunkSink(io.RawIOBase):
    """A write-only file that keeps the byte strings it is given instead of copying them.

    Polars hands over the serialised page as one large ``bytes``; a ``BytesIO`` would copy it
    into its own buffer and copy it again on ``getvalue()``.
    """

    def __init__(self) -> None:
        super().__init__()
        self.chunks: list[bytes] = []

    def writable(self) -> bool:
        """Tell polars this is a writable file."""
        return True

    def write(self, chunk: Any, /) -> int:
        """Keep ``chunk`` (zero-copy when it already is ``bytes``)."""
        data = chunk if isinstance(chunk, bytes) else bytes(chunk)
        self.chunks.append(data)
        return len(data)


def rows_json_parts(frame: pl.DataFrame) -> tuple[bytes, ...]:
    """Serialise a page as a JSON array of row objects, as byte strings to send in order.

    Polars writes floats with the shortest round-tripping representation, so ``cents / 100``
    comes out as exactly two decimals (``12.3`` for 12.30) and the bytes are identical on every
    machine. It is several times faster than ``orjson`` on dicts built row by row.
    """
    if frame.height == 0:
        return (b"[]",)
    sink = _ChunkSink()
    frame.write_json(sink)
    return tuple(chunk for chunk in sink.chunks if chunk)


def rows_json(frame: pl.DataFrame) -> bytes:
    """Serialise a page as one JSON array of row objects (column order = key order)."""
    return b"".join(rows_json_parts(frame))


# --------------------------------------------------------------------------------------------
# shop: products


def products_page(as_of: date, product_count: int, page: int, page_size: int) -> pl.DataFrame:
    """Return products ``(page - 1) * page_size + 1 ..`` of the catalogue as of ``as_of``.

    Static attributes depend on ``product_id`` only; the price moves up to ±10 % a day around a
    per-product base price so that a snapshot taken on another date differs.
    """
    start = (page - 1) * page_size + 1
    stop = min(start + page_size - 1, product_count)
    ids = np.arange(start, stop + 1, dtype=np.int64) if start <= stop else np.empty(0, np.int64)
    base_cents = _uniform_int(ids, 199, 49_999, "shop", "products", "base_price")
    delta_bp = _uniform_int(ids, -1000, 1000, "shop", "products", "price", as_of.isoformat())
    price_cents = (base_cents * (10_000 + delta_bp) + 5_000) // 10_000
    name = (
        _pick(ids, _NAME_ADJECTIVES, "shop", "products", "adjective")
        + " "
        + _pick(ids, _NAME_MATERIALS, "shop", "products", "material")
        + " "
        + _pick(ids, _NAME_NOUNS, "shop", "products", "noun")
    )
    return pl.DataFrame(
        {
            "product_id": ids,
            "sku": "SKU-" + pl.Series(values=ids, dtype=pl.Int64).cast(pl.String).str.zfill(6),
            "name": name,
            "category": _pick(ids, _PRODUCT_CATEGORIES, "shop", "products", "category"),
            "price": price_cents / 100,
            "currency": _pick(ids, CURRENCIES, "shop", "products", "currency"),
            "active": _uniform_int(ids, 0, 9, "shop", "products", "active") != 0,
        }
    )


# --------------------------------------------------------------------------------------------
# shop: orders


def order_created_s(order_ids: Int64Array, orders_per_hour: int) -> Int64Array:
    """``created_at`` (epoch seconds) of each order: evenly spaced from 2026-01-01T00:00:00Z."""
    return _EPOCH_S + ((order_ids - 1) * 3600) // orders_per_hour


def order_updated_s(order_ids: Int64Array, orders_per_hour: int) -> Int64Array:
    """``updated_at`` (epoch seconds) of each order: ``created_at`` plus 0..90 minutes."""
    delay = _uniform_int(order_ids, 0, MAX_ORDER_DELAY_S, "shop", "orders", "delay")
    return order_created_s(order_ids, orders_per_hour) + delay


def order_ids_created_between(lo_s: int, hi_s: int, orders_per_hour: int) -> Int64Array:
    """Return the ids of orders whose ``created_at`` lies in ``[lo_s, hi_s]``.

    Inverts ``created = epoch + floor((id - 1) * 3600 / orders_per_hour)`` in integer arithmetic,
    so a window costs O(orders in it) rather than a scan from 2026-01-01.
    """
    rel_lo = lo_s - _EPOCH_S
    rel_hi = hi_s - _EPOCH_S
    first = max(1, -(-(rel_lo * orders_per_hour) // 3600) + 1)
    last = -(-((rel_hi + 1) * orders_per_hour) // 3600)
    if last < first:
        return np.empty(0, dtype=np.int64)
    return np.arange(first, last + 1, dtype=np.int64)


def orders_rows(order_ids: Int64Array, orders_per_hour: int) -> pl.DataFrame:
    """Materialise the given orders (in the given order) with every contract field."""
    created = order_created_s(order_ids, orders_per_hour)
    updated = order_updated_s(order_ids, orders_per_hour)
    cents = _uniform_int(order_ids, 500, 49_999, "shop", "orders", "amount")
    return pl.DataFrame(
        {
            "order_id": order_ids,
            "customer_id": _uniform_int(order_ids, 1, 20_000, "shop", "orders", "customer"),
            "status": _pick(order_ids, _ORDER_STATUSES, "shop", "orders", "status"),
            "amount": cents / 100,
            "currency": _pick(order_ids, CURRENCIES, "shop", "orders", "currency"),
            "created_at": _format_ts_series(created),
            "updated_at": _format_ts_series(updated),
        }
    )


@dataclass(frozen=True)
class OrderCursor:
    """Where the next orders page starts: the window and the last (updated_at, order_id) served.

    Carrying the window inside the cursor means a client may send the cursor alone.
    """

    updated_after_s: int
    updated_before_s: int
    last_updated_s: int
    last_order_id: int


def encode_order_cursor(cursor: OrderCursor) -> str:
    """Encode a cursor as opaque URL-safe base64 (no padding) of a small JSON array."""
    payload = orjson.dumps(
        [
            1,
            cursor.updated_after_s,
            cursor.updated_before_s,
            cursor.last_updated_s,
            cursor.last_order_id,
        ]
    )
    return base64.urlsafe_b64encode(payload).rstrip(b"=").decode("ascii")


def decode_order_cursor(token: str) -> OrderCursor:
    """Decode :func:`encode_order_cursor` output.

    Raises:
        ValueError: If the token was not produced by :func:`encode_order_cursor`.
    """
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        values = orjson.loads(raw)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("cursor is not a valid cursor") from exc
    if (
        not isinstance(values, list)
        or len(values) != 5
        or values[0] != 1
        or not all(type(v) is int for v in values)
    ):
        raise ValueError("cursor is not a valid cursor")
    return OrderCursor(values[1], values[2], values[3], values[4])


@dataclass(frozen=True)
class OrdersPage:
    """One page of orders and the cursor for the next one (``None`` on the last page)."""

    frame: pl.DataFrame
    next_cursor: OrderCursor | None


def orders_page(
    updated_after_s: int,
    updated_before_s: int,
    orders_per_hour: int,
    limit: int,
    cursor: OrderCursor | None = None,
) -> OrdersPage:
    """Return up to ``limit`` orders of the window ``(updated_after, updated_before]``.

    Rows are ordered by ``(updated_at, order_id)`` and start after the cursor's key. Because
    ``updated_at - created_at`` is at most 90 minutes, every order updated in ``[t, t + span]``
    was created in ``[t - 90 min, t + span]``; the span starts at about one page worth of orders
    and doubles until it holds more than ``limit`` rows or reaches the window's end. A page thus
    costs O(limit + 90 minutes of orders), independent of how far the window is from 2026.

    Args:
        updated_after_s: Exclusive lower bound, epoch seconds.
        updated_before_s: Inclusive upper bound, epoch seconds.
        orders_per_hour: Order creation rate (``--orders-per-hour``).
        limit: Maximum rows in the page (>= 1).
        cursor: Position after the previous page, or ``None`` for the first page.
    """
    if cursor is None:
        key_t, key_id = updated_after_s, np.iinfo(np.int64).max
    else:
        key_t, key_id = cursor.last_updated_s, cursor.last_order_id
    lo_t = max(key_t, _EPOCH_S - 1)
    span = -(-(limit + 1) * 3600 // orders_per_hour) + 1
    while True:
        hi_t = min(updated_before_s, lo_t + span)
        ids = order_ids_created_between(lo_t - MAX_ORDER_DELAY_S, hi_t, orders_per_hour)
        updated = order_updated_s(ids, orders_per_hour)
        keep = ((updated > key_t) | ((updated == key_t) & (ids > key_id))) & (updated <= hi_t)
        ids, updated = ids[keep], updated[keep]
        if ids.size > limit or hi_t >= updated_before_s:
            break
        span *= 2
    order = np.lexsort((ids, updated))[: limit + 1]
    ids, updated = ids[order], updated[order]
    next_cursor = None
    if ids.size > limit:
        ids, updated = ids[:limit], updated[:limit]
        next_cursor = OrderCursor(updated_after_s, updated_before_s, int(updated[-1]), int(ids[-1]))
    return OrdersPage(frame=orders_rows(ids, orders_per_hour), next_cursor=next_cursor)


# --------------------------------------------------------------------------------------------
# ledger: transactions


def transactions_page(
    day: date, rows_per_day: int, shard: int, shards: int, page: int, page_size: int
) -> pl.DataFrame:
    """Return one page of one shard of the day's transactions, ordered by ``txn_id``.

    Only the page's rows are generated (see :class:`ShardRange`), each from its own key, so any
    page size and any shard split yields the same rows. ``booked_at`` spreads the day's rows
    evenly over the day, so it grows with ``txn_id`` like a real ledger's booking time.
    """
    date_str = day.isoformat()
    n = shard_range(day, rows_per_day, shard, shards).page(page, page_size)
    seconds = ((n - 1) * SECONDS_PER_DAY) // rows_per_day
    cents = _uniform_int(n, -50_000, 200_000, "ledger", "transactions", "amount", date_str)
    return pl.DataFrame(
        {
            "txn_id": n + _day_index(day) * TXN_DAY_STRIDE,
            "account_id": _uniform_int(n, 1, 50_000, "ledger", "transactions", "account", date_str),
            "booked_at": (date_str + "T") + _clock_strings().gather(seconds) + "Z",
            "amount": cents / 100,
            "currency": _pick(
                n, _LEDGER_CURRENCIES, "ledger", "transactions", "currency", date_str
            ),
            "counterparty": _pick(
                n, _COUNTERPARTIES, "ledger", "transactions", "counterparty", date_str
            ),
            "category": _pick(n, _TXN_CATEGORIES, "ledger", "transactions", "category", date_str),
        }
    )


# --------------------------------------------------------------------------------------------
# ledger: fx rates


def _quote_key(code: str) -> int:
    """A stable integer key per currency code (base-26 of its letters), independent of order."""
    return (ord(code[0]) - 65) * 676 + (ord(code[1]) - 65) * 26 + (ord(code[2]) - 65)


@cache
def _fx_base_micro() -> Int64Array:
    """Base EUR rate of each quote in millionths: anchors for majors, log-spread otherwise."""
    keys = np.array([_quote_key(q) for q in FX_QUOTES], dtype=np.int64)
    mantissa = _uniform_int(keys, 100_000, 999_999, "ledger", "fx", "mantissa")
    exponent = _uniform_int(keys, 0, 4, "ledger", "fx", "exponent")
    base = mantissa * (10**exponent)
    for i, quote in enumerate(FX_QUOTES):
        if quote in _FX_ANCHORS_MICRO:
            base[i] = _FX_ANCHORS_MICRO[quote]
    return base


def fx_rates_page(day: date, page: int, per_page: int) -> pl.DataFrame:
    """Return one page of the day's EUR fx rates, ordered by ``quote``.

    A rate is its base rate moved by up to ±2 % per date, computed in integer millionths so that
    the 6-decimal float is exact and identical everywhere (no transcendental functions).
    """
    start = (page - 1) * per_page
    stop = min(start + per_page, len(FX_QUOTES))
    quotes = FX_QUOTES[start:stop] if start < stop else ()
    keys = np.array([_quote_key(q) for q in quotes], dtype=np.int64)
    drift_ppm = _uniform_int(keys, -20_000, 20_000, "ledger", "fx", "drift", day.isoformat())
    base = _fx_base_micro()[start : start + len(quotes)]
    rate_micro = (base * (1_000_000 + drift_ppm) + 500_000) // 1_000_000
    return pl.DataFrame(
        {
            "date": pl.Series(values=[day.isoformat()] * len(quotes), dtype=pl.String),
            "base": pl.Series(values=["EUR"] * len(quotes), dtype=pl.String),
            "quote": pl.Series(values=list(quotes), dtype=pl.String),
            "rate": rate_micro / 1_000_000,
        }
    )
