"""Helpers of the converter's tests: convert a folder, check what came out."""

from __future__ import annotations

import ast
import io
import re
import subprocess
import sys
import tokenize
from pathlib import Path

from ruff.__main__ import find_ruff_bin

from flowctl.convert.model import TODO_PREFIX

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[2]
CORPUS = HERE / "corpus"
PAIRS = HERE / "pairs"

# Prefect 1 API that must not survive outside a flagged statement
P1_PATTERNS = re.compile(
    r"\b(Flow\(|Parameter\(|prefect\.context|task\(.*(max_retries|retry_delay)=|CronClock|IntervalClock|"
    r"CronSchedule|IntervalSchedule|KubernetesRun|DockerRun|LocalRun|UniversalRun|"
    r"LocalDaskExecutor|DaskExecutor|PrefectSecret|StartFlowRun|create_flow_run|"
    r"wait_for_flow_run|ShellTask|signals\.|set_upstream|set_downstream|upstream_tasks|"
    r"get_key_value|set_key_value|resource_manager|defaults_from_attrs|flow\.run\(|"
    r"flow\.register\(|from prefect\.(engine|schedules|run_configs|storage|executors|tasks|"
    r"backend|triggers|utilities)\b)"
)


def ruff_problems(root: Path) -> str:
    """``ruff check`` (pyflakes, pycodestyle, isort) on converted code; '' when clean."""
    proc = subprocess.run(
        [
            str(find_ruff_bin()),
            "check",
            "--isolated",
            "--select",
            "E,F,W,I",
            "--line-length",
            "100",
            "--config",
            'lint.isort.known-first-party = ["flowlib", "flows", "tasks"]',
            "--output-format",
            "concise",
            ".",
        ],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )
    return "" if proc.returncode == 0 else proc.stdout + proc.stderr


def flagged_lines(code: str) -> set[int]:
    """Lines of statements that carry a TODO(flowctl convert) comment block right above."""
    lines = code.splitlines()
    todo_ends = set()
    for i, line in enumerate(lines, start=1):
        if line.strip().startswith(TODO_PREFIX):
            j = i
            while j < len(lines) and lines[j].strip().startswith("#"):
                j += 1
            todo_ends.add(j)  # the last comment line of the block
    flagged: set[int] = set()
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.stmt):
            first = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))])
            if first - 1 in todo_ends:
                # a TODO above a compound statement covers all of it (e.g. a flow built in a def)
                flagged.update(range(first, (node.end_lineno or node.lineno) + 1))
    for i, line in enumerate(lines, start=1):  # comments (commented-out Prefect 1 code)
        if line.strip().startswith("#"):
            flagged.add(i)
    return flagged


def code_only(code: str) -> list[str]:
    """The module's lines with strings and comments blanked (docstrings may name Prefect 1)."""
    lines = code.splitlines()
    out = [list(line) for line in lines]
    for tok in tokenize.generate_tokens(io.StringIO(code).readline):
        if tok.type in (tokenize.STRING, tokenize.COMMENT):
            (r0, c0), (r1, c1) = tok.start, tok.end
            for r in range(r0, r1 + 1):
                start = c0 if r == r0 else 0
                end = c1 if r == r1 else len(out[r - 1])
                for c in range(start, end):
                    out[r - 1][c] = " "
    return ["".join(chars) for chars in out]


def prefect1_leftovers(code: str) -> list[str]:
    """Lines still using Prefect 1 API outside flagged statements."""
    flagged = flagged_lines(code)
    return [
        f"{i}: {line.strip()}"
        for i, line in enumerate(code_only(code), start=1)
        if i not in flagged and P1_PATTERNS.search(line)
    ]


def import_all(root: Path, modules: list[str]) -> subprocess.CompletedProcess[str]:
    """Import converted modules in this (Prefect 2) venv, with ``root`` first on the path."""
    code = (
        "import importlib, sys\n"
        "failed = []\n"
        "for name in sys.argv[1:]:\n"
        "    try:\n"
        "        importlib.import_module(name)\n"
        "    except Exception as exc:\n"
        "        failed.append(f'{name}: {type(exc).__name__}: {exc}')\n"
        "print('\\n'.join(failed))\n"
        "sys.exit(1 if failed else 0)\n"
    )
    env = {"PYTHONPATH": f"{root}:{REPO_ROOT}", "PATH": "/usr/bin:/bin", "HOME": str(root)}
    return subprocess.run(
        [sys.executable, "-c", code, *modules],
        cwd=root,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
