"""Policy as code: a YAML file, checked when it loads, compiled for fast decisions."""

from tether.policy._cel import VARIABLES as CONDITION_VARIABLES
from tether.policy._load import load_policy, load_policy_text
from tether.policy._policy import Policy
from tether.policy._spec import PolicySpec, parse_duration, policy_json_schema

__all__ = [
    "CONDITION_VARIABLES",
    "Policy",
    "PolicySpec",
    "load_policy",
    "load_policy_text",
    "parse_duration",
    "policy_json_schema",
]
