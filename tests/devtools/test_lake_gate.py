"""The write gate refuses writes under a denied folder of Azurite, as ADLS refuses a principal
without write permission, and lets everything else through (the soak's "lake unwritable")."""

from __future__ import annotations

from typing import Any

import adlfs
import pytest

from devtools.lake_gate import write_gate
from devtools.services import Azurite


def test_writes_under_a_denied_folder_are_refused_and_the_rest_passes(azurite_service: Any):
    azurite_service.lake_root("gate")  # creates the container
    with write_gate(azurite_service.blob_url) as gate:
        fs = adlfs.AzureBlobFileSystem(
            connection_string=Azurite(blob_url=gate.url).connection_string
        )
        fs.pipe_file("gate/data/a/old.txt", b"before")
        gate.deny("gate/data/a")
        with pytest.raises(Exception, match="AuthorizationPermissionMismatch|not authorized"):
            fs.pipe_file("gate/data/a/new.txt", b"refused")
        with pytest.raises(Exception, match="AuthorizationPermissionMismatch|not authorized"):
            fs.rm_file("gate/data/a/old.txt")
        assert gate.refused >= 2
        fs.pipe_file("gate/_state/history.json", b"{}")  # another folder: written
        fs.invalidate_cache()
        assert fs.cat_file("gate/data/a/old.txt") == b"before"  # reads pass
        assert not fs.exists("gate/data/a/new.txt")  # nothing partial
        gate.allow("gate/data/a")
        fs.pipe_file("gate/data/a/new.txt", b"after")
        fs.invalidate_cache()
        assert fs.cat_file("gate/data/a/new.txt") == b"after"
