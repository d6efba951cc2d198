"""REST fixtures and a Maildir mailbox as a scenario's systems, fresh for every trial."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.evals.conftest import WriteScenario
from tether.evals import ScenarioError, load_suite, result_json, run_suite, scenario_json_schema
from tether.evals._rest import RestServer
from tether.evals._scenario import RestFixture, RestQuery

HERE = Path(__file__).resolve().parent / "services"
CONFIG = HERE / "tether.yaml"


@pytest.fixture(scope="module")
def results() -> dict[str, Any]:
    data = result_json(run_suite(load_suite(HERE / "scenarios"), k=2))
    return {scenario["id"]: scenario for scenario in data["scenarios"]}


def _calls(trial: dict[str, Any]) -> list[tuple[str, dict[str, Any], str, bool]]:
    return [(a["tool"], a["args"], a["decision"], a["executed"]) for a in trial["actions"]]


def test_rest_fixtures_answer_and_the_posts_are_counted(results: dict[str, Any]) -> None:
    scenario = results["rest-refunds"]
    assert scenario["status"] == "passed", json.dumps(scenario, indent=1)[:3000]
    for trial in scenario["trials"]:  # both trials: nothing carried over (exactly 2 POSTs)
        assert trial["measures"]["end_state_passed"] == 4
        assert _calls(trial) == [
            ("crm.getCustomer", {"customer_id": 42}, "allow", True),  # the fixture answered
            ("crm.getCustomer", {"customer_id": 99}, "allow", False),  # no fixture: a 404
            ("crm.createRefund", {"customer_id": 42, "amount": 60.0}, "allow", True),
            ("crm.createRefund", {"customer_id": 43, "amount": 5.0}, "allow", True),
            ("crm.deleteCustomer", {"customer_id": 42}, "deny", False),
        ]


def test_a_wrong_count_of_requests_fails(results: dict[str, Any]) -> None:
    scenario = results["rest-refunds-miscounted"]
    assert scenario["status"] == "failed"
    for trial in scenario["trials"]:
        assert trial["error"] is None
        assert trial["failures"] == [
            "end state 'rest crm POST /refunds': crm received 1 matching request(s), expected 3"
        ]


def test_the_mailbox_is_read_and_the_reply_lands_in_the_trials_outbox(
    results: dict[str, Any],
) -> None:
    scenario = results["mail-reply"]
    assert scenario["status"] == "passed", json.dumps(scenario, indent=1)[:3000]
    for trial in scenario["trials"]:  # `expect: 1` in both: each trial has its own outbox
        assert [(tool, executed) for tool, _, _, executed in _calls(trial)] == [
            ("email.read_inbox", True),
            ("email.read_message", True),
            ("email.send", True),
        ]
        assert trial["measures"]["end_state_passed"] == 2


def test_the_fixture_server_answers_records_and_forgets() -> None:
    server = RestServer()
    try:
        server.reset(
            {"crm": [RestFixture.model_validate({"method": "GET", "path": "/c/*", "json": [1]})]}
        )
        with httpx.Client(base_url=server.url("crm")) as client:
            assert client.get("/c/1", params={"q": "x"}).json() == [1]
            missing = client.post("/c/1", json={"amount": 3})
            assert missing.status_code == 404
            assert missing.json() == {"error": "no fixture for POST /c/1"}
        (first, second) = server.received()
        assert (first.method, first.path, first.query) == ("GET", "/c/1", {"q": ["x"]})
        assert second.body == {"amount": 3}
        query = RestQuery.model_validate({"service": "crm", "body": {"amount": {"max": 5}}})
        assert server.count(query) == 1
        server.reset({})
        assert server.received() == []
    finally:
        server.close()


def test_rest_and_mailbox_are_checked_against_the_configuration(
    write_scenario: WriteScenario,
) -> None:
    path = write_scenario(
        f"""\
        config: {CONFIG}
        agent: desk
        principal: alice
        task: Anything.
        state:
          rest:
            crn: []
        expect:
          end_state:
            - rest: {{service: billing, method: POST}}
              expect: 0
        """,
        config=False,
    )
    with pytest.raises(ScenarioError) as caught:
        load_suite(path)
    assert [(issue.line, issue.message) for issue in caught.value.issues] == [
        (7, "unknown REST service 'crn'; openapi connectors: crm"),
        (10, "unknown REST service 'billing'; openapi connectors: crm"),
    ]


def test_a_mailbox_needs_an_email_connector(write_scenario: WriteScenario) -> None:
    path = write_scenario(
        """\
        agent: support-desk
        principal: alice
        task: Anything.
        state:
          mailbox: [{from: a@b.example, subject: Hi, body: Hello.}]
          rest: {crm: []}
        """
    )
    with pytest.raises(ScenarioError) as caught:
        load_suite(path)
    assert [(issue.line, issue.message) for issue in caught.value.issues] == [
        (
            7,
            "unknown REST service 'crm': REST fixtures and checks need an `openapi` "
            "connector in the configuration",
        ),
        (
            6,
            "a mailbox needs an `email` connector in the configuration "
            "(the demo desk's inbox is `state.desk.inbox`)",
        ),
    ]


def test_the_scenarios_match_the_shipped_schema() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    schema = scenario_json_schema()
    for file in sorted((HERE / "scenarios").glob("*.yaml")):
        jsonschema.validate(yaml.safe_load(file.read_text()), schema)
    bad = {"agent": "a", "principal": "p", "task": "t", "state": {"rest": {"crm": [{}]}}}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema)
