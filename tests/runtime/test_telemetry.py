"""A configured runtime exports its runs live: the run parks for approval, a finance
lead approves, and the spans a real OTLP receiver gets tell that story."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.otlp_receiver import otlp_receiver
from tests.runtime.conftest import EXAMPLE
from tether.config import load_config


def write_config(tmp_path: Path, sqlite_url: str, **telemetry: object) -> Path:
    path = tmp_path / "tether.yaml"
    config = {
        "database": sqlite_url,
        "policy": str(EXAMPLE / "policy.yaml"),
        "agents": [str(EXAMPLE / "agents" / "support-desk.yaml")],
        "keys": str(tmp_path / "keys"),
        "telemetry": telemetry,
    }
    path.write_text(yaml.safe_dump(config))
    return path


def test_a_run_is_exported_live_to_the_otlp_endpoint(
    tmp_path: Path, sqlite_url: str, desk: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with otlp_receiver() as receiver:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.url)
        config = load_config(write_config(tmp_path, sqlite_url, service_name="support"))
        with config.runtime() as runtime:
            runtime.launch()
            run = runtime.start("support-desk", "Acme was charged twice", principal="alice")
            assert runtime.wait(run.id).status == "waiting_approval"
            (request,) = runtime.approvals.find(run_id=run.id)
            runtime.approve(request.id, by="fiona", comment="checked")
            assert runtime.wait(run.id).status == "completed"
        spans = receiver.wait_for(1)
    by_name = receiver.by_name()
    agent = by_name["invoke_agent support-desk"]
    assert agent.resource["service.name"] == "support"
    assert agent.attributes["tether.run.status"] == "finished"
    names = [span.name for span in spans]
    assert names.count("execute_tool erp.create_credit_note") == 1  # once, when it ran
    refund = by_name["execute_tool erp.create_credit_note"]
    assert refund.attributes["tether.outcome"] == "executed"
    assert refund.attributes["tether.approval.by"] == "fiona"
    assert "approval.requested" in refund.events and "call.executed" in refund.events
    assert refund.parent_span_id == agent.span_id
    assert all(span.trace_id == agent.trace_id for span in spans)
    assert {span.attributes["gen_ai.operation.name"] for span in spans} == {
        "invoke_agent",
        "execute_tool",
    }


def test_no_endpoint_no_export_and_otlp_false_wins(
    tmp_path: Path, sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", raising=False)
    assert load_config(write_config(tmp_path, sqlite_url)).telemetry() is None
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318")
    assert load_config(write_config(tmp_path, sqlite_url, otlp=False)).telemetry() is None
    live = load_config(write_config(tmp_path, sqlite_url)).telemetry()
    assert live is not None
    live.shutdown()
