"""Every rule type on its allow and deny paths, through the pure decision steps."""

from __future__ import annotations

from typing import Any

import pytest

from tests.helpers import BASE, call, policy
from tether.calls import Principal
from tether.gate import Allow, Decision, Deny, NeedsApproval, evaluate
from tether.tools import Effect

BOT = """
bot:
  may_act_for: [role:agent-users]
  tools:
{grants}
"""


def bot(grants: str, *, header: str = "") -> str:
    indented = "\n".join("    " + line for line in grants.strip().splitlines())
    return BOT.replace("  tools:", header + "  tools:" if header else "  tools:").format(
        grants=indented
    )


def decide(
    grants: str, tool: str, args: dict[str, Any], *, header: str = "", **kw: Any
) -> Decision:
    return evaluate(policy(bot(grants, header=header)), call(tool, args, **kw)).decision


# --- identify and permit -------------------------------------------------------------


def test_unknown_agent_is_denied() -> None:
    decision = evaluate(
        policy(bot("- tool: crm.find")), call("crm.find", {"name": "x"}, agent="other")
    ).decision
    assert isinstance(decision, Deny)
    assert decision.rules == ("default-deny",)
    assert "agent 'other' is not in the policy" in decision.reasons[0]


def test_unknown_tool_is_denied() -> None:
    decision = decide("- tool: '*'", "crm.nope", {})
    assert isinstance(decision, Deny)
    assert "not a known tool" in decision.reasons[0]


def test_granted_tool_is_allowed_and_names_its_rule() -> None:
    decision = decide("- {id: finder, tool: crm.find}", "crm.find", {"name": "Acme"})
    assert isinstance(decision, Allow)
    assert "finder" in decision.rules
    assert decision.effect is Effect.READ
    assert decision.policy_version.startswith("sha256:")


def test_default_deny_for_a_tool_not_granted() -> None:
    decision = decide("- tool: crm.find", "crm.update", {"party_id": 1, "email": "a@b"})
    assert isinstance(decision, Deny)
    assert decision.rules == ("default-deny",)
    assert "no rule grants 'crm.update'" in decision.reasons[0]


def test_agent_may_only_act_for_listed_principals() -> None:
    outsider = Principal(id="mallory", roles=frozenset({"clerk"}))
    decision = decide("- tool: crm.find", "crm.find", {"name": "x"}, principal=outsider)
    assert isinstance(decision, Deny)
    assert decision.rules == ("bot.may_act_for",)


def test_agent_may_act_for_a_named_user() -> None:
    text = BOT.replace("[role:agent-users]", "[user:bob]").format(grants="    - tool: crm.find")
    bob = Principal(id="bob", roles=frozenset({"clerk"}))
    decision = evaluate(policy(text), call("crm.find", {"name": "x"}, principal=bob)).decision
    assert isinstance(decision, Allow)


def test_wildcard_grant_matches_by_prefix() -> None:
    assert isinstance(decide("- tool: crm.*", "crm.find", {"name": "x"}), Allow)
    assert isinstance(decide("- tool: crm.*", "erp.refund", {"invoice": 1, "amount": 1.0}), Deny)


def test_most_specific_grant_wins() -> None:
    grants = """
- {id: all-crm, tool: "crm.*"}
- {id: careful-update, tool: crm.update, when: "args.email.endsWith('@acme.example')"}
"""
    allowed = decide(grants, "crm.update", {"party_id": 1, "email": "x@acme.example"})
    denied = decide(grants, "crm.update", {"party_id": 1, "email": "x@evil.example"})
    assert isinstance(allowed, Allow) and "careful-update" in allowed.rules
    assert isinstance(denied, Deny) and denied.rules == ("careful-update.when",)


def test_agent_never_exceeds_the_principal() -> None:
    clerk = Principal(id="bob", roles=frozenset({"clerk"}))
    text = BOT.replace("[role:agent-users]", "[user:bob]").format(grants="    - tool: 'crm.*'")
    decision = evaluate(
        policy(text), call("crm.update", {"party_id": 1, "email": "e"}, principal=clerk)
    ).decision
    assert isinstance(decision, Deny)
    assert decision.rules == ("principal:bob",)
    assert "may not use crm.update themselves" in decision.reasons[0]


