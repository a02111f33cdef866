"""Plain helpers the flows import (no Prefect here)."""

import os

import requests

API_URL = "https://api.acme.example/v2"


def api_session():
    session = requests.Session()
    session.headers["Authorization"] = "Bearer " + os.environ.get("ACME_TOKEN", "")
    return session


def chunk(items, size):
    """Split a list in chunks of ``size`` items."""
    return [items[i : i + size] for i in range(0, len(items), size)]
