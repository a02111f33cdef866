"""Validation report dicts (``Report.to_dict()``'s shape) for tests of the cutover gate.

A real validation of several days needs several days of dual runs; the gate's tests and the
migration tests need only what :func:`flowlib.migration.validations.summarize` reads: paths,
pairs and slots per partition day.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

LAST_DAY = date(2026, 11, 24)


def _labels(prefix: str, day: date, hourly: bool) -> list[str]:
    if hourly:
        return [f"{day.isoformat()}T{h:02d}" for h in range(24)]
    return [day.isoformat()]


def report_for(
    *prefixes: str,
    status: str = "pass",
    missing: bool = False,
    days: int = 7,
    last_day: date = LAST_DAY,
    hourly: tuple[str, ...] = ("sales/shop/orders",),
    skip_slots: tuple[str, ...] = (),
) -> dict[str, Any]:
    """A report with one pair per dataset prefix and ``days`` days of slots up to ``last_day``.

    Every slot of each dataset is listed (hourly for the ``hourly`` prefixes, else daily); the last
    day's slots get ``status``; slots named in ``skip_slots`` are left out (a validation that
    missed them).
    """
    paths = [f"{p}/{last_day:%Y/%m/%d}/x_{last_day:%Y%m%d}T020000.parquet" for p in prefixes]
    slots = []
    for prefix in prefixes:
        for back in range(days - 1, -1, -1):
            day = last_day - timedelta(days=back)
            series = f"{prefix}/{day:%Y/%m/%d}/x"
            for label in _labels(prefix, day, any(prefix.startswith(h) for h in hourly)):
                if label in skip_slots:
                    continue
                slots.append(
                    {
                        "dataset": prefix,
                        "series": series,
                        "day": day.isoformat(),
                        "slot": label,
                        "status": status if day == last_day else "pass",
                    }
                )
    return {
        "passed": status == "pass" and not missing,
        "paths": {
            "matched": [{"normalized": p, "prod": p, "dev": p} for p in paths],
            "missing_in_dev": [f"{prefixes[0]}/2026/11/23/x.parquet"] if missing else [],
            "only_in_dev": [],
        },
        "pairs": [{"normalized": p, "status": status} for p in paths],
        "slots": slots,
        "errors": [],
        "strict": False,
        "options": {"since": (last_day - timedelta(days=days - 1)).isoformat(), "until": None},
        "prod_root": "file:///prod/",
        "dev_root": "file:///dev/",
    }