def test_principal_permission_conditions_bound_the_agent() -> None:
    base = BASE.replace(
        '  agent-users:\n    may: ["*"]\n',
        "  agent-users:\n    may:\n      - tool: erp.refund\n        when: args.amount <= 100.0\n",
    )
    p = policy(bot("- {tool: erp.refund, approval: never}"), base=base)
    small = evaluate(p, call("erp.refund", {"invoice": 1, "amount": 50.0})).decision
    large = evaluate(p, call("erp.refund", {"invoice": 1, "amount": 500.0})).decision
    assert isinstance(small, Allow) and "role:agent-users" in small.rules
    assert isinstance(large, Deny) and large.rules == ("principal:alice",)


def test_data_scope_allows_own_team_and_denies_others() -> None:
    header = "  scope: resource.team == principal.attributes.team\n"
    grants = "- tool: crm.update"
    args = {"party_id": 1, "email": "e"}
    inside = decide(grants, "crm.update", args, header=header, resource={"team": "emea"})
    outside = decide(grants, "crm.update", args, header=header, resource={"team": "us"})
    unknown = decide(grants, "crm.update", args, header=header)
    assert isinstance(inside, Allow) and "bot.scope" in inside.rules
    assert isinstance(outside, Deny) and outside.rules == ("bot.scope",)
    assert isinstance(unknown, Deny) and "was not identified" in unknown.reasons[0]


def test_a_scoped_agent_may_not_call_a_tool_whose_target_cannot_be_located() -> None:
    """Issue 15, item 7: a tool that declares no resource escaped the scope."""
    header = "  scope: resource.team == principal.attributes.team\n"
    decision = decide("- tool: crm.find", "crm.find", {"name": "x"}, header=header)
    assert isinstance(decision, Deny)
    assert decision.rules == ("bot.scope",)
    assert "declares no resource" in decision.reasons[0]
    assert "unscoped" in decision.reasons[0]


def test_a_grant_says_where_the_scope_does_not_apply() -> None:
    header = "  scope: resource.team == principal.attributes.team\n"
    grants = "- {tool: crm.find, unscoped: a search by name}"
    decision = decide(grants, "crm.find", {"name": "x"}, header=header)
    assert isinstance(decision, Allow)
    assert any("bot.scope does not apply (a search by name)" in r for r in decision.reasons)


def test_an_agent_without_a_scope_needs_no_resource() -> None:
    assert isinstance(decide("- tool: crm.find", "crm.find", {"name": "x"}), Allow)


# --- check inputs -------------------------------------------------------------------


def test_unknown_argument_is_refused_with_a_helpful_model_message() -> None:
    decision = decide("- tool: crm.find", "crm.find", {"name": "x", "limit": 5})
    assert isinstance(decision, Deny)
    assert decision.rules == ("crm.find.schema",)
    assert "limit: Extra inputs are not permitted" in decision.model_message


def test_wrong_argument_type_is_refused() -> None:
    decision = decide(
        "- {tool: erp.refund, approval: never}", "erp.refund", {"invoice": "x", "amount": 1.0}
    )
    assert isinstance(decision, Deny)
    assert "invoice" in decision.reasons[0]


def test_condition_on_arguments() -> None:
    grants = "- {tool: erp.refund, when: args.amount <= 500.0, approval: never}"
    assert isinstance(decide(grants, "erp.refund", {"invoice": 1, "amount": 500.0}), Allow)
    denied = decide(grants, "erp.refund", {"invoice": 1, "amount": 500.5})
    assert isinstance(denied, Deny)
    assert denied.rules == ("bot:erp.refund.when",)


def test_allow_list_condition_on_recipients() -> None:
    grants = """
- tool: mail.send
  approval: never
  when: args.to.all(r, r.endsWith("@acme.example") || r in run.known_contacts)
"""
    ok = decide(grants, "mail.send", {"to": ["a@acme.example"], "body": "hi"})
    known = decide(
        grants,
        "mail.send",
        {"to": ["x@y.example"], "body": "hi"},
        known_contacts=frozenset({"x@y.example"}),
    )
    stranger = decide(
        grants, "mail.send", {"to": ["a@acme.example", "x@evil.example"], "body": "hi"}
    )
    assert isinstance(ok, Allow) and isinstance(known, Allow)
    assert isinstance(stranger, Deny)


def test_condition_on_a_missing_field_denies_and_says_why() -> None:
    grants = "- {tool: crm.find, when: principal.attributes.region == 'eu'}"
    decision = decide(grants, "crm.find", {"name": "x"})
    assert isinstance(decision, Deny)
    assert "could not be evaluated" in decision.reasons[0]
    assert "region" in decision.reasons[0]


