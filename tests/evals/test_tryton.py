"""Tryton records as a scenario's starting state: a fresh database and server per trial."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.evals.conftest import WriteScenario
from tether.cli import app
from tether.evals import ScenarioError, load_suite

HERE = Path(__file__).resolve().parent / "tryton"

needs_trytond = pytest.mark.skipif(
    importlib.util.find_spec("trytond") is None,
    reason="Tryton starting state needs trytond: pip install 'tether[tryton]'",
)


@pytest.mark.slow
@needs_trytond
def test_tryton_records_start_each_trial_afresh(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TETHER_EVAL_TRYTON_PASSWORD", "set by the runner for each trial")
    result = CliRunner().invoke(
        app,
        [
            "eval",
            str(HERE / "scenarios"),
            "--k",
            "2",
            "--json",
            str(tmp_path / "r.json"),
            "--no-store",
        ],
        terminal_width=200,
    )
    assert result.exit_code == 0, result.output
    (scenario,) = json.loads((tmp_path / "r.json").read_text())["scenarios"]
    # Two trials, each found one Evalcorp and left two: nothing carried over.
    assert [trial["passed"] for trial in scenario["trials"]] == [True, True]
    assert all(trial["measures"]["end_state_passed"] == 1 for trial in scenario["trials"])


def test_tryton_state_needs_a_tryton_connector(write_scenario: WriteScenario) -> None:
    path = write_scenario(
        """\
        agent: support-desk
        principal: alice
        task: Anything.
        state:
          tryton:
            records: [{model: party.party, values: {name: X}}]
        """
    )
    with pytest.raises(ScenarioError) as caught:
        load_suite(path)
    ((issue),) = caught.value.issues
    assert issue.line == 6
    assert issue.message == "Tryton state and checks need a `tryton` connector in the configuration"
