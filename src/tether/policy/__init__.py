"""Policy as code: a YAML file, checked when it loads, compiled for fast decisions.

Names are imported when first used: a YAML helper or a duration does not load CEL.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tether.lazy import lazy_exports

if TYPE_CHECKING:
    from tether.policy._cel import VARIABLES as CONDITION_VARIABLES
    from tether.policy._cel import Activation, Condition, ConditionError
    from tether.policy._load import load_policy, load_policy_text
    from tether.policy._policy import AgentPolicy, Approval, Grant, Limit, Permission, Policy
    from tether.policy._schema_problems import allowed_keys, schema_problems
    from tether.policy._spec import PolicySpec, parse_duration, policy_json_schema
    from tether.policy._yaml import Path_, YamlProblem, line_of, load_with_lines

_WHERE: dict[str, str | tuple[str, str]] = {
    "Activation": "tether.policy._cel",
    "AgentPolicy": "tether.policy._policy",
    "Approval": "tether.policy._policy",
    "CONDITION_VARIABLES": ("tether.policy._cel", "VARIABLES"),
    "Condition": "tether.policy._cel",
    "ConditionError": "tether.policy._cel",
    "Grant": "tether.policy._policy",
    "Limit": "tether.policy._policy",
    "Path_": "tether.policy._yaml",
    "Permission": "tether.policy._policy",
    "Policy": "tether.policy._policy",
    "PolicySpec": "tether.policy._spec",
    "YamlProblem": "tether.policy._yaml",
    "allowed_keys": "tether.policy._schema_problems",
    "line_of": "tether.policy._yaml",
    "load_policy": "tether.policy._load",
    "load_policy_text": "tether.policy._load",
    "load_with_lines": "tether.policy._yaml",
    "parse_duration": "tether.policy._spec",
    "policy_json_schema": "tether.policy._spec",
    "schema_problems": "tether.policy._schema_problems",
}
"""Where each public name lives: imported when first used."""

__all__ = [
    "CONDITION_VARIABLES",
    "Activation",
    "AgentPolicy",
    "Approval",
    "Condition",
    "ConditionError",
    "Grant",
    "Limit",
    "Path_",
    "Permission",
    "Policy",
    "PolicySpec",
    "YamlProblem",
    "allowed_keys",
    "line_of",
    "load_policy",
    "load_policy_text",
    "load_with_lines",
    "parse_duration",
    "policy_json_schema",
    "schema_problems",
]

__getattr__, __dir__ = lazy_exports(__name__, _WHERE, __all__)
