"""The rules, in the fixed order they run. Each has an id; ``--disable ID`` switches one off.

A disabled rule's constructs are not converted; the ``prefect1-imports`` rule then flags what is
left of Prefect 1, so switching a rule off never hides anything.
"""

from __future__ import annotations

from flowctl.convert.rules.base import FileState, Rule
from flowctl.convert.rules.body import CaseRule, MapRule, UpstreamRule
from flowctl.convert.rules.cleanup import LocalImportsRule, Prefect1ImportsRule, UnusedImportsRule
from flowctl.convert.rules.flow import FlowRule
from flowctl.convert.rules.simple import (
    ContextRule,
    DeploymentConfigRule,
    EnvironRule,
    FlowOfFlowsRule,
    KvStoreRule,
    LibraryTasksRule,
    ResourceManagerRule,
    SecretsRule,
    SignalsRule,
    TaskClassRule,
    TaskDecoratorRule,
)

RULES: tuple[type[Rule], ...] = (
    ContextRule,
    SignalsRule,
    TaskDecoratorRule,
    TaskClassRule,
    SecretsRule,
    LibraryTasksRule,
    FlowOfFlowsRule,
    KvStoreRule,
    ResourceManagerRule,
    FlowRule,
    DeploymentConfigRule,
    MapRule,
    CaseRule,
    UpstreamRule,
    EnvironRule,
    Prefect1ImportsRule,
    UnusedImportsRule,
    LocalImportsRule,
)
RULE_IDS: tuple[str, ...] = tuple(rule.id for rule in RULES)

__all__ = ["RULES", "RULE_IDS", "FileState", "Rule"]
