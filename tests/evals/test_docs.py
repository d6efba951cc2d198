"""docs/evals.md: its scenarios run and pass, its invalid one fails as the doc says.

(tests/test_docs.py runs the doc's ```python and ```console blocks.)
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.evals.conftest import EXAMPLE, ROOT, WriteScenario
from tether.evals import ScenarioError, load_suite, result_json, run_suite

DOC = ROOT / "docs" / "evals.md"
FENCE = re.compile(r"^```(\w+)([^\n]*)\n(.*?)^```", re.S | re.M)


def blocks(info: str) -> list[str]:
    return [body for _, rest, body in FENCE.findall(DOC.read_text()) if rest.strip() == info]


def test_the_doc_scenarios_pass(write_scenario: WriteScenario) -> None:
    scenarios = blocks("scenario")
    assert len(scenarios) >= 2
    for index, body in enumerate(scenarios):
        write_scenario(body, f"doc-{index}.yaml")
    folder = write_scenario(scenarios[0], "doc-0.yaml").parent
    data = result_json(run_suite(load_suite(folder)))
    assert {s["id"]: s["status"] for s in data["scenarios"]} == {
        "us-team-refund": "passed",
        "void-on-request-doc": "passed",
    }, json.dumps(data["scenarios"], indent=1)[:3000]


def test_the_doc_invalid_scenario_fails_as_shown(tmp_path: Path) -> None:
    (body,) = blocks("invalid-scenario")
    path = tmp_path / "bad.yaml"
    path.write_text(f"config: {EXAMPLE / 'tether.yaml'}\n" + body)
    with pytest.raises(ScenarioError) as caught:
        load_suite(path)
    text = DOC.read_text()
    shown = text[text.index("```yaml invalid-scenario") :]
    shown = shown[shown.index("```text\n") + 8 : shown.index("```", shown.index("```text\n") + 8)]
    # The doc's lines count from the scenario's first line; the test file adds one line.
    found = [f"bad.yaml:{(issue.line or 0) - 1}: {issue.message}" for issue in caught.value.issues]
    assert sorted(found) == sorted(shown.strip().splitlines())


def test_the_doc_services_scenario_passes(write_scenario: WriteScenario) -> None:
    (body,) = blocks("services-scenario")
    config = ROOT / "tests" / "evals" / "services" / "tether.yaml"
    path = write_scenario(f"config: {config}\n" + body, config=False)
    data = result_json(run_suite(load_suite(path)))
    (scenario,) = data["scenarios"]
    assert scenario["id"] == "refund-and-reply"
    assert scenario["status"] == "passed", json.dumps(scenario, indent=1)[:3000]
    assert scenario["trials"][0]["measures"]["end_state_passed"] == 3
