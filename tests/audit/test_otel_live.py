"""Live telemetry: spans reach a real OTLP/HTTP receiver on loopback as calls and runs
end, configured by the standard OpenTelemetry variables, with the file export's ids."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tests.audit.conftest import T0
from tests.audit.gate_setup import policy, run_calls
from tests.otlp_receiver import otlp_receiver
from tether.audit import (
    AuditEvent,
    KeyStore,
    LiveSpans,
    ObservedAuditLog,
    export_spans,
    otlp_configured,
    otlp_exporter,
)
from tether.errors import ConfigurationError
from tether.gate import Gate


def fill(log: ObservedAuditLog, url: str) -> None:
    log.append(
        AuditEvent(
            type="run.started",
            run_id="run-1",
            at=T0,
            agent="desk",
            principal="alice",
            details={"provider": "openai", "model": "gpt-4o"},
        )
    )
    run_calls(Gate(policy(), database=url, recorder=log))


def test_spans_reach_an_otlp_receiver_as_calls_and_runs_end(
    sqlite_db: str, keys: KeyStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    with otlp_receiver() as receiver:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.url)
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "x-tenant=acme")
        assert otlp_configured()
        live = LiveSpans(otlp_exporter(), service_name="desk-svc", batch=False)
        log = ObservedAuditLog(sqlite_db, keys=keys, telemetry=live)
        fill(log, sqlite_db)
        # Four calls ended (read, connect, the failure, the refusal); the refund waits
        # for a person, and the run goes on: neither has a span yet.
        spans = receiver.wait_for(4)
        assert sorted(span.attributes["gen_ai.tool.call.id"] for span in spans) == [
            "c1",
            "c2",
            "c3",
            "c5",
        ]
        log.append(AuditEvent(type="run.finished", run_id="run-1", agent="desk"))
        live.shutdown()
        log.close()
        spans = receiver.wait_for(5)
    assert receiver.requests[0]["x-tenant"] == "acme"
    assert receiver.requests[0]["content-type"] == "application/x-protobuf"
    by_name = receiver.by_name()
    run = by_name["invoke_agent desk"]
    assert run.resource["service.name"] == "desk-svc"
    assert run.attributes["gen_ai.operation.name"] == "invoke_agent"
    assert run.attributes["gen_ai.agent.name"] == "desk"
    assert run.attributes["gen_ai.provider.name"] == "openai"
    assert run.attributes["gen_ai.request.model"] == "gpt-4o"
    assert run.attributes["gen_ai.conversation.id"] == "run-1"
    read = by_name["execute_tool crm.read"]
    assert read.attributes["gen_ai.operation.name"] == "execute_tool"
    assert read.attributes["gen_ai.tool.name"] == "crm.read"
    assert read.attributes["gen_ai.tool.type"] == "function"
    assert read.attributes["tether.outcome"] == "executed"
    assert read.events == ["call.proposed", "call.decided", "call.executed"]
    assert read.parent_span_id == run.span_id and read.trace_id == run.trace_id
    assert by_name["execute_tool crm.fail"].status_code == 2  # STATUS_CODE_ERROR
    assert by_name["execute_tool crm.delete"].attributes["tether.decision"] == "deny"

    # The live spans are the file export's: same trace, span and parent ids.
    replay = InMemorySpanExporter()
    export_spans(ObservedAuditLog(sqlite_db, keys=keys, telemetry=live).events(), replay)
    exported = {
        s.name: (
            format(s.context.trace_id, "032x"),
            format(s.context.span_id, "016x"),
            format(s.parent.span_id, "016x") if s.parent else "",
        )
        for s in replay.get_finished_spans()
        if s.name != "execute_tool erp.refund"
    }
    assert exported == {s.name: (s.trace_id, s.span_id, s.parent_span_id) for s in spans}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_a_collector_that_is_down_blocks_no_call(
    sqlite_db: str, keys: KeyStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", f"http://127.0.0.1:{free_port()}/")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "1")
    live = LiveSpans(otlp_exporter())
    log = ObservedAuditLog(sqlite_db, keys=keys, telemetry=live)
    fill(log, sqlite_db)
    log.append(AuditEvent(type="run.finished", run_id="run-1", agent="desk"))
    assert len(list(log.events())) == 15  # every event recorded
    assert log.verify().intact
    live.shutdown()
    log.close()


def test_the_trail_failing_to_read_back_never_fails_the_append(
    sqlite_db: str, keys: KeyStore, tmp_path: Path
) -> None:
    class Broken:
        def events(self, *, run: str | None = None) -> list[object]:
            raise RuntimeError("database gone")

    memory = InMemorySpanExporter()
    live = LiveSpans(memory, batch=False)
    log = ObservedAuditLog(sqlite_db, keys=keys, telemetry=live)
    stored = log.append(AuditEvent(type="run.finished", run_id="r", agent="a"))
    live.observe(Broken(), [stored])  # type: ignore[arg-type]
    assert [s.name for s in memory.get_finished_spans()] == ["invoke_agent a"]
    log.close()


ENDPOINT = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}


@pytest.mark.parametrize(
    ("environ", "configured"),
    [
        ({}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, True),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:4318/v1/traces"}, True),
        ({**ENDPOINT, "OTEL_TRACES_EXPORTER": "none"}, False),
        ({**ENDPOINT, "OTEL_SDK_DISABLED": "true"}, False),
    ],
)
def test_the_standard_variables_turn_export_on(environ: dict[str, str], configured: bool) -> None:
    assert otlp_configured(environ) is configured


def test_an_unknown_protocol_is_a_clear_error() -> None:
    with pytest.raises(ConfigurationError, match="http/protobuf or grpc"):
        otlp_exporter({"OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"})


def test_an_approved_call_goes_on_and_a_rejected_one_ends(sqlite_db: str, keys: KeyStore) -> None:
    memory = InMemorySpanExporter()
    live = LiveSpans(memory, batch=False)
    log = ObservedAuditLog(sqlite_db, keys=keys, telemetry=live)

    def decided(call_id: str, verdict: str, status: str) -> AuditEvent:
        return AuditEvent(
            type="approval.decided",
            run_id="r",
            call_id=call_id,
            agent="a",
            tool="erp.refund",
            approval={"request_id": call_id, "verdict": verdict, "status": status},
        )

    log.append(decided("c1", "approve", "pending"))  # one of two votes
    log.append(decided("c1", "approve", "approved"))  # will run: no span yet
    assert memory.get_finished_spans() == ()
    log.append(decided("c2", "reject", "rejected"))
    (span,) = memory.get_finished_spans()
    assert span.name == "execute_tool erp.refund"
    assert dict(span.attributes or {})["gen_ai.tool.call.id"] == "c2"
    live.shutdown()
    log.close()
