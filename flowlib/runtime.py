"""What a flow needs from its run: the scheduled start, a logger, and a local command line.

``run_cli`` turns any flow into ``python -m flows.<project>.<flow> --target-env dev --sample``:
the local debugging run, and the seed of the container debugging run.
"""

from __future__ import annotations

import argparse
import inspect
import logging
import sys
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Literal, get_args, get_origin, get_type_hints

from flowlib.windows import utc_datetime


def scheduled_start() -> datetime:
    """The run's scheduled start (UTC); the current time outside a scheduled run."""
    from prefect.runtime import flow_run

    return utc_datetime(flow_run.scheduled_start_time)


def flow_run_id() -> str | None:
    """The current flow run's id (recorded in partition manifests); ``None`` outside a run."""
    from prefect.runtime import flow_run

    run_id = flow_run.id
    return str(run_id) if run_id else None


def run_logger() -> logging.Logger | logging.LoggerAdapter[logging.Logger]:
    """Prefect's run logger inside a run, a plain logger outside (unit tests, ``.fn()`` calls)."""
    from prefect import get_run_logger
    from prefect.exceptions import MissingContextError

    try:
        return get_run_logger()
    except MissingContextError:
        return logging.getLogger("flowlib")


def _choices(annotation: Any) -> list[str] | None:
    """The allowed strings of a ``Literal`` (possibly inside ``X | None``)."""
    for arg in (annotation, *get_args(annotation)):
        if get_origin(arg) is Literal:
            return [a for a in get_args(arg) if isinstance(a, str)]
    return None


def build_parser(flow_obj: Any) -> argparse.ArgumentParser:
    """One option per flow parameter; Prefect validates and converts the values."""
    fn: Callable[..., Any] = flow_obj.fn
    parser = argparse.ArgumentParser(
        prog=f"python -m {fn.__module__}", description=(fn.__doc__ or "").strip().split("\n")[0]
    )
    hints = get_type_hints(fn)
    for name, param in inspect.signature(fn).parameters.items():
        flag = "--" + name.replace("_", "-")
        annotation = hints.get(name)
        if annotation is bool:
            parser.add_argument(flag, dest=name, action="store_true", default=None)
        else:
            choices = _choices(annotation)
            parser.add_argument(
                flag, dest=name, default=None, choices=choices, help=f"default: {param.default!r}"
            )
    return parser


def run_cli(flow_obj: Any, argv: Sequence[str] | None = None) -> int:
    """Run a flow once from the command line; exit 1 with the error when it fails."""
    args = build_parser(flow_obj).parse_args(argv)
    params = {k: v for k, v in vars(args).items() if v is not None}
    try:
        result = flow_obj(**params)
    except Exception as exc:  # the run is already recorded as failed; say why and exit non-zero
        print(f"{flow_obj.name} failed: {exc}", file=sys.stderr)
        return 1
    print(result)
    return 0
