"""Records and JSON pages to Arrow: both paths give the contract's columns, nulls for gaps."""

import json
import os
import subprocess
import sys

import pyarrow as pa
import pytest

from flowlib.arrow import json_to_batch, records_to_batch

SCHEMA = pa.schema([("id", pa.int64()), ("name", pa.string()), ("amount", pa.float64())])
RECORDS = [
    {"id": 1, "name": "a\nb", "amount": 2},  # an int where a float is promised
    {"id": 2, "extra": {"nested": [1]}},  # missing and extra fields
    {"name": "only a name", "amount": 1.25},
]


def test_a_page_parses_to_the_same_batch_as_its_records():
    body = json.dumps({"data": RECORDS, "total_pages": 7, "page": 1}).encode()
    batch, envelope = json_to_batch(body, SCHEMA, "data", {"total_pages": pa.int64()})
    assert batch.schema == SCHEMA
    assert batch.equals(records_to_batch(RECORDS, SCHEMA))
    assert envelope == {"total_pages": 7}


def test_pretty_printed_bodies_and_bare_lists_parse_too():
    bare = json.dumps(RECORDS, indent=2).encode()
    batch, envelope = json_to_batch(bare, SCHEMA, None)
    assert batch.equals(records_to_batch(RECORDS, SCHEMA)) and envelope == {}


def test_an_absent_envelope_field_is_none_and_an_empty_page_is_an_empty_batch():
    batch, envelope = json_to_batch(b'{"data": []}', SCHEMA, "data", {"next_cursor": pa.string()})
    assert batch.num_rows == 0 and batch.schema == SCHEMA
    assert envelope == {"next_cursor": None}


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b'{"data": [{"id": 1}', "Missing a comma"),
        (b'{"data": [{"id": "x"}]}', "id"),
        (b'{"data": null}', "not a JSON list of records"),
        (b'{"total_pages": 1}', "not a JSON list of records"),
        (b'{"data": []}\n{"data": []}', "found 2"),
    ],
)
def test_a_body_of_another_shape_fails_naming_what_is_wrong(body, says):
    with pytest.raises(ValueError, match=says):
        json_to_batch(body, SCHEMA)


def test_importing_flowlib_puts_arrows_default_pool_on_the_system_allocator():
    """Parquet's column writers use Arrow's default pool; mimalloc's caches kept ~90 MB."""
    env = {k: v for k, v in os.environ.items() if k != "ARROW_DEFAULT_MEMORY_POOL"}
    code = "import flowlib, pyarrow; print(pyarrow.default_memory_pool().backend_name)"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "system"
