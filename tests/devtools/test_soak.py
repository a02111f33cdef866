"""The short soak on real parts: legacy -> shadow -> validated -> cutover -> 5xx storm -> fail-back.

Runs ``python -m devtools.soak --short`` (a Prefect server, a process worker per infrastructure
pool, the sample API, local lakes, the legacy flow in ``.venv-legacy`` behind the Prefect 1 stub)
and expects its checker's line with no violation: six slots, two faults (a stale redeploy that
must be refused, a 5xx storm longer than the retries that must fail the flow back and lose no
slot). The full soak is ``make soak`` (docs/soak.md).
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from devtools.legacy import legacy_python
from devtools.services import REPO_ROOT

pytestmark = pytest.mark.integration


def test_the_short_soak_loses_nothing_and_writes_each_slot_once(tmp_path):
    legacy_python()  # fails with the command to run when .venv-legacy is missing
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "devtools.soak",
            "--short",
            "--seed",
            "1",
            "--workdir",
            str(tmp_path),
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=1200,
        check=False,
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-6000:]
    line = proc.stdout.strip().splitlines()[-1]
    assert line.startswith("soak: 6 slots, 2 faults, missing 0, double-written 0, partial 0"), line
    journal = json.loads((tmp_path / "journal.json").read_text())
    kinds = [a["kind"] for a in journal["actions"]]
    assert kinds.count("cutover") == 1, kinds
    [flow] = journal["flows"]
    assert flow["key"] == "sales/products_snapshot" and journal["lake"] == "local"
    assert flow["final_record"]["phase"] == "shadow"  # failed back, and it stayed there
