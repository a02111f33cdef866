"""Rule by rule: each ``pairs/<rule id>/before.py`` converts to ``after.py``, and only that rule
does it (with the rule switched off the output differs, and nothing is lost silently)."""

from __future__ import annotations

import pytest

from flowctl.convert import RULE_IDS, convert_paths
from flowctl.convert.model import TODO_PREFIX
from flowctl.convert.rules import RULES

from .conftest import PAIRS, prefect1_leftovers

CASES = sorted(p.name for p in PAIRS.iterdir() if (p / "before.py").exists())


def _convert(rule_dir, disabled=()):
    conversion = convert_paths([rule_dir], project="demo", disabled=disabled)
    return next(m for m in conversion.modules if m.rel == "before.py")


def test_every_rule_has_a_pair_and_the_order_is_fixed():
    assert set(CASES) == set(RULE_IDS)
    assert len(RULE_IDS) == len(set(RULE_IDS)) == len(RULES)
    # the flow rule needs names the earlier rules rewrite; the body rules need its functions
    assert RULE_IDS.index("context") < RULE_IDS.index("flow") < RULE_IDS.index("map")
    assert RULE_IDS.index("prefect1-imports") < RULE_IDS.index("local-imports")
    assert RULE_IDS[-1] == "local-imports"


@pytest.mark.parametrize("rule", CASES)
def test_before_converts_to_after(rule):
    module = _convert(PAIRS / rule)
    expected = (PAIRS / rule / "after.py").read_text()
    assert module.code == expected
    assert prefect1_leftovers(module.code) == []
    compile(module.code, f"{rule}/after.py", "exec")
    # every flag has its TODO at the line the report names
    lines = module.code.splitlines()
    for flag in module.flags:
        assert lines[flag.line - 1].strip().startswith(TODO_PREFIX), (flag, module.code)


@pytest.mark.parametrize("rule", [r for r in CASES if r != "unused-imports"])
def test_switching_a_rule_off_changes_its_output(rule):
    expected = (PAIRS / rule / "after.py").read_text()
    module = _convert(PAIRS / rule, disabled=[rule])
    assert module.code != expected


@pytest.mark.parametrize(
    "rule", ["context", "signals", "task-options", "secrets", "library-tasks", "kv-store"]
)
def test_a_switched_off_rule_leaves_flagged_prefect1_code_not_silent_code(rule):
    module = _convert(PAIRS / rule, disabled=[rule])
    leftovers = prefect1_leftovers(module.code)
    flagged_rules = {f.rule for f in module.flags}
    # what the rule would have converted is either flagged by the import rule or still visibly
    # Prefect 1 (and then the corpus/legacy checks would catch it)
    assert leftovers or "prefect1-imports" in flagged_rules, module.code


def test_comments_and_untouched_code_are_kept():
    before = (PAIRS / "flow" / "before.py").read_text()
    after = (PAIRS / "flow" / "after.py").read_text()
    for line in ("# the nightly load", "    rows = load(day, limit)  # keep this comment"):
        assert line in before and line in after
    untouched = before.split("@task", 1)[1].split("# the nightly load", 1)[0]
    assert untouched in after


def test_unknown_rule_is_refused():
    with pytest.raises(ValueError, match="unknown rule"):
        convert_paths([PAIRS / "flow"], disabled=["no-such-rule"])
