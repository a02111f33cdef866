from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from flowlib.lake import lake_filesystem
from flowlib.validation.samples import write_sample_lakes


@dataclass(frozen=True)
class Lakes:
    prod: str
    dev: str


@pytest.fixture
def sample_lakes(tmp_path: Path) -> Lakes:
    """A local prod and dev lake holding every sample difference."""
    prod = (tmp_path / "prod").resolve().as_uri() + "/"
    dev = (tmp_path / "dev").resolve().as_uri() + "/"
    write_sample_lakes(*lake_filesystem(prod), *lake_filesystem(dev))
    return Lakes(prod=prod, dev=dev)
