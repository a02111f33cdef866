from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from flowctl.cli import app
from flowlib.lake import lake_filesystem
from flowlib.validation.samples import SAMPLE_ABS_TOL, write_sample_lakes

runner = CliRunner()


@pytest.fixture
def lakes(tmp_path: Path) -> tuple[str, str]:
    prod = (tmp_path / "prod").resolve().as_uri() + "/"
    dev = (tmp_path / "dev").resolve().as_uri() + "/"
    write_sample_lakes(*lake_filesystem(prod), *lake_filesystem(dev))
    return prod, dev


def invoke(lakes: tuple[str, str], *args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["validate", "--prod", lakes[0], "--dev", lakes[1], *args])
    return result.exit_code, result.output


def test_everything_with_reports(lakes: tuple[str, str], tmp_path: Path) -> None:
    json_path, md_path = tmp_path / "out" / "report.json", tmp_path / "out" / "report.md"
    code, output = invoke(
        lakes,
        "--abs-tol",
        str(SAMPLE_ABS_TOL),
        "--json",
        str(json_path),
        "--markdown",
        str(md_path),
    )
    assert code == 2, output  # a corrupt and an empty file: not everything could be compared
    assert "ERROR" in output and "missing in dev (1)" in output
    report = json.loads(json_path.read_text())
    assert report["passed"] is False and report["exit_code"] == 2
    statuses = {p["normalized"].split("/")[2]: p["status"] for p in report["pairs"]}
    assert statuses["corrupt"] == "error" and statuses["changed_value"] == "fail"
    assert statuses["same"] == "pass"
    assert md_path.read_text().startswith("# Migration validation: ⚠️ ERROR")


def test_exit_codes(lakes: tuple[str, str]) -> None:
    assert invoke(lakes, "--flow", "same", "--flow", "nulls")[0] == 0
    assert invoke(lakes, "--flow", "new_column")[0] == 1  # exact by default
    assert invoke(lakes, "--flow", "changed_value")[0] == 1
    assert invoke(lakes, "--flow", "float_within")[0] == 1
    assert invoke(lakes, "--flow", "float_within", "--abs-tol", "1e-6")[0] == 0
    assert invoke(lakes, "--flow", "reordered")[0] == 1
    assert invoke(lakes, "--flow", "reordered", "--key", "id")[0] == 0
    assert invoke(lakes, "--flow", "extra", "--flow", "same")[0] == 1  # dev-only files fail
    assert invoke(lakes, "--flow", "extra", "--flow", "same", "--strict")[0] == 1
    assert invoke(lakes, "--flow", "extra", "--flow", "same", "--allow-new-files")[0] == 0
    assert invoke(lakes, "--flow", "same", "--no-rules")[0] == 0
    assert invoke(lakes, "--flow", "empty")[0] == 2
    assert invoke(lakes, "--project", "finance")[0] == 0


def test_dates_and_quiet(lakes: tuple[str, str]) -> None:
    code, output = invoke(
        lakes, "--since", "2026-11-25", "--until", "2026-11-25", "--flow", "same", "-q"
    )
    assert code == 0 and output.startswith("PASSED  1 matched")
    code, output = invoke(lakes, "--since", "2026-11-26")
    assert code == 0 and "nothing was compared" in output


def test_bad_options_exit_2(lakes: tuple[str, str]) -> None:
    code, output = invoke(lakes, "--since", "2026-11-26", "--until", "2026-11-25")
    assert code == 2 and "after" in output
    assert invoke(lakes, "--abs-tol", "-1")[0] == 2
    assert invoke(lakes, "--since", "25.11.2026")[0] == 2
    assert invoke(lakes, "--timestamp-pattern", "(")[0] == 2
    code, output = runner.invoke(app, ["validate", "--prod", "s3://x/", "--dev", lakes[1]]), None
    assert code.exit_code == 2 and "could not open the prod lake" in code.output


def test_help() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0 and "validate" in result.output


def test_installed_script(lakes: tuple[str, str], tmp_path: Path) -> None:
    script = Path(sys.executable).parent / "flowctl"
    out = tmp_path / "r.json"
    proc = subprocess.run(
        [str(script), "validate", "--prod", lakes[0], "--dev", lakes[1], "--flow", "changed_value",
         "--json", str(out)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    assert json.loads(out.read_text())["pairs"][0]["mismatches"][0]["row"] == 3
