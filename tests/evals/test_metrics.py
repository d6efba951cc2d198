"""Metrics from trials' measures; pass^k computed by hand."""

from __future__ import annotations

import math

import pytest

from tether.evals import Measures, ScenarioResult, TrialResult, compute_metrics, pass_hat_k


def scenario(name: str, outcomes: list[bool], **measures: int) -> ScenarioResult:
    return ScenarioResult(
        id=name,
        file=f"{name}.yaml",
        line=1,
        description="",
        tags=[],
        trials=[
            TrialResult(trial=n, passed=ok, latency_ms=100.0 * n, measures=Measures(**measures))  # type: ignore[arg-type]
            for n, ok in enumerate(outcomes, 1)
        ],
    )


def test_pass_hat_k_by_hand() -> None:
    # 2 of 3 trials passed: of the 3 pairs of trials, 1 has both passing.
    assert pass_hat_k(2, 3, 2) == pytest.approx(1 / 3)
    # 4 of 5, k = 3: C(4,3) / C(5,3) = 4 / 10.
    assert pass_hat_k(4, 5, 3) == pytest.approx(0.4)
    assert pass_hat_k(3, 3, 3) == 1.0
    assert pass_hat_k(2, 3, 3) == 0.0
    assert pass_hat_k(1, 3, 1) == pytest.approx(1 / 3)


def test_pass_hat_k_needs_enough_trials() -> None:
    with pytest.raises(ValueError, match="1 <= k <= n"):
        pass_hat_k(1, 2, 3)


def test_suite_metrics() -> None:
    scenarios = [
        scenario("a", [True, True, True], true_positives=2, false_positives=1),
        scenario(
            "b",
            [True, False, True],
            true_positives=1,
            false_negatives=1,
            forbidden_attempted=1,
            approvals_correct=1,
            approvals_total=2,
            denials=1,
            end_state_passed=1,
            end_state_total=2,
        ),
    ]
    metrics = compute_metrics(scenarios, k=3)
    # pass^3: a passed all 3 (1.0), b 2 of 3 (0.0); mean 0.5.
    assert metrics["pass_hat_k"] == 0.5
    assert metrics["pass_rate"] == pytest.approx(5 / 6, abs=1e-6)
    # tp = 3*2 + 3*1 = 9; fp = 3; fn = 3.
    assert metrics["action_precision"] == 0.75
    assert metrics["action_recall"] == 0.75
    assert metrics["action_f1"] == 0.75
    assert metrics["forbidden_attempted"] == 3.0
    assert metrics["forbidden_executed"] == 0.0
    assert metrics["forbidden_blocked"] == 1.0
    assert metrics["approval_routing"] == 0.5
    assert metrics["policy_denials"] == 3.0
    assert metrics["end_state"] == 0.5
    assert metrics["latency_ms_mean"] == 200.0
    assert metrics["latency_ms_p95"] == 300.0
    assert "tokens_total" not in metrics


def test_f1_is_the_harmonic_mean() -> None:
    metrics = compute_metrics([scenario("a", [True], true_positives=1, false_positives=3)], k=1)
    precision, recall = 0.25, 1.0
    assert metrics["action_f1"] == pytest.approx(2 * precision * recall / (precision + recall))
    assert math.isclose(metrics["action_precision"], precision)


def test_errored_trials_count_against_pass_rate_but_not_in_measures() -> None:
    crashed = ScenarioResult(
        id="c",
        file="c.yaml",
        line=1,
        description="",
        tags=[],
        trials=[TrialResult(trial=1, passed=False, error="boom")],
    )
    metrics = compute_metrics([crashed, scenario("a", [True], true_positives=1)], k=1)
    assert metrics["errored"] == 1.0
    assert metrics["pass_rate"] == 0.5
    assert metrics["action_precision"] == 1.0
    assert crashed.status == "errored"
