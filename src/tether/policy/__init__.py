"""Policy as code: a YAML file, checked when it loads, compiled for fast decisions."""

from tether.policy._cel import VARIABLES as CONDITION_VARIABLES
from tether.policy._cel import Activation, Condition, ConditionError
from tether.policy._load import load_policy, load_policy_text
from tether.policy._policy import AgentPolicy, Approval, Grant, Limit, Permission, Policy
from tether.policy._schema_problems import allowed_keys, schema_problems
from tether.policy._spec import PolicySpec, parse_duration, policy_json_schema
from tether.policy._yaml import Path_, YamlProblem, line_of, load_with_lines

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
