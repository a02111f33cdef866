"""Describe the schedules the legacy flows declare, in the format of ``legacy/schedules.json``.

    .venv-legacy/bin/python legacy/schedules.py            # print the declared schedules (JSON)
    .venv-legacy/bin/python legacy/schedules.py --check    # exit 1 if schedules.json differs
    .venv-legacy/bin/python legacy/schedules.py --next 3 --after 2026-11-25T00:00:00Z
                                                           # also list each flow's next runs (UTC)

The schedules are read from each module's ``flow.schedule.clocks`` (a ``CronClock``'s ``cron``
and start date time zone; an ``IntervalClock``'s ``interval`` and ``start_date`` anchor).
"""

import argparse
import importlib
import json
import os
import sys

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)

SCHEDULES_JSON = os.path.join(REPO_ROOT, "legacy", "schedules.json")
MODULES = (
    "legacy.sales.products_snapshot",
    "legacy.sales.orders_incremental",
    "legacy.finance.transactions_daily",
    "legacy.finance.fx_rates",
)


def describe(module_name):
    from prefect.schedules.clocks import CronClock, IntervalClock

    module = importlib.import_module(module_name)
    clocks = module.flow.schedule.clocks
    if len(clocks) != 1:
        raise ValueError("%s: expected one clock, found %d" % (module_name, len(clocks)))
    clock = clocks[0]
    entry = {
        "project": module.PROJECT,
        "flow": module.FLOW,
        "module": module_name,
        "legacy_name": module.flow.name,
        "source_api": module.SOURCE,
    }
    if isinstance(clock, CronClock):
        entry["kind"] = "cron"
        entry["cron"] = clock.cron
        entry["timezone"] = clock.start_date.tz.name if clock.start_date else "UTC"
    elif isinstance(clock, IntervalClock):
        entry["kind"] = "interval"
        entry["interval_seconds"] = int(clock.interval.total_seconds())
        entry["anchor"] = clock.start_date.in_timezone("UTC").isoformat()
        entry["timezone"] = clock.start_date.tz.name
    else:
        raise ValueError("%s: unsupported clock %r" % (module_name, clock))
    return entry


def next_runs(module_name, count, after):
    import pendulum

    from legacy.common import iso_z

    module = importlib.import_module(module_name)
    after = pendulum.parse(after, tz="UTC")
    return [iso_z(t) for t in module.flow.schedule.next(count, after=after)]


def main(argv=None):
    parser = argparse.ArgumentParser(prog="legacy/schedules.py", description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="compare with legacy/schedules.json")
    parser.add_argument("--next", type=int, default=0, help="also list the next N runs (UTC)")
    parser.add_argument("--after", default=None, help="start of --next (ISO 8601; default now)")
    args = parser.parse_args(argv)

    declared = [describe(name) for name in MODULES]
    if args.check:
        with open(SCHEDULES_JSON) as fh:
            recorded = json.load(fh)
        if recorded != declared:
            print("legacy/schedules.json differs from the modules' schedules:", file=sys.stderr)
            print(json.dumps(declared, indent=2), file=sys.stderr)
            return 1
        print("legacy/schedules.json matches the modules' schedules")
        return 0
    if args.next:
        import pendulum

        after = args.after or pendulum.now("UTC").isoformat()
        for entry in declared:
            entry["next_runs"] = next_runs(entry["module"], args.next, after)
    print(json.dumps(declared, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
