"""Property: whatever a model proposes, a tool the policy does not grant is never allowed."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.helpers import TOOLS, call, policy
from tether.calls import Principal
from tether.gate import Allow, evaluate
from tether.policy._policy import PatternMatcher

GRANTED_PATTERNS = ["crm.find", "mail.*"]
POLICY = policy(
    """
    bot:
      may_act_for: ['*']
      tools:
        - tool: crm.find
        - {tool: "mail.*", approval: never}
    shadowed:
      may_act_for: ['*']
      shadow: true
      tools:
        - tool: crm.find
    """
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=8,
)
tool_names = st.sampled_from(TOOLS.names()) | st.text(
    alphabet="abcdefghijklmnopqrstuvwxyz.*_-", min_size=1, max_size=20
)
principals = st.builds(
    Principal,
    id=st.sampled_from(["alice", "bob", "fiona", "mallory", ""]),
    roles=st.frozensets(st.sampled_from(["agent-users", "clerk", "approvers", "admin"])),
)


def granted(name: str) -> bool:
    return any(PatternMatcher.of(pattern).matches(name) for pattern in GRANTED_PATTERNS)


@settings(max_examples=400, deadline=None)
@given(
    tool=tool_names,
    args=st.dictionaries(st.text(max_size=8), json_values, max_size=4),
    principal=principals,
    untrusted=st.booleans(),
)
def test_ungranted_tools_are_never_allowed(
    tool: str, args: dict[str, Any], principal: Principal, untrusted: bool
) -> None:
    decision = evaluate(POLICY, call(tool, args, principal=principal, untrusted=untrusted)).decision
    if not granted(tool) or tool not in TOOLS:
        assert not isinstance(decision, Allow)


@settings(max_examples=200, deadline=None)
@given(tool=tool_names, args=st.dictionaries(st.text(max_size=8), json_values, max_size=4))
def test_shadow_mode_never_hides_that_a_call_was_not_granted(
    tool: str, args: dict[str, Any]
) -> None:
    decision = evaluate(POLICY, call(tool, args, agent="shadowed")).decision
    if tool != "crm.find":
        # Shadow mode lets the call through, but the refusal is always on the record.
        assert decision.kind != "allow" or any(f.rule == "default-deny" for f in decision.shadow)
