"""Smoke-run the flowlib image: one flow in the image, against the sample API, into a local lake.

    .venv/bin/python infra/docker/smoke.py --image localhost/flowlib:0.1.0 [--version 0.1.0]

This is also the local container debugging run (``make image-smoke``). Steps:

1. Inspect the image config: user 10001, working directory /opt/flowlib, OCI labels, and no
   secret in its environment, labels or history.
2. Start the sample API on the host (``SampleApi.start_subprocess``, fresh random credentials)
   and a temporary lake directory owned by uid 10001.
3. Create a container (``buildah from``) and scan its root filesystem for leftovers of the build
   secrets: ``/run/secrets`` and any certificate of the pip CA bundle that the image's own CA
   bundle does not carry (the proxy's CA).
4. ``buildah run --isolation chroot --network host``: chroot isolation creates no network
   namespace, so the container shares the host's and reaches the sample API on 127.0.0.1.
   The lake is mounted at /lake (``LAKE_DEV_ROOT=file:///lake/dev/``); credentials go in as
   environment variables of this run only. ``in_container.py`` (mounted read-only) runs the flow
   as a child and reports its peak RSS.
5. On the host: the expected files exist in the lake, are owned by uid 10001 and hold rows.

Exit status 0 when every check passes. Prints ``peak RSS`` and a suggested memory request.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import re
import secrets
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO))

from devtools.sample_api import SampleApi  # noqa: E402

# What /opt/flowlib may hold: the runtime layer (README "What each folder holds") and the files
# pip and compileall add. flowctl (operations) and devtools (test support) are not shipped.
RUNTIME_FILES = {"flowlib", "flows", "tasks", "migration", "pyproject.toml", "README.md"}
RUNTIME_FILES |= {"flowlib.egg-info", "__pycache__"}
# Distributions only the ops or dev extras install (pyproject.toml); none belongs in the image.
TEST_ONLY_DISTS = {"polars", "pytest", "datacompy", "aiosmtpd", "import_linter", "ruff", "mypy"}
TEST_ONLY_DISTS |= {"kubernetes_validate", "matplotlib", "libcst", "pandas"}
RUN_UID = 10001
SECRET_NAME = re.compile(
    r"TOKEN|SECRET|PASSW|CONNECTION_STRING|ACCOUNT_KEY|API_KEY|CREDENTIAL|PIP_CERT", re.I
)
PEM = re.compile(r"-----BEGIN CERTIFICATE-----\n(.*?)-----END CERTIFICATE-----", re.S)
DEMO_CREDENTIALS = ("demo-shop-token", "demo-ledger-key")


class SmokeError(AssertionError):
    """A smoke check failed."""


def log(message: str) -> None:
    """Progress on stderr, prefixed so it stands out in `make test` output."""
    print(f"image-smoke: {message}", file=sys.stderr, flush=True)


def check(condition: bool, message: str) -> None:
    """Fail the smoke run with ``message`` unless ``condition`` holds."""
    if not condition:
        raise SmokeError(message)


class Buildah:
    """The few buildah calls the smoke run needs, with the storage options of the build."""

    def __init__(self, command: str) -> None:
        self.base = shlex.split(command)

    def __call__(self, *args: str, capture: bool = True) -> str:
        """Run ``buildah ARGS``; return its stdout, raise SmokeError when it fails."""
        proc = subprocess.run(
            [*self.base, *args], check=False, text=True, capture_output=capture, stdin=None
        )
        if proc.returncode != 0:
            detail = (proc.stderr or "").strip()[-2000:] if capture else ""
            raise SmokeError(f"buildah {args[0]} failed ({proc.returncode}): {detail}")
        return proc.stdout if capture else ""


# --- 1. the image config ----------------------------------------------------------------------
def check_config(inspect: dict[str, Any], version: str | None, extra_secrets: list[str]) -> None:
    """User, working directory, labels; and no secret in env, labels or history."""
    config = inspect["OCIv1"]["config"]
    check(config.get("User") == f"{RUN_UID}:{RUN_UID}", f"image user is {config.get('User')!r}")
    check(config.get("WorkingDir") == "/opt/flowlib", f"workdir is {config.get('WorkingDir')!r}")
    labels = config.get("Labels") or {}
    for key in ("org.opencontainers.image.version", "org.opencontainers.image.revision"):
        check(bool(labels.get(key)), f"label {key} is missing")
    if version:
        got = labels["org.opencontainers.image.version"]
        check(got == version, f"label version {got!r} != package version {version!r}")
    env = config.get("Env") or []
    leaked = [e.split("=", 1)[0] for e in env if SECRET_NAME.search(e.split("=", 1)[0])]
    check(not leaked, f"image environment names secret-like variables: {leaked}")
    history = [h.get("created_by", "") for h in inspect["OCIv1"].get("history", [])]
    blob = "\n".join([*env, *map(str, labels.values()), *history])
    needles = ["BEGIN CERTIFICATE", *DEMO_CREDENTIALS, *extra_secrets]
    found = [n[:24] for n in needles if n and n in blob]
    check(not found, f"image config or history contains secrets: {found}")
    log(
        f"config ok: user {config['User']}, workdir {config['WorkingDir']}, "
        f"version {labels['org.opencontainers.image.version']}, "
        f"revision {labels['org.opencontainers.image.revision']}, {len(env)} env vars, no secrets"
    )


# --- 3. the image filesystem ------------------------------------------------------------------
def secret_only_certs(pip_cert: Path | None, rootfs: Path) -> list[str]:
    """Certificates of the pip CA bundle that the image's own CA bundle does not carry."""
    if pip_cert is None or not pip_cert.is_file():
        return []
    image_bundle = rootfs / "etc/ssl/certs/ca-certificates.crt"
    image_certs = set(PEM.findall(image_bundle.read_text())) if image_bundle.is_file() else set()
    return [c for c in PEM.findall(pip_cert.read_text()) if c not in image_certs]


