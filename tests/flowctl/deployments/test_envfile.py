"""deployments/<env>.env files: the shell-compatible subset, expansion, and loud failures."""

from __future__ import annotations

import os
import subprocess

import pytest

from flowctl.deployments.envfile import (
    ENVIRONMENTS,
    EnvFileError,
    MissingVariablesError,
    check_vars,
    env_file_path,
    load_env_file,
    missing_vars,
)


def write(tmp_path, text):
    path = tmp_path / "x.env"
    path.write_text(text)
    return path


def test_reads_keys_comments_quotes_and_export(tmp_path):
    path = write(
        tmp_path,
        "# comment\n\nA=1\nexport B=two\nC='lit ${A}'\nD=\"x ${A}y\"\nE=plain  # trailing\n",
    )
    assert load_env_file(path, base={}) == {
        "A": "1",
        "B": "two",
        "C": "lit ${A}",
        "D": "x 1y",
        "E": "plain",
    }


def test_expands_earlier_keys_then_base_and_pwd(tmp_path):
    path = write(tmp_path, "ROOT=file://${PWD}/lake/\nIMG=${REG}/flowlib:1\nREF=${ROOT}dev/\n")
    values = load_env_file(path, base={"REG": "acr.io"}, cwd="/repo")
    assert values == {
        "ROOT": "file:///repo/lake/",
        "IMG": "acr.io/flowlib:1",
        "REF": "file:///repo/lake/dev/",
    }


def test_an_undefined_reference_is_an_error_not_an_empty_string(tmp_path):
    path = write(tmp_path, "A=1\nB=${NOPE}/x\n")
    with pytest.raises(EnvFileError, match=r"x.env:2: \$\{NOPE\} is not defined"):
        load_env_file(path, base={})


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("NOEQUALS", "expected KEY=value"),
        ("1BAD=x", "expected KEY=value"),
        ("A=two words", "a value with spaces must be quoted"),
        ("A='open", "expected KEY=value \\(is a quote left open\\?\\)"),
        ("A=$HOME/x", "write \\$\\{HOME\\} instead of \\$HOME"),
    ],
)
def test_malformed_lines_name_file_and_line(tmp_path, line, message):
    path = write(tmp_path, f"OK=1\n{line}\n")
    with pytest.raises(EnvFileError, match=f"x.env:2: {message}"):
        load_env_file(path, base={})


def test_missing_file_names_the_known_environments():
    with pytest.raises(EnvFileError, match="known environments: dev, local, prod"):
        env_file_path("staging")


@pytest.mark.parametrize("env_name", ENVIRONMENTS)
def test_the_shell_reads_each_env_file_like_the_loader(env_name, tmp_path):
    """`set -a; . deployments/<env>.env` (README) and load_env_file agree on every value."""
    path = env_file_path(env_name)
    repo = path.parent.parent
    script = f'set -a; . "{path}"; set +a; env -0'
    out = subprocess.run(
        ["sh", "-c", script],
        cwd=repo,
        env={"PATH": os.environ["PATH"]},
        capture_output=True,
        check=True,
    ).stdout.decode()
    shell = dict(item.split("=", 1) for item in out.split("\0") if "=" in item)
    loaded = load_env_file(path, base={}, cwd=repo)
    assert loaded
    assert {k: shell[k] for k in loaded} == loaded


def test_missing_vars_counts_blank_values_as_unset():
    env = {"A": "x", "B": "", "C": "  "}
    assert missing_vars(["A", "B", "C", "D"], env) == ["B", "C", "D"]
    with pytest.raises(MissingVariablesError, match=r"here: unset or empty variable\(s\) B, C"):
        check_vars(["A", "B", "C"], env, "here")
