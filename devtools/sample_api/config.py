"""Configuration of the sample API: credentials, data volumes and faults armed at start."""

from __future__ import annotations

from dataclasses import dataclass

from devtools.sample_api.faults import Fault

__all__ = [
    "DEFAULT_LEDGER_KEY",
    "DEFAULT_ORDERS_PER_HOUR",
    "DEFAULT_PRODUCTS",
    "DEFAULT_SHOP_TOKEN",
    "DEFAULT_TRANSACTIONS_PER_DAY",
    "SampleApiConfig",
]

DEFAULT_SHOP_TOKEN = "demo-shop-token"  # noqa: S105 - public demo credential
DEFAULT_LEDGER_KEY = "demo-ledger-key"
DEFAULT_PRODUCTS = 2500
DEFAULT_ORDERS_PER_HOUR = 120
DEFAULT_TRANSACTIONS_PER_DAY = 20_000
_MAX_TRANSACTIONS_PER_DAY = 10**9 - 1  # txn_id reserves 9 digits for the row number


@dataclass(frozen=True)
class SampleApiConfig:
    """Everything that decides what the sample API answers.

    Frozen because the data is a pure function of this config and the request: changing it
    under a running server would silently change rows mid-pagination.

    Attributes:
        shop_token: Bearer token accepted by the ``shop`` API.
        ledger_key: ``X-API-Key`` accepted by the ``ledger`` API.
        products: Number of products in the catalogue.
        orders_per_hour: Orders created per hour, evenly spaced from 2026-01-01T00:00:00Z.
        transactions_per_day: Ledger transactions per date.
        faults: Faults armed when the server starts (as with ``--fault``).
        latency: Seconds every data request takes before it is answered, as a remote API's
            would (tests of concurrency limits need requests that overlap).
    """

    shop_token: str = DEFAULT_SHOP_TOKEN
    ledger_key: str = DEFAULT_LEDGER_KEY
    products: int = DEFAULT_PRODUCTS
    orders_per_hour: int = DEFAULT_ORDERS_PER_HOUR
    transactions_per_day: int = DEFAULT_TRANSACTIONS_PER_DAY
    faults: tuple[Fault, ...] = ()
    latency: float = 0.0

    def __post_init__(self) -> None:
        """Fail at start-up rather than on the first request."""
        if not self.shop_token or not self.ledger_key:
            raise ValueError("shop_token and ledger_key must be non-empty")
        if self.products < 0:
            raise ValueError(f"products must be >= 0: {self.products}")
        if self.orders_per_hour < 1:
            raise ValueError(f"orders_per_hour must be >= 1: {self.orders_per_hour}")
        if not 0 <= self.transactions_per_day <= _MAX_TRANSACTIONS_PER_DAY:
            raise ValueError(
                f"transactions_per_day must be in 0..{_MAX_TRANSACTIONS_PER_DAY}: "
                f"{self.transactions_per_day}"
            )
        if not 0 <= self.latency <= 60:
            raise ValueError(f"latency must be in 0..60 seconds: {self.latency}")
        object.__setattr__(self, "faults", tuple(self.faults))

    def to_args(self) -> list[str]:
        """Return the ``python -m devtools.sample_api`` arguments that reproduce this config."""
        args = [
            f"--shop-token={self.shop_token}",
            f"--ledger-key={self.ledger_key}",
            f"--products={self.products}",
            f"--orders-per-hour={self.orders_per_hour}",
            f"--transactions-per-day={self.transactions_per_day}",
            f"--latency={self.latency:g}",
        ]
        for fault in self.faults:
            arg = {"429": fault.retry_after, "slow": fault.delay}.get(fault.mode.value)
            spec = f"{fault.path}:{fault.mode.value}:{fault.count}"
            args.append(f"--fault={spec}" if arg is None else f"--fault={spec}:{arg}")
        return args
