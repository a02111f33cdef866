"""Headless Chromium for the browser checks (the validation artifact in the Prefect UI).

:func:`chromium` finds Debian's ``chromium``; when it is missing it installs it with
``apt-get install -y chromium`` (``make chromium`` does the same), and fails with that command
when it cannot. :func:`render` loads a page with a fresh profile and returns its DOM after the
scripts ran; :func:`screenshot` saves a PNG of it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

INSTALL = "apt-get install -y chromium"
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
)


class BrowserMissing(RuntimeError):
    """Chromium is not installed and could not be installed; the message says how."""


def chromium(install: bool = True) -> str:
    """The path of ``chromium``; installs it when missing (as root with apt-get)."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    if install and shutil.which("apt-get") and hasattr(os, "geteuid") and os.geteuid() == 0:
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        proc = subprocess.run(
            ["apt-get", "install", "-y", "chromium"],
            capture_output=True,
            text=True,
            env=env,
            timeout=1800,
            check=False,
        )
        found = shutil.which("chromium")
        if found:
            return found
        raise BrowserMissing(
            f"`{INSTALL}` failed (exit {proc.returncode}): {proc.stderr[-500:]}; run it by hand "
            "(or `make chromium`)"
        )
    raise BrowserMissing(f"chromium is not installed: run `{INSTALL}` (or `make chromium`) as root")


def _run(args: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        return subprocess.run(
            [chromium(), *FLAGS, f"--user-data-dir={profile}", *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )


def render(url: str, wait_ms: int = 20_000, timeout: float = 180) -> str:
    """The page's DOM after its scripts ran (up to ``wait_ms`` of virtual time)."""
    proc = _run([f"--virtual-time-budget={wait_ms}", "--dump-dom", url], timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"chromium --dump-dom {url} failed: {proc.stderr[-1000:]}")
    return proc.stdout


def screenshot(
    url: str, path: Path, size: tuple[int, int] = (1400, 1800), wait_ms: int = 20_000
) -> Path:
    """Save a PNG of the page after its scripts ran; return the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    proc = _run(
        [
            f"--virtual-time-budget={wait_ms}",
            f"--window-size={size[0]},{size[1]}",
            f"--screenshot={path}",
            url,
        ],
        180,
    )
    if proc.returncode != 0 or not path.exists():
        raise RuntimeError(f"chromium --screenshot {url} failed: {proc.stderr[-1000:]}")
    return path
