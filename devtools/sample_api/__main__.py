"""Command line: ``python -m devtools.sample_api --port 8765`` serves in the foreground."""

from __future__ import annotations

import _thread
import argparse
import signal
import sys
import threading
from types import FrameType

from devtools.sample_api.config import (
    DEFAULT_LEDGER_KEY,
    DEFAULT_ORDERS_PER_HOUR,
    DEFAULT_PRODUCTS,
    DEFAULT_SHOP_TOKEN,
    DEFAULT_TRANSACTIONS_PER_DAY,
    SampleApiConfig,
)
from devtools.sample_api.faults import Fault, parse_fault_spec
from devtools.sample_api.server import serve


def _fault(spec: str) -> Fault:
    """Argparse type for ``--fault PATH:MODE:COUNT[:ARG]``."""
    try:
        return parse_fault_spec(spec)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser (separate so tests can check the options)."""
    parser = argparse.ArgumentParser(
        prog="python -m devtools.sample_api",
        description="Serve deterministic synthetic data for the shop and ledger APIs.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind")
    parser.add_argument("--port", type=int, default=8765, help="port to bind (0 = any free port)")
    parser.add_argument("--shop-token", default=DEFAULT_SHOP_TOKEN, help="shop bearer token")
    parser.add_argument("--ledger-key", default=DEFAULT_LEDGER_KEY, help="ledger X-API-Key")
    parser.add_argument("--products", type=int, default=DEFAULT_PRODUCTS)
    parser.add_argument("--orders-per-hour", type=int, default=DEFAULT_ORDERS_PER_HOUR)
    parser.add_argument("--transactions-per-day", type=int, default=DEFAULT_TRANSACTIONS_PER_DAY)
    parser.add_argument(
        "--fault",
        type=_fault,
        action="append",
        default=[],
        metavar="PATH:MODE:COUNT[:ARG]",
        help="arm a fault at start (repeatable); ARG is Retry-After for 429, delay for slow",
    )
    parser.add_argument(
        "--latency",
        type=float,
        default=0.0,
        help="seconds every data request takes before it is answered (a remote API's latency)",
    )
    parser.add_argument("--log-requests", action="store_true", help="log each request to stderr")
    parser.add_argument(
        "--exit-with-parent",
        action="store_true",
        help="exit when standard input closes (SampleApi.start_subprocess uses it so that a "
        "killed test run leaves no orphan server behind)",
    )
    return parser


def _stop(signum: int, frame: FrameType | None) -> None:
    """Turn SIGTERM into the same clean shutdown as Ctrl-C."""
    del signum, frame
    raise KeyboardInterrupt


def _exit_when_stdin_closes() -> None:
    """Interrupt the main thread once stdin reaches EOF, i.e. once the parent is gone."""
    try:
        while sys.stdin.buffer.read(4096):
            pass
    except (OSError, ValueError):
        pass
    _thread.interrupt_main()


def main(argv: list[str] | None = None) -> int:
    """Parse arguments and serve until SIGINT/SIGTERM."""
    args = build_parser().parse_args(argv)
    try:
        config = SampleApiConfig(
            shop_token=args.shop_token,
            ledger_key=args.ledger_key,
            products=args.products,
            orders_per_hour=args.orders_per_hour,
            transactions_per_day=args.transactions_per_day,
            faults=tuple(args.fault),
            latency=args.latency,
        )
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, _stop)
    if args.exit_with_parent:
        threading.Thread(target=_exit_when_stdin_closes, name="parent-watch", daemon=True).start()
    try:
        serve(config, args.host, args.port, log_requests=args.log_requests)
    except OSError as exc:  # typically: port already in use
        print(f"error: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
