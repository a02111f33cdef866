"""``python -m devtools.soak [--seed N] [--short] [--lake local|azurite] [--slot-seconds S] …``.

Runs the plan of the seed on real parts, then the checker; prints the fault schedule, the
progress and the checker's one line; exits 1 on any violation (each named on stderr). The full
soak runs ``sales/products_snapshot`` and ``finance/transactions_daily`` on Azurite lakes; the
short one runs ``sales/products_snapshot`` on local lakes.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any


def main(argv: list[str] | None = None) -> int:
    """Run one soak and check it."""
    from devtools.soak.check import api_rows, check, storage_options_of
    from devtools.soak.driver import SOAKED, LakeKind, Soak
    from devtools.soak.plan import build_plan

    parser = argparse.ArgumentParser(prog="python -m devtools.soak")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--short", action="store_true", help="a few slots, two faults")
    parser.add_argument("--slot-seconds", type=float, default=None, help="default 30 (short 15)")
    parser.add_argument("--workdir", type=Path, default=None, help="kept when given")
    parser.add_argument("--bound-slots", type=float, default=2, help="fail-back bound, in slots")
    parser.add_argument(
        "--lake", choices=("local", "azurite"), help="default: azurite (short: local)"
    )
    parser.add_argument(
        "--flows", help=f"comma-separated, of {sorted(SOAKED)} (default: all; short: products)"
    )
    args = parser.parse_args(argv)
    lake: LakeKind = args.lake or ("local" if args.short else "azurite")
    names = args.flows.split(",") if args.flows else (["products_snapshot"] if args.short else [])
    unknown = [n for n in names if n not in SOAKED]
    if unknown:
        parser.error(f"--flows {unknown}: the soak knows {sorted(SOAKED)}")
    flows = tuple(SOAKED[n] for n in names) if names else tuple(SOAKED.values())
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    plan = build_plan(args.seed, short=args.short)
    slot_seconds = args.slot_seconds or (15.0 if args.short else 30.0)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="flowlib-soak-"))
    workdir.mkdir(parents=True, exist_ok=True)
    print(
        f"soak seed {args.seed}: {plan.slots} slots of {slot_seconds:.0f} s, flows "
        f"{[f.key for f in flows]} on {lake} lakes, in {workdir}"
    )
    for fault in plan.faults:
        print(f"  fault at slot {fault.slot}: {fault.kind}")
    print(
        f"  cutover after slots {plan.cutover_after}, decommission after {plan.decommission_after}"
    )
    sys.stdout.flush()
    verdicts: list[Any] = []

    def inspect(journal: dict[str, Any]) -> None:
        fetch = api_rows(journal["api_url"], journal["tokens"])
        options = storage_options_of(journal)
        verdicts.append(check(journal, fetch, args.bound_slots, options))

    began = time.monotonic()
    try:
        say = lambda m: print(m, flush=True)  # noqa: E731
        Soak(plan, workdir, slot_seconds, say, flows=flows, lake=lake).run(inspect)
    finally:
        if args.workdir is None and verdicts and verdicts[0].ok:
            shutil.rmtree(workdir, ignore_errors=True)
    [verdict] = verdicts
    for violation in verdict.violations:
        print(f"VIOLATION {violation}", file=sys.stderr)
    print(f"soak took {time.monotonic() - began:.0f} s; journal {workdir / 'journal.json'}")
    print(verdict.line)
    (workdir / "result.json").write_text(
        json.dumps({"line": verdict.line}) + "\n"
    ) if workdir.exists() else None
    return 0 if verdict.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
