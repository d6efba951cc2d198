"""OpenTelemetry export: GenAI semantic conventions plus tether's decision attributes."""

from __future__ import annotations

import asyncio
import datetime as _dt
import io
import json
from collections.abc import Callable

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from tests.audit.conftest import T0
from tests.audit.gate_setup import policy, proposed, run_calls
from tether.audit import AuditEvent, AuditLog, JsonLinesSpanExporter, export_spans
from tether.gate import Gate


def spans_of(log: AuditLog, **options: bool) -> dict[str, ReadableSpan]:
    exporter = InMemorySpanExporter()
    count = export_spans(log.events(), exporter, **options)
    spans = exporter.get_finished_spans()
    assert count == len(spans)
    by_name: dict[str, ReadableSpan] = {}
    for span in spans:
        key = str((span.attributes or {}).get("gen_ai.tool.call.id") or span.name)
        by_name[key] = span
    return by_name


def test_run_and_tool_call_spans(sqlite_db: str, open_log: Callable[..., AuditLog]) -> None:
    log = open_log(sqlite_db)
    the_policy = policy()
    log.append(
        AuditEvent(
            type="run.started",
            run_id="run-1",
            at=T0,
            agent="desk",
            agent_version="2.1",
            principal="alice",
            details={"provider": "openai", "model": "gpt-4o"},
        )
    )
    run_calls(Gate(the_policy, database=sqlite_db, recorder=log))
    log.append(AuditEvent(type="run.finished", run_id="run-1", agent="desk"))
    spans = spans_of(log)
    assert set(spans) == {"invoke_agent desk", "c1", "c2", "c3", "c4", "c5"}

    run = spans["invoke_agent desk"]
    assert run.kind == SpanKind.INTERNAL
    assert run.parent is None
    assert dict(run.attributes or {}) == {
        "gen_ai.operation.name": "invoke_agent",
        "gen_ai.agent.name": "desk",
        "gen_ai.agent.version": "2.1",
        "gen_ai.conversation.id": "run-1",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o",
        "tether.run.id": "run-1",
        "tether.principal.id": "alice",
        "tether.run.status": "finished",
        "tether.run.calls": 5,
        "tether.audit.first_seq": 1,
        "tether.audit.last_seq": 15,
    }
    assert [event.name for event in run.events] == ["run.started", "run.finished"]

    read = spans["c1"]
    assert read.name == "execute_tool crm.read"
    assert read.kind == SpanKind.INTERNAL
    assert read.parent is not None and read.parent.span_id == run.context.span_id
    assert read.context.trace_id == run.context.trace_id
    attributes = dict(read.attributes or {})
    assert attributes["gen_ai.operation.name"] == "execute_tool"
    assert attributes["gen_ai.tool.name"] == "crm.read"
    assert attributes["gen_ai.tool.call.id"] == "c1"
    assert attributes["gen_ai.tool.type"] == "function"
    assert attributes["gen_ai.agent.name"] == "desk"
    assert attributes["tether.decision"] == "allow"
    assert attributes["tether.rules"][0] == "read"
    assert attributes["tether.policy_version"] == the_policy.version
    assert attributes["tether.effect"] == "read"
    assert attributes["tether.outcome"] == "executed"
    assert attributes["tether.why"] == "the customer asked (step c1)"
    assert attributes["tether.audit.seq"] == (2, 3, 4)
    assert "gen_ai.tool.call.arguments" not in attributes  # opt-in content
    assert [e.name for e in read.events] == ["call.proposed", "call.decided", "call.executed"]
    assert read.status.status_code == StatusCode.UNSET

    failed = spans["c3"]
    assert failed.status.status_code == StatusCode.ERROR
    assert dict(failed.attributes or {})["error.type"] == "ValueError"
    assert dict(failed.attributes or {})["tether.outcome"] == "failed"

    waiting = dict(spans["c4"].attributes or {})
    assert waiting["tether.decision"] == "needs_approval"
    assert waiting["tether.outcome"] == "awaiting_approval"
    assert "defaults.approval" in waiting["tether.rules"]

    denied = dict(spans["c5"].attributes or {})
    assert (denied["tether.decision"], denied["tether.outcome"]) == ("deny", "refused")
    assert denied["tether.rules"] == ("default-deny",)
    assert denied["tether.reasons"][0].startswith("no rule grants")


