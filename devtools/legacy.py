"""Run a legacy (Prefect 1) flow from this venv: ``legacy/run.py`` in the ``.venv-legacy`` venv.

The legacy flows are self-contained and need Prefect 1, which cannot share a venv with Prefect 2,
so they run as a subprocess. Used by the demo, the dual-run tests and local recovery runs.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from devtools.services import REPO_ROOT
from flowlib.windows import iso_z

LEGACY_PYTHON = REPO_ROOT / ".venv-legacy" / "bin" / "python"
LEGACY_RUN = REPO_ROOT / "legacy" / "run.py"


class LegacyRunError(RuntimeError):
    """A legacy run failed or could not start; carries its output."""


@dataclass(frozen=True)
class LegacyRun:
    """What a legacy run wrote (lake URLs) and said."""

    flow: str
    written: list[str]
    output: str


def legacy_python() -> Path:
    """The legacy venv's interpreter, or a clear error saying how to create it."""
    if not LEGACY_PYTHON.exists():
        raise LegacyRunError(
            f"{LEGACY_PYTHON} is missing: run `make setup` (or `bash legacy/setup-venv.sh`)."
        )
    return LEGACY_PYTHON


def run_legacy(
    flow: str,
    params: Mapping[str, Any] | None = None,
    scheduled_start: datetime | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 1800,
) -> LegacyRun:
    """Run ``<project>/<flow>`` once; raise :class:`LegacyRunError` with its output if it fails."""
    cmd = [str(legacy_python()), str(LEGACY_RUN), flow]
    for key, value in (params or {}).items():
        cmd += ["--param", f"{key}={value}"]
    if scheduled_start is not None:
        cmd += ["--scheduled-start", iso_z(scheduled_start)]
    proc = subprocess.run(
        cmd,
        env=dict(env if env is not None else os.environ),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        cwd=REPO_ROOT,
    )
    output = proc.stdout + proc.stderr
    if proc.returncode != 0:
        raise LegacyRunError(f"legacy {flow} exited {proc.returncode}:\n{output[-4000:]}")
    written = [line[6:].strip() for line in proc.stdout.splitlines() if line.startswith("WROTE ")]
    return LegacyRun(flow=flow, written=written, output=output)
