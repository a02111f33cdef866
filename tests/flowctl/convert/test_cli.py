"""``flowctl convert``: diff without --write, --write, --json, exit codes, refusals."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from typer.testing import CliRunner

from flowctl.cli import app
from flowctl.convert.rules import RULE_IDS

from .conftest import PAIRS

CLEAN = '''"""A flow the converter converts without a single flag."""

from datetime import timedelta

from prefect import Flow, Parameter, task
from prefect.schedules import CronSchedule


@task(max_retries=2, retry_delay=timedelta(seconds=30))
def double(x):
    return 2 * int(x)


with Flow("tidy-flow", schedule=CronSchedule("0 5 * * *")) as flow:
    x = Parameter("x", default=3)
    doubled = double(x)

if __name__ == "__main__":
    flow.register(project_name="tidy")
'''


def _tree_digest(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        if path.is_file():
            digest.update(path.as_posix().encode() + path.read_bytes())
    return digest.hexdigest()


def _invoke(*args: str):
    return CliRunner().invoke(app, ["convert", *args])


def test_without_write_nothing_changes_and_a_diff_is_printed(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "tidy.py").write_text(CLEAN)
    out = tmp_path / "repo"
    out.mkdir()
    before = _tree_digest(tmp_path)
    result = _invoke(str(src), "--out", str(out))
    assert result.exit_code == 0, result.output  # nothing flagged
    assert _tree_digest(tmp_path) == before
    assert "--- a/tidy.py" in result.output and "+++ b/flows/tidy/tidy.py" in result.output
    assert "+@flow(" in result.output and "+++ b/deployments/tidy/prefect.yaml" in result.output
    assert "nothing written (pass --write)" in result.output


def test_write_then_a_second_run_has_nothing_to_do(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "tidy.py").write_text(CLEAN)
    out = tmp_path / "repo"
    first = _invoke(str(src), "--out", str(out), "--write")
    assert first.exit_code == 0, first.output
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert written == [
        "deployments/tidy/prefect.yaml",
        "flows/__init__.py",
        "flows/tidy/__init__.py",
        "flows/tidy/tidy.py",
        "migration/tidy.yaml",
        "tests/flows/tidy/test_tidy.py",
    ]
    assert (src / "tidy.py").read_text() == CLEAN  # the input is never touched
    again = _invoke(str(src), "--out", str(out), "--write", "--json")
    assert again.exit_code == 0
    assert json.loads(again.output)["files"] == []


def test_json_report_lists_every_flag_and_the_exit_code_says_flagged(tmp_path):
    result = _invoke(str(PAIRS / "signals"), "--project", "demo", "--out", str(tmp_path), "--json")
    assert result.exit_code == 1
    report = json.loads(result.output)
    assert report["flagged"] is True and report["written"] is False
    (flag,) = report["flags"]
    assert flag["file"] == "flows/demo/before.py" and flag["construct"] == "signals.SKIP"
    assert flag["rule"] == "signals" and flag["line"] > 0 and "MIGRATION.md" in flag["action"]
    assert not any(tmp_path.iterdir())


def test_terminal_report_is_a_table_with_file_line_construct_action(tmp_path):
    result = _invoke(str(PAIRS / "kv-store"), "--project", "demo", "--out", str(tmp_path))
    assert result.exit_code == 1
    assert "file" in result.output and "construct" in result.output and "action" in result.output
    assert "set_key_value" in result.output and "flows/demo/before.py" in result.output


def test_unparsable_file_is_reported_and_the_run_goes_on(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "tidy.py").write_text(CLEAN)
    (src / "broken.py").write_text("with Flow('x' as flow:\n    pass\n")
    out = tmp_path / "repo"
    result = _invoke(str(src), "--out", str(out), "--write")
    assert result.exit_code == 1
    assert "skipped broken.py: cannot parse" in result.output
    assert (out / "flows/tidy/tidy.py").exists() and not (out / "flows/tidy/broken.py").exists()


def test_hand_written_files_are_never_replaced(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "tidy.py").write_text(CLEAN)
    out = tmp_path / "repo"
    mine = out / "flows/tidy/tidy.py"
    mine.parent.mkdir(parents=True)
    mine.write_text("# hand-written\n")
    result = _invoke(str(src), "--out", str(out), "--write")
    assert result.exit_code == 1
    assert mine.read_text() == "# hand-written\n"
    assert "exists and was not made by flowctl convert" in result.output


def test_rules_can_be_listed_and_switched_off(tmp_path):
    listed = _invoke(str(tmp_path), "--list-rules")
    assert listed.exit_code == 0
    assert [line.split()[0] for line in listed.output.splitlines()] == list(RULE_IDS)
    off = _invoke(str(PAIRS / "signals"), "--project", "demo", "--disable", "signals", "--json")
    report = json.loads(off.output)
    assert off.exit_code == 1
    assert {f["rule"] for f in report["flags"]} == {"prefect1-imports"}  # left-overs still flagged
    bad = _invoke(str(PAIRS / "signals"), "--disable", "nope")
    assert bad.exit_code == 2 and "unknown rule" in bad.output


def test_a_missing_path_is_a_usage_error(tmp_path):
    result = _invoke(str(tmp_path / "nope"))
    assert result.exit_code == 2
