"""Runs inside the image (mounted by smoke.py, never baked in): report, run one command, measure.

    python /opt/smoke/in_container.py python -m flows.sales.products_snapshot --target-env dev

Prints who and what runs (uid, working directory, installed versions), runs the command as a
child, then prints one line ``SMOKE-RESULT {json}`` with its exit code, wall time and peak RSS
(``ru_maxrss`` of the waited-for children: the flow process alone, not this wrapper). Standard
library only, so it works in any image with a Python.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def main(argv: list[str]) -> int:
    """Run ``argv`` as a child process and report on it; return its exit code."""
    if not argv:
        print("usage: in_container.py COMMAND [ARG...]", file=sys.stderr)
        return 2
    info = {
        "uid": os.getuid(),
        "gid": os.getgid(),
        "cwd": str(Path.cwd()),
        "home": os.environ.get("HOME"),
        "python": sys.version.split()[0],
        "executable": sys.executable,
        "flowlib": _version("flowlib"),
        "prefect": _version("prefect"),
    }
    print("SMOKE-INFO " + json.dumps(info), flush=True)
    start = time.monotonic()
    code = subprocess.call(argv)
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = {
        "exit_code": code,
        "seconds": round(time.monotonic() - start, 2),
        "peak_rss_mib": round(usage.ru_maxrss / 1024, 1),  # Linux reports KiB
        "user_cpu_seconds": round(usage.ru_utime, 2),
        "system_cpu_seconds": round(usage.ru_stime, 2),
    }
    print("SMOKE-RESULT " + json.dumps(result), flush=True)
    return code


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
