"""Read constant expressions statically: literals, module constants, timedeltas, dates, clocks.

Schedules and run configs are data in Prefect 2 (``prefect.yaml``), so the converter reads them
from the code without running it. Anything it cannot read raises :class:`Unreadable`, and the
caller flags the construct.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import libcst as cst

from flowctl.convert.model import Clock
from flowctl.convert.names import ImportTable

Lookup = Callable[[str], tuple[cst.BaseExpression, ImportTable] | None]


class Unreadable(ValueError):
    """The expression is not a constant the converter can read."""


_TIMEDELTA = {"datetime.timedelta", "pendulum.duration", "pendulum.Duration"}
_DATETIME = {"datetime.datetime", "pendulum.datetime", "pendulum.DateTime"}
_TIMEZONE = {"pendulum.timezone", "zoneinfo.ZoneInfo", "pytz.timezone", "pendulum.tz.timezone"}
_UTC = {"datetime.timezone.utc", "pendulum.UTC", "datetime.UTC", "pytz.utc", "pytz.UTC"}


def tz_name(value: Any) -> str:
    """The IANA name of a tzinfo (``UTC`` when it has none)."""
    if value is None:
        return "UTC"
    key = (
        getattr(value, "key", None) or getattr(value, "zone", None) or getattr(value, "name", None)
    )
    return str(key) if key else str(value)


class Evaluator:
    """Evaluates one expression in one module's namespace."""

    def __init__(self, imports: ImportTable, lookup: Lookup, depth: int = 0) -> None:
        self.imports = imports
        self.lookup = lookup
        self.depth = depth

    def eval(self, node: cst.BaseExpression) -> Any:
        """The value of ``node``; raises :class:`Unreadable`."""
        if isinstance(node, (cst.SimpleString, cst.ConcatenatedString)):
            value = node.evaluated_value
            if isinstance(value, bytes):
                raise Unreadable("bytes")
            return value
        if isinstance(node, (cst.Integer, cst.Float)):
            return ast.literal_eval(node.value)
        if isinstance(node, cst.UnaryOperation) and isinstance(node.operator, cst.Minus):
            return -self.eval(node.expression)
        if isinstance(node, cst.BinaryOperation):
            left, right = self.eval(node.left), self.eval(node.right)
            if isinstance(node.operator, cst.Add):
                return left + right
            if isinstance(node.operator, cst.Subtract):
                return left - right
            if isinstance(node.operator, cst.Multiply):
                return left * right
            raise Unreadable(type(node.operator).__name__)
        if isinstance(node, (cst.List, cst.Tuple)):
            return [self.eval(e.value) for e in node.elements if isinstance(e, cst.Element)]
        if isinstance(node, cst.Dict):
            out = {}
            for el in node.elements:
                if not isinstance(el, cst.DictElement):
                    raise Unreadable("**")
                out[self.eval(el.key)] = self.eval(el.value)
            return out
        if isinstance(node, cst.Name) and node.value in ("True", "False", "None"):
            return {"True": True, "False": False, "None": None}[node.value]
        if isinstance(node, (cst.Name, cst.Attribute)):
            full = self.imports.qualify(node)
            if full in _UTC:
                return ZoneInfo("UTC")
            if full is not None:
                found = self.lookup(full)
                if found is not None and self.depth < 8:
                    expr, table = found
                    return Evaluator(table, self.lookup, self.depth + 1).eval(expr)
            raise Unreadable(full or "name")
        if isinstance(node, cst.Call):
            return self.call(node)
        raise Unreadable(type(node).__name__)

    def args(self, node: cst.Call) -> tuple[list[Any], dict[str, Any]]:
        """A call's positional and keyword argument values."""
        pos, kw = [], {}
        for arg in node.args:
            if arg.star:
                raise Unreadable("*args")
            if arg.keyword is None:
                pos.append(self.eval(arg.value))
            else:
                kw[arg.keyword.value] = self.eval(arg.value)
        return pos, kw

    def call(self, node: cst.Call) -> Any:
        """timedelta, datetime, timezone and Prefect 1 clock/schedule constructors."""
        full = self.imports.qualify(node.func) or ""
        p1 = self.imports.p1(node.func)
        if full in _TIMEDELTA:
            pos, kw = self.args(node)
            return timedelta(*pos, **kw)
        if full in _TIMEZONE:
            pos, _ = self.args(node)
            return ZoneInfo(pos[0])
        if full in _DATETIME:
            pos, kw = self.args(node)
            tz = kw.pop("tz", None) or kw.pop("tzinfo", None)
            if isinstance(tz, str):
                tz = ZoneInfo(tz)
            if full.startswith("pendulum") and tz is None:
                tz = ZoneInfo("UTC")
            kw["tzinfo"] = tz
            return datetime(*pos, **kw)
        if p1 in ("CronClock", "CronSchedule"):
            pos, kw = self.args(node)
            cron = pos[0] if pos else kw["cron"]
            return [self._clock("cron", kw, cron=cron)]
        if p1 in ("IntervalClock", "IntervalSchedule"):
            pos, kw = self.args(node)
            interval = pos[0] if pos else kw["interval"]
            if p1 == "IntervalSchedule" and pos:
                kw.setdefault("start_date", pos[0])
                interval = kw.get("interval", pos[1] if len(pos) > 1 else None)
            if not isinstance(interval, timedelta):
                raise Unreadable("interval")
            return [self._clock("interval", kw, interval=interval)]
        if p1 == "Schedule":
            pos, kw = self.args(node)
            clocks = pos[0] if pos else kw.get("clocks", [])
            if kw.get("filters") or kw.get("adjustments") or kw.get("not_filters"):
                raise Unreadable("schedule filters/adjustments")
            return [c for group in clocks for c in (group if isinstance(group, list) else [group])]
        raise Unreadable(full or "call")

    @staticmethod
    def _clock(
        kind: str, kw: dict[str, Any], cron: str | None = None, interval: timedelta | None = None
    ) -> Clock:
        start = kw.get("start_date")
        if start is not None and not isinstance(start, datetime):
            raise Unreadable("start_date")
        return Clock(
            kind=kind,
            cron=cron,
            interval_seconds=interval.total_seconds() if interval else None,
            anchor=start.isoformat() if start is not None else None,
            timezone=tz_name(start.tzinfo) if start is not None else "UTC",
            parameter_defaults=dict(kw.get("parameter_defaults") or {}),
        )


def evaluate(node: cst.BaseExpression, imports: ImportTable, lookup: Lookup) -> Any:
    """Evaluate ``node``; raises :class:`Unreadable`."""
    try:
        return Evaluator(imports, lookup).eval(node)
    except Unreadable:
        raise
    except (TypeError, ValueError, KeyError, IndexError, SyntaxError, ArithmeticError) as exc:
        raise Unreadable(str(exc)) from exc