def test_condition_with_a_type_error_denies() -> None:
    grants = "- {tool: crm.find, when: args.name > 3}"
    decision = decide(grants, "crm.find", {"name": "x"})
    assert isinstance(decision, Deny)
    assert "could not be evaluated" in decision.reasons[0]


def test_condition_that_is_not_boolean_denies() -> None:
    decision = decide("- {tool: crm.find, when: args.name}", "crm.find", {"name": "x"})
    assert isinstance(decision, Deny)
    assert "not true or false" in decision.reasons[0]


def test_denial_message_for_the_model_hides_policy_internals() -> None:
    grants = "- {id: secret-rule-name, tool: erp.refund, when: args.amount <= 1.0, approval: never}"
    decision = decide(grants, "erp.refund", {"invoice": 1, "amount": 5.0})
    assert isinstance(decision, Deny)
    assert "secret-rule-name" not in decision.model_message
    assert "args.amount" not in decision.model_message
    assert "secret-rule-name.when" in decision.rules


# --- untrusted content ----------------------------------------------------------------


def test_tainted_run_escalates_consequential_actions_by_default() -> None:
    grants = "- {tool: crm.update}"
    clean = decide(grants, "crm.update", {"party_id": 1, "email": "e"})
    tainted = decide(grants, "crm.update", {"party_id": 1, "email": "e"}, untrusted=True)
    assert isinstance(clean, Allow)
    assert isinstance(tainted, NeedsApproval)
    assert tainted.approval.rule == "defaults.untrusted"


def test_tainted_run_may_still_read() -> None:
    assert isinstance(decide("- tool: crm.find", "crm.find", {"name": "x"}, untrusted=True), Allow)


def test_grant_can_deny_outright_in_a_tainted_run() -> None:
    grants = "- {id: refund, tool: erp.refund, untrusted: deny}"
    decision = decide(grants, "erp.refund", {"invoice": 1, "amount": 1.0}, untrusted=True)
    assert isinstance(decision, Deny)
    assert decision.rules == ("refund.untrusted",)
    assert "outside content" in decision.model_message


def test_grant_can_allow_in_a_tainted_run() -> None:
    grants = "- {tool: crm.update, untrusted: allow}"
    decision = decide(grants, "crm.update", {"party_id": 1, "email": "e"}, untrusted=True)
    assert isinstance(decision, Allow)


def test_conditions_can_read_the_taint() -> None:
    grants = """
- tool: crm.update
  when: '!run.untrusted || args.email.endsWith("@acme.example")'
  untrusted: allow
"""
    ok = decide(grants, "crm.update", {"party_id": 1, "email": "a@acme.example"}, untrusted=True)
    bad = decide(grants, "crm.update", {"party_id": 1, "email": "a@evil.example"}, untrusted=True)
    assert isinstance(ok, Allow) and isinstance(bad, Deny)


# --- approval --------------------------------------------------------------------------


def test_irreversible_and_communicate_need_approval_by_default() -> None:
    refund = decide("- tool: erp.refund", "erp.refund", {"invoice": 1, "amount": 1.0})
    mail = decide("- tool: mail.send", "mail.send", {"to": ["a@b"], "body": "x"})
    write = decide("- tool: crm.update", "crm.update", {"party_id": 1, "email": "e"})
    assert isinstance(refund, NeedsApproval) and refund.approval.rule == "defaults.approval"
    assert isinstance(mail, NeedsApproval)
    assert isinstance(write, Allow)
    assert refund.approval.approvers == ("role:approvers",)


def test_approval_never_turns_off_the_default() -> None:
    decision = decide(
        "- {tool: erp.refund, approval: never}", "erp.refund", {"invoice": 1, "amount": 1.0}
    )
    assert isinstance(decision, Allow)


def test_conditional_approval() -> None:
    grants = """
- id: refund
  tool: erp.refund
  approval:
    when: args.amount > 200.0
    approvers: [user:fiona, user:frank]
    quorum: 2
    expires: 48h
    escalate: {after: 4h, to: [role:approvers]}
"""
    small = decide(grants, "erp.refund", {"invoice": 1, "amount": 100.0})
    large = decide(grants, "erp.refund", {"invoice": 1, "amount": 300.0})
    assert isinstance(small, Allow)
    assert isinstance(large, NeedsApproval)
    approval = large.approval
    assert approval.rule == "refund.approval"
    assert approval.approvers == ("user:fiona", "user:frank")
    assert approval.quorum == 2
    assert approval.expires_after.total_seconds() == 48 * 3600
    assert (
        approval.escalate_after is not None and approval.escalate_after.total_seconds() == 4 * 3600
    )
    assert approval.escalate_to == ("role:approvers",)