def check_filesystem(rootfs: Path, pip_cert: Path | None) -> None:
    """No build secret left behind: /run/secrets is empty and the proxy's CA is nowhere."""
    run_secrets = rootfs / "run/secrets"
    left = sorted(p.name for p in run_secrets.iterdir()) if run_secrets.is_dir() else []
    check(not left, f"/run/secrets in the image is not empty: {left}")
    extra = secret_only_certs(pip_cert, rootfs)
    if not extra:
        note = "no pip CA bundle given" if pip_cert is None else "it adds no CA to the image's"
        log(f"filesystem ok: /run/secrets empty; CA scan skipped ({note})")
        return
    # One 64-character base64 line from the middle of each certificate identifies it.
    needles = [lines[len(lines) // 2] for lines in (c.split() for c in extra)]
    proc = subprocess.run(
        ["grep", "-rlF", *[arg for n in needles for arg in ("-e", n)], str(rootfs)],
        check=False,
        capture_output=True,
        text=True,
    )
    check(proc.returncode in (0, 1), f"grep failed: {proc.stderr.strip()}")
    hits = [line.removeprefix(str(rootfs)) for line in proc.stdout.splitlines()]
    check(not hits, f"the pip CA (build secret) is in the image: {hits[:5]}")
    log(
        f"filesystem ok: /run/secrets empty; none of the {len(extra)} CA(s) only the pip "
        "CA bundle carries is in the image"
    )


def check_layers(rootfs: Path) -> None:
    """The image ships the runtime layer only: no flowctl, no devtools, no test-only packages."""
    code = rootfs / "opt/flowlib"
    shipped = sorted(p.name for p in code.iterdir() if not p.name.startswith("."))
    check(
        set(shipped) <= RUNTIME_FILES,
        f"/opt/flowlib holds more than the runtime layer: {sorted(set(shipped) - RUNTIME_FILES)}",
    )
    for name in ("flowlib", "flows", "tasks", "migration"):
        check((code / name).is_dir(), f"/opt/flowlib/{name} is missing from the image")
    venv_bin = rootfs / "opt/venv/bin"
    check(not (venv_bin / "flowctl").exists(), "the image has a flowctl entry point")
    check((venv_bin / "prefect").exists(), "the image has no prefect CLI (the worker needs it)")
    site = next((rootfs / "opt/venv/lib").glob("python3*/site-packages"))
    dists = {d.name.split("-", 1)[0].lower() for d in site.glob("*.dist-info")}
    test_only = sorted(dists & TEST_ONLY_DISTS)
    check(not test_only, f"the image installs test/ops-only packages: {test_only}")
    log(f"layers ok: /opt/flowlib holds {', '.join(shipped)}; no flowctl, no devtools")


# --- 5. the lake ------------------------------------------------------------------------------
def check_lake(lake: Path, pattern: str) -> list[dict[str, Any]]:
    """The expected files exist, belong to the run's uid and hold rows."""
    import pyarrow.parquet as pq

    paths = sorted(lake.glob(pattern))
    check(bool(paths), f"no file matches {pattern} in the lake; it holds: {list_tree(lake)}")
    files = []
    for path in paths:
        stat = path.stat()
        check(stat.st_uid == RUN_UID, f"{path} is owned by uid {stat.st_uid}, not {RUN_UID}")
        rows = pq.read_metadata(path).num_rows if path.suffix == ".parquet" else None
        check(rows is None or rows > 0, f"{path} has no rows")
        files.append({"path": str(path.relative_to(lake)), "bytes": stat.st_size, "rows": rows})
    return files


def list_tree(root: Path) -> list[str]:
    """Every file under ``root``, relative (for error messages)."""
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def make_lake() -> Path:
    """A temporary lake directory the container's uid can write."""
    lake = Path(tempfile.mkdtemp(prefix="flowlib-smoke-lake-"))
    (lake / "dev").mkdir()
    for path in (lake, lake / "dev"):
        if os.geteuid() == 0:
            os.chown(path, RUN_UID, RUN_UID)
        else:  # cannot chown: let anyone write (a throwaway temp directory)
            path.chmod(0o777)
    return lake


def memory_advice(peak_mib: float, headroom: float) -> str:
    """Peak RSS x headroom, rounded up to 64 MiB: the work pool's memory request."""
    request = int(math.ceil(peak_mib * headroom / 64) * 64)
    return f"memory request >= {request}Mi (peak {peak_mib:.0f} MiB x {headroom} headroom)"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--image", required=True, help="image to run, e.g. localhost/flowlib:0.1.0")
    parser.add_argument("--version", help="expected package version (checked against the label)")
    parser.add_argument("--buildah", default="buildah --storage-driver vfs")
    parser.add_argument("--isolation", default="chroot")
    parser.add_argument("--pip-cert", type=Path, help="the CA bundle passed as the pipcert secret")
    parser.add_argument("--flow", default="flows.sales.products_snapshot", help="module to run")
    parser.add_argument("--flow-args", default="--target-env dev --sample")
    parser.add_argument(
        "--expect",
        default="dev/_samples/sales/shop/products/**/*.parquet",  # a --sample run's partition
        help="glob, relative to the lake, of the files the run must write",
    )
    parser.add_argument("--transactions-per-day", type=int, help="sample API ledger volume")
    parser.add_argument("--headroom", type=float, default=1.5, help="memory request factor")
    parser.add_argument(
        "--prefect-server",
        action="store_true",
        help="report to a Prefect server started on the host (as in a cluster) instead of the "
        "ephemeral in-process API: slower to start, but the peak RSS is the flow's alone",
    )
    parser.add_argument("--keep-lake", action="store_true", help="keep the lake directory")
    parser.add_argument("--json", type=Path, help="also write the results here")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run every check; return 0 when all pass."""
    args = parse_args(argv)
    buildah = Buildah(args.buildah)
    started = time.monotonic()
    container = f"flowlib-smoke-{os.getpid()}"
    api: SampleApi | None = None
    lake: Path | None = None
    mounted = created = False
    services = contextlib.ExitStack()
    try:
        # Fresh random credentials: the run proves they arrive through the environment only.
        config: dict[str, Any] = {
            "shop_token": "smoke-" + secrets.token_hex(12),
            "ledger_key": "smoke-" + secrets.token_hex(12),
        }
        if args.transactions_per_day is not None:
            config["transactions_per_day"] = args.transactions_per_day
        inspect = json.loads(buildah("inspect", "--type", "image", args.image))
        check_config(inspect, args.version, [config["shop_token"], config["ledger_key"]])

        api = SampleApi.start_subprocess(port=0, **config)
        lake = make_lake()
        log(f"sample API at {api.url}; lake at {lake}")
        prefect_api_url = None
        if args.prefect_server:
            from devtools.services import prefect_server

            prefect_api_url = services.enter_context(prefect_server()).api_url
            log(f"Prefect server at {prefect_api_url}")

        buildah("from", "--pull=false", "--name", container, args.image)
        created = True
        rootfs = Path(buildah("mount", container).strip())
        mounted = True
        check_filesystem(rootfs, args.pip_cert)
        check_layers(rootfs)
        buildah("umount", container)
        mounted = False

        env = {
            "TARGET_ENV": "dev",
            "LAKE_DEV_ROOT": "file:///lake/dev/",
            "SHOP_API_URL": api.url,
            "SHOP_API_TOKEN": api.shop_token,
            "LEDGER_API_URL": api.url,
            "LEDGER_API_TOKEN": api.ledger_key,
        }
        if prefect_api_url:
            env["PREFECT_API_URL"] = prefect_api_url
        command = ["python", "/opt/smoke/in_container.py", "python", "-m", args.flow]
        command += shlex.split(args.flow_args)
        log(f"running in the image: {shlex.join(command[2:])}")
        run = [
            *buildah.base,
            "run",
            f"--isolation={args.isolation}",
            "--network=host",
            "--volume",
            f"{lake}:/lake:rw",
            "--volume",
            f"{HERE / 'in_container.py'}:/opt/smoke/in_container.py:ro",
            *[arg for k, v in env.items() for arg in ("--env", f"{k}={v}")],
            container,
            "--",
            *command,
        ]
        proc = subprocess.run(run, check=False, capture_output=True, text=True)
        info = _tagged_json(proc.stdout, "SMOKE-INFO")
        result = _tagged_json(proc.stdout, "SMOKE-RESULT")
        # The flow's own output (Prefect's log lines), as in a local run.
        flow_output = [
            line
            for line in (proc.stdout + proc.stderr).splitlines()
            if not line.startswith(("SMOKE-INFO ", "SMOKE-RESULT "))
        ]
        print("\n".join(f"  | {line}" for line in flow_output[-80:]), file=sys.stderr)
        if proc.returncode != 0 or not result or result.get("exit_code") != 0:
            raise SmokeError(f"the flow failed in the container (buildah run: {proc.returncode})")
        check(info is not None and info["uid"] == RUN_UID, f"ran as {info and info['uid']}")
        check(info["cwd"] == "/opt/flowlib", f"ran in {info['cwd']}")
        if args.version:
            check(info["flowlib"] == args.version, f"flowlib {info['flowlib']} in the image")
        log(
            f"ran as uid {info['uid']} in {info['cwd']}: python {info['python']}, "
            f"flowlib {info['flowlib']}, prefect {info['prefect']}"
        )

        files = check_lake(lake, args.expect)
        for f in files:
            log(f"lake: {f['path']} ({f['rows']} rows, {f['bytes']} bytes, uid {RUN_UID})")
        summary = {
            "image": args.image,
            "flow": f"{args.flow} {args.flow_args}",
            "files": files,
            **result,
            "smoke_seconds": round(time.monotonic() - started, 1),
        }
        if args.json:
            args.json.write_text(json.dumps(summary, indent=2) + "\n")
        log(
            f"OK in {summary['smoke_seconds']} s: flow {result['seconds']} s, "
            f"peak RSS {result['peak_rss_mib']} MiB -> "
            f"{memory_advice(result['peak_rss_mib'], args.headroom)}"
        )
        return 0
    except SmokeError as exc:
        log(f"FAILED: {exc}")
        return 1
    finally:
        if mounted:
            subprocess.run([*buildah.base, "umount", container], check=False, capture_output=True)
        if created:
            subprocess.run([*buildah.base, "rm", container], check=False, capture_output=True)
        services.close()
        if api is not None:
            api.close()
        if lake is not None:
            if args.keep_lake:
                log(f"lake kept at {lake}")
            else:
                shutil.rmtree(lake, ignore_errors=True)


def _tagged_json(text: str, tag: str) -> dict[str, Any] | None:
    """The JSON of the last ``TAG {...}`` line of ``text``."""
    found = None
    for line in text.splitlines():
        if line.startswith(tag + " "):
            found = json.loads(line[len(tag) + 1 :])
    return found


if __name__ == "__main__":
    raise SystemExit(main())
