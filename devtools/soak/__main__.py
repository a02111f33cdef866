"""``python -m devtools.soak [--seed N] [--short] [--slot-seconds S] [--workdir DIR]``.

Runs the plan of the seed on real parts, then the checker; prints the fault schedule, the
progress and the checker's one line; exits 1 on any violation (each named on stderr).
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
    from devtools.soak.check import api_rows, check
    from devtools.soak.driver import Soak
    from devtools.soak.plan import build_plan

    parser = argparse.ArgumentParser(prog="python -m devtools.soak")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--short", action="store_true", help="a few slots, two faults")
    parser.add_argument("--slot-seconds", type=float, default=None, help="default 30 (short 15)")
    parser.add_argument("--workdir", type=Path, default=None, help="kept when given")
    parser.add_argument("--bound-slots", type=float, default=2, help="fail-back bound, in slots")
    args = parser.parse_args(argv)
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    plan = build_plan(args.seed, short=args.short)
    slot_seconds = args.slot_seconds or (15.0 if args.short else 30.0)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="flowlib-soak-"))
    workdir.mkdir(parents=True, exist_ok=True)
    print(f"soak seed {args.seed}: {plan.slots} slots of {slot_seconds:.0f} s, in {workdir}")
    for fault in plan.faults:
        print(f"  fault at slot {fault.slot}: {fault.kind}")
    print(
        f"  cutover after slots {plan.cutover_after}, decommission after {plan.decommission_after}"
    )
    sys.stdout.flush()
    verdicts: list[Any] = []

    def inspect(journal: dict[str, Any]) -> None:
        fetch = api_rows(journal["api_url"], journal["shop_token"], journal["endpoint"])
        verdicts.append(check(journal, fetch, bound_slots=args.bound_slots))

    began = time.monotonic()
    try:
        Soak(plan, workdir, slot_seconds, say=lambda m: print(m, flush=True)).run(inspect)
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