def test_approval_condition_that_fails_to_evaluate_denies() -> None:
    grants = "- {tool: erp.refund, approval: {when: args.missing > 1}}"
    decision = decide(grants, "erp.refund", {"invoice": 1, "amount": 1.0})
    assert isinstance(decision, Deny)


def test_policy_effect_overrides_only_upwards() -> None:
    up = decide("- {tool: mcp.anything, effect: irreversible}", "mcp.anything", {})
    assert isinstance(up, NeedsApproval) and up.effect is Effect.IRREVERSIBLE
    not_down = decide(
        "- {tool: erp.refund, effect: read}", "erp.refund", {"invoice": 1, "amount": 1.0}
    )
    assert isinstance(not_down, NeedsApproval) and not_down.effect is Effect.IRREVERSIBLE


# --- limits (what the pure step claims; the ledger settles them) -------------------------


def test_limit_claims_are_computed_per_owner() -> None:
    grants = """
- id: refund
  tool: erp.refund
  approval: never
  limits:
    - {id: per-run, per: run, count: 3}
    - {id: budget, per: agent, window: 24h, sum: args.amount, max: 500}
    - {id: mine, per: principal, window: 1h, count: 10}
"""
    p = policy(bot(grants))
    evaluation = evaluate(p, call("erp.refund", {"invoice": 1, "amount": 120.0}))
    claims = {claim.limit.rule: (claim.key, claim.amount) for claim in evaluation.claims}
    assert claims == {
        "per-run": ("run:run-1|per-run", 1.0),
        "budget": ("agent:bot|budget", 120.0),
        "mine": ("principal:alice|mine", 1.0),
    }


def test_limit_sum_that_is_not_a_number_denies() -> None:
    grants = "- {tool: crm.find, limits: [{per: run, sum: args.name, max: 10}]}"
    decision = decide(grants, "crm.find", {"name": "x"})
    assert isinstance(decision, Deny)
    assert "not a number" in decision.reasons[0]


# --- shadow mode --------------------------------------------------------------------------


def test_shadow_grant_records_but_does_not_enforce() -> None:
    grants = "- {id: r, tool: erp.refund, when: args.amount <= 10.0, approval: never, shadow: true}"
    decision = decide(grants, "erp.refund", {"invoice": 1, "amount": 50.0})
    assert isinstance(decision, Allow)
    assert [finding.rule for finding in decision.shadow] == ["r.when"]


def test_shadow_agent_records_default_deny() -> None:
    text = bot("- tool: crm.find").replace("  tools:", "  shadow: true\n  tools:")
    decision = evaluate(policy(text), call("crm.update", {"party_id": 1, "email": "e"})).decision
    assert isinstance(decision, Allow)
    assert decision.shadow[0].rule == "default-deny"


def test_policy_wide_shadow_mode() -> None:
    base = BASE + "mode: shadow\n"
    p = policy(bot("- tool: crm.find"), base=base)
    denied = evaluate(p, call("erp.refund", {"invoice": 1, "amount": 1.0})).decision
    escalated = evaluate(
        policy(bot("- tool: erp.refund"), base=base),
        call("erp.refund", {"invoice": 1, "amount": 1.0}),
    ).decision
    assert isinstance(denied, Allow) and denied.shadow[0].rule == "default-deny"
    assert isinstance(escalated, Allow) and escalated.shadow[0].rule == "defaults.approval"


def test_decision_serialises_for_json() -> None:
    decision = decide(
        "- {id: refund, tool: erp.refund}", "erp.refund", {"invoice": 1, "amount": 1.0}
    )
    data = decision.to_dict()
    assert data["kind"] == "needs_approval"
    assert data["approval"]["expires_after"] == 86400.0
    assert data["effect"] == "irreversible"


@pytest.mark.parametrize("tool_name", ["crm.find", "crm.update", "erp.refund"])
def test_empty_grant_list_denies_everything(tool_name: str) -> None:
    text = "bot:\n  may_act_for: [role:agent-users]\n  tools: []\n"
    decision = evaluate(policy(text), call(tool_name, {})).decision
    assert isinstance(decision, Deny)
