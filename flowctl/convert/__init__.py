"""``flowctl convert``: Prefect 1 modules → this library's Prefect 2 flow shape (libcst)."""

from flowctl.convert.engine import Conversion, convert_paths
from flowctl.convert.rules import RULE_IDS

__all__ = ["RULE_IDS", "Conversion", "convert_paths"]