def test_content_is_opt_in_and_redacted(sqlite_db: str, open_log: Callable[..., AuditLog]) -> None:
    log = open_log(sqlite_db)
    run_calls(Gate(policy(), database=sqlite_db, recorder=log))
    connect = dict(spans_of(log, include_content=True)["c2"].attributes or {})
    assert json.loads(str(connect["gen_ai.tool.call.arguments"])) == {
        "account": "acme",
        "passphrase": "[REDACTED]",
    }
    assert json.loads(str(connect["gen_ai.tool.call.result"]))["session"] == "[REDACTED]"


def test_approval_and_stopped_run(sqlite_db: str, open_log: Callable[..., AuditLog]) -> None:
    log = open_log(sqlite_db)
    at = T0
    log.append_many(
        [
            AuditEvent(type="call.proposed", run_id="r", call_id="c", agent="a", tool="t", at=at),
            AuditEvent(
                type="approval.decided",
                run_id="r",
                call_id="c",
                agent="a",
                tool="t",
                at=at + _dt.timedelta(hours=2),
                approval={
                    "request_id": "q1",
                    "verdict": "rejected",
                    "by": "fiona",
                    "comment": "no",
                    "approvers": ["role:finance"],
                },
            ),
            AuditEvent(
                type="run.stopped",
                run_id="r",
                agent="a",
                at=at + _dt.timedelta(hours=3),
                error="rejected by fiona",
                details={"reason": "rejected"},
            ),
        ]
    )
    spans = spans_of(log)
    call = dict(spans["c"].attributes or {})
    assert call["tether.approval.verdict"] == "rejected"
    assert call["tether.approval.by"] == "fiona"
    assert call["tether.outcome"] == "rejected"
    run = spans["invoke_agent a"]
    assert run.status.status_code == StatusCode.ERROR
    assert dict(run.attributes or {})["error.type"] == "rejected"
    assert run.end_time is not None and run.start_time is not None
    assert run.end_time - run.start_time == 3 * 3600 * 10**9


def test_exporting_twice_gives_the_same_ids(
    sqlite_db: str, open_log: Callable[..., AuditLog]
) -> None:
    log = open_log(sqlite_db)
    run_calls(Gate(policy(), database=sqlite_db, recorder=log))
    first = {k: (s.context.trace_id, s.context.span_id) for k, s in spans_of(log).items()}
    assert first == {k: (s.context.trace_id, s.context.span_id) for k, s in spans_of(log).items()}


def test_calls_recorded_in_a_live_span_hang_under_it(
    sqlite_db: str, open_log: Callable[..., AuditLog]
) -> None:
    log = open_log(sqlite_db)
    gate = Gate(policy(), database=sqlite_db, recorder=log)
    with TracerProvider().get_tracer("framework").start_as_current_span("agent step") as live:
        asyncio.run(gate.call(proposed("crm.read", {"party_id": 2}, call_id="live")))
    span = spans_of(log)["live"]
    assert span.context.trace_id == live.get_span_context().trace_id
    assert span.parent is not None and span.parent.span_id == live.get_span_context().span_id


def test_json_lines_exporter(sqlite_db: str, open_log: Callable[..., AuditLog]) -> None:
    log = open_log(sqlite_db)
    run_calls(Gate(policy(), database=sqlite_db, recorder=log))
    out = io.StringIO()
    exporter = JsonLinesSpanExporter(out)
    assert export_spans(log.events(), exporter) == 6
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert lines[0]["name"] == "invoke_agent desk"
    assert lines[1]["attributes"]["gen_ai.operation.name"] == "execute_tool"
    assert exporter.error is None
