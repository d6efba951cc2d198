"""Export the trail as OpenTelemetry spans, following the GenAI semantic conventions.

A run becomes an ``invoke_agent {agent}`` span; each call in it an ``execute_tool
{tool}`` child span, with ``gen_ai.*`` attributes from the conventions and tether's own
``tether.*`` attributes for the decision (kind, rules, reasons, policy version), the
approval and the outcome. Each audit event of the call is a span event. Trace ids are
the ones the events carry; span ids are derived from the run and call ids, so exporting
twice gives the same spans.

:class:`LiveSpans` sends the same spans as the trail records the ends of calls and
runs (:class:`ObservedAuditLog` shows it what is recorded), to any OTLP endpoint
through the standard exporter (:func:`otlp_exporter`, configured by the
``OTEL_EXPORTER_OTLP_*`` variables).
"""

from __future__ import annotations

import datetime as _dt
import importlib
import logging
import os
import random
import re
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TextIO

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SimpleSpanProcessor,
    SpanExporter,
    SpanExportResult,
)
from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags
from sqlalchemy.engine import Engine

from tether._version import __version__
from tether.audit._canonical import canonical_json
from tether.audit._event import AuditEvent, StoredEvent
from tether.audit._from_gate import derived_span_id, derived_trace_id
from tether.audit._log import Alongside, AuditLog
from tether.errors import ConfigurationError

# GenAI semantic conventions (development status), spelled out: the semconv package
# marks its copies deprecated since they moved to the GenAI conventions repository.
OPERATION = "gen_ai.operation.name"
AGENT_NAME = "gen_ai.agent.name"
AGENT_VERSION = "gen_ai.agent.version"
CONVERSATION_ID = "gen_ai.conversation.id"
PROVIDER_NAME = "gen_ai.provider.name"
TOOL_NAME = "gen_ai.tool.name"
TOOL_CALL_ID = "gen_ai.tool.call.id"
TOOL_TYPE = "gen_ai.tool.type"
TOOL_CALL_ARGUMENTS = "gen_ai.tool.call.arguments"
TOOL_CALL_RESULT = "gen_ai.tool.call.result"
ERROR_TYPE = "error.type"


@dataclass
class _Run:
    run_id: str
    events: list[StoredEvent] = field(default_factory=list)
    calls: dict[str, list[StoredEvent]] = field(default_factory=dict)


class _ReplayIds(IdGenerator):
    """Hands out the ids set just before a span starts (random ones otherwise)."""

    def __init__(self) -> None:
        self.trace_id = 0
        self.span_id = 0

    def generate_trace_id(self) -> int:
        return self.trace_id or random.getrandbits(128)

    def generate_span_id(self) -> int:
        return self.span_id or random.getrandbits(64)


class JsonLinesSpanExporter(SpanExporter):
    """Writes each span as one line of JSON (the SDK's ``to_json``) to a text stream.

    The SDK's span processor logs and swallows export errors; this exporter keeps the
    first one in ``error`` so a caller can fail loudly.
    """

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.error: Exception | None = None

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        try:
            for span in spans:
                self.out.write(span.to_json(indent=None) + "\n")
        except Exception as exc:  # the stream is closed, the disk is full…
            self.error = self.error or exc
            return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        return None


def export_spans(
    events: Iterable[StoredEvent],
    exporter: SpanExporter,
    *,
    service_name: str = "tether",
    include_content: bool = False,
) -> int:
    """Send one span per run and per tool call to ``exporter``; returns how many.

    ``include_content`` adds the (redacted) arguments and results as
    ``gen_ai.tool.call.arguments`` / ``gen_ai.tool.call.result``, which the conventions
    make opt-in.
    """
    ids = _ReplayIds()
    provider = TracerProvider(
        resource=Resource.create({"service.name": service_name}),
        id_generator=ids,
        shutdown_on_exit=False,
    )
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("tether.audit", __version__)
    count = 0
    for run in _group(events):
        parent = _run_span(tracer, ids, run)
        count += 1
        for call_id, call_events in run.calls.items():
            _call_span(tracer, ids, parent, call_id, call_events, include_content=include_content)
            count += 1
    provider.force_flush()
    return count


def _group(events: Iterable[StoredEvent]) -> list[_Run]:
    runs: dict[str, _Run] = {}
    for stored in events:
        run = runs.setdefault(stored.event.run_id, _Run(stored.event.run_id))
        run.events.append(stored)
        if stored.event.call_id is not None:
            run.calls.setdefault(stored.event.call_id, []).append(stored)
    return list(runs.values())


def _ns(at: _dt.datetime) -> int:
    return (at - _dt.datetime(1970, 1, 1, tzinfo=_dt.UTC)) // _dt.timedelta(microseconds=1) * 1000


def _first(events: Sequence[StoredEvent], name: str) -> Any:
    for stored in events:
        value = getattr(stored.event, name)
        if value not in (None, ""):
            return value
    return None


def _run_span(tracer: trace.Tracer, ids: _ReplayIds, run: _Run) -> SpanContext:
    events = run.events
    agent = _first(events, "agent")
    trace_hex = _first([e for e in events if e.event.call_id is None], "trace_id") or _first(
        events, "trace_id"
    )
    ids.trace_id = int(trace_hex or derived_trace_id(run.run_id), 16)
    ids.span_id = int(derived_span_id(run.run_id, None), 16)
    started = min(e.event.at for e in events)
    ended = max(e.event.at for e in events)
    attributes: dict[str, Any] = {
        OPERATION: "invoke_agent",
        CONVERSATION_ID: run.run_id,
        "tether.run.id": run.run_id,
        "tether.audit.first_seq": events[0].seq,
        "tether.audit.last_seq": events[-1].seq,
        "tether.run.calls": len(run.calls),
    }
    _put(attributes, AGENT_NAME, agent)
    _put(attributes, AGENT_VERSION, _first(events, "agent_version"))
    _put(attributes, "tether.principal.id", _first(events, "principal"))
    status = Status(StatusCode.UNSET)
    for stored in events:
        event = stored.event
        details = event.details or {}
        if event.type == "run.started":
            provider, model = _provider_and_model(details)
            _put(attributes, PROVIDER_NAME, provider)
            _put(attributes, "gen_ai.request.model", model)
        elif event.type in ("run.finished", "run.stopped"):
            attributes["tether.run.status"] = event.type.removeprefix("run.")
            if event.type == "run.stopped":
                attributes[ERROR_TYPE] = str(
                    details.get("reason") or details.get("status") or "stopped"
                )
                status = Status(StatusCode.ERROR, event.error or "the run was stopped")
    span = tracer.start_span(
        f"invoke_agent {agent}" if agent else "invoke_agent",
        kind=SpanKind.INTERNAL,
        attributes=attributes,
        start_time=_ns(started),
    )
    for stored in events:
        if stored.event.call_id is None:
            span.add_event(
                stored.event.type, {"tether.audit.seq": stored.seq}, _ns(stored.event.at)
            )
    span.set_status(status)
    span.end(end_time=_ns(ended))
    return span.get_span_context()


_PROVIDERS = {
    "openai": "openai",
    "openai-chat": "openai",
    "openai-responses": "openai",
    "azure": "azure.ai.openai",
    "anthropic": "anthropic",
    "bedrock": "aws.bedrock",
    "google-gla": "gcp.gemini",
    "gemini": "gcp.gemini",
    "google-vertex": "gcp.vertex_ai",
    "groq": "groq",
    "mistral": "mistral_ai",
    "cohere": "cohere",
    "deepseek": "deepseek",
    "grok": "x_ai",
    "xai": "x_ai",
    "scripted": "tether.scripted",
}
"""Pydantic AI's model prefixes, as the conventions' ``gen_ai.provider.name`` values."""


def _provider_and_model(details: Mapping[str, Any]) -> tuple[Any, Any]:
    """``gen_ai.provider.name`` and ``gen_ai.request.model`` from a ``run.started``'s
    details: its ``provider`` and ``model``, or a ``provider:model`` name."""
    provider, model = details.get("provider"), details.get("model")
    if provider is None and isinstance(model, str):
        prefix, _, name = model.partition(":")
        provider = _PROVIDERS.get(prefix, prefix)
        model = name or prefix
    return provider, model


def _call_span(
    tracer: trace.Tracer,
    ids: _ReplayIds,
    run_span: SpanContext,
    call_id: str,
    events: Sequence[StoredEvent],
    *,
    include_content: bool,
) -> None:
    first = events[0].event
    own_span = derived_span_id(first.run_id, call_id)
    if first.trace_id and first.span_id and first.span_id != own_span:
        # Recorded inside a live span (e.g. the agent framework's): hang under it.
        parent = SpanContext(
            int(first.trace_id, 16),
            int(first.span_id, 16),
            is_remote=True,
            trace_flags=TraceFlags(TraceFlags.SAMPLED),
        )
    else:
        parent = run_span
    ids.span_id = int(own_span, 16)
    attributes, status = _call_attributes(call_id, events, include_content)
    span = tracer.start_span(
        f"execute_tool {first.tool}" if first.tool else "execute_tool",
        context=trace.set_span_in_context(trace.NonRecordingSpan(parent)),
        kind=SpanKind.INTERNAL,
        attributes=attributes,
        start_time=_ns(first.at),
    )
    for stored in events:
        span.add_event(stored.event.type, _event_attributes(stored), _ns(stored.event.at))
    span.set_status(status)
    span.end(end_time=_ns(max(e.event.at for e in events)))


def _call_attributes(
    call_id: str, events: Sequence[StoredEvent], include_content: bool
) -> tuple[dict[str, Any], Status]:
    first = events[0].event
    attributes: dict[str, Any] = {
        OPERATION: "execute_tool",
        TOOL_CALL_ID: call_id,
        TOOL_TYPE: "function",
        CONVERSATION_ID: first.run_id,
        "tether.run.id": first.run_id,
        "tether.audit.seq": [stored.seq for stored in events],
    }
    _put(attributes, TOOL_NAME, first.tool)
    _put(attributes, AGENT_NAME, first.agent)
    _put(attributes, AGENT_VERSION, first.agent_version)
    _put(attributes, "tether.principal.id", first.principal)
    _put(attributes, "tether.why", _first(events, "why"))
    if include_content and first.args is not None:
        attributes[TOOL_CALL_ARGUMENTS] = canonical_json(first.args)
    status = Status(StatusCode.UNSET)
    outcome = "proposed"
    for stored in events:
        event = stored.event
        if event.decision:
            _decision_attributes(attributes, event.decision)
            outcome = {"deny": "refused", "needs_approval": "awaiting_approval"}.get(
                str(event.decision.get("kind")), "allowed"
            )
        if event.approval:
            _approval_attributes(attributes, event.approval)
            if event.type == "approval.decided":
                outcome = str(event.approval.get("verdict") or "decided")
        if event.type == "call.executed":
            outcome = "executed"
            _put(attributes, "tether.effect", (event.effect or {}).get("class"))
            if include_content and event.result is not None:
                attributes[TOOL_CALL_RESULT] = canonical_json(event.result)
        elif event.type == "call.failed":
            outcome = "failed"
            attributes[ERROR_TYPE] = _error_type(event)
            status = Status(StatusCode.ERROR, event.error or "the call failed")
    attributes["tether.outcome"] = outcome
    return attributes, status


def _decision_attributes(attributes: dict[str, Any], decision: Mapping[str, Any]) -> None:
    attributes["tether.decision"] = str(decision.get("kind"))
    attributes["tether.rules"] = [str(rule) for rule in decision.get("rules") or ()]
    attributes["tether.reasons"] = [str(reason) for reason in decision.get("reasons") or ()]
    _put(attributes, "tether.policy_version", decision.get("policy_version"))
    _put(attributes, "tether.effect", decision.get("effect"))
    shadow = decision.get("shadow") or ()
    if shadow:
        attributes["tether.shadow_rules"] = [str(item.get("rule")) for item in shadow]


def _approval_attributes(attributes: dict[str, Any], approval: Mapping[str, Any]) -> None:
    for key in ("request_id", "verdict", "by", "comment"):
        _put(attributes, f"tether.approval.{key}", approval.get(key))
    approvers = approval.get("approvers")
    if approvers:
        attributes["tether.approval.approvers"] = [str(a) for a in approvers]


def _event_attributes(stored: StoredEvent) -> dict[str, Any]:
    attributes: dict[str, Any] = {"tether.audit.seq": stored.seq}
    event = stored.event
    if event.duration_seconds is not None:
        attributes["tether.duration_seconds"] = event.duration_seconds
    return attributes


_ERROR_NAME = re.compile(r"^([A-Z][A-Za-z0-9_]*(?:Error|Exception|Timeout))\b")


def _error_type(event: AuditEvent) -> str:
    """A low-cardinality error class, as ``error.type`` asks: an exception name or timeout."""
    error = event.error or ""
    if error.startswith("timed out"):
        return "timeout"
    match = _ERROR_NAME.match(error)
    return match.group(1) if match else "_OTHER"


def _put(attributes: dict[str, Any], key: str, value: Any) -> None:
    if value is not None and value != "":
        attributes[key] = value if isinstance(value, str | bool | int | float) else str(value)


# --- live export ------------------------------------------------------------------------

_CALL_ENDS = frozenset({"call.executed", "call.failed"})
_RUN_ENDS = frozenset({"run.finished", "run.stopped"})
_REQUEST_CLOSED = frozenset({"rejected", "expired", "cancelled"})
"""An approval request's statuses that end its call: it will not run."""
_log = logging.getLogger(__name__)


class EventSource(Protocol):
    """Where the live exporter reads a finished call's or run's events: the trail."""

    def events(self, *, run: str | None = None) -> Iterable[StoredEvent]: ...


def _ends_call(event: AuditEvent) -> bool:
    """The call has its last event: it ran, failed, was refused, or a person said no."""
    if event.call_id is None:
        return False
    if event.type in _CALL_ENDS:
        return True
    if event.type == "call.decided":
        return (event.decision or {}).get("kind") == "deny"
    if event.type == "approval.decided":
        approval = event.approval or {}
        status = approval.get("status")
        if status is not None:
            return status in _REQUEST_CLOSED
        return approval.get("verdict") in ("reject", "rejected", "expired")
    return False


class LiveSpans:
    """Sends the spans of :func:`export_spans` as the trail records the ends of calls
    and runs, through ``exporter`` (an OTLP exporter: :func:`otlp_exporter`).

    A call's span is exported when the call ends (executed, failed, refused, rejected
    or expired), a run's when the run ends; each is built from the events the trail
    holds for it, so a call decided in one process and executed in another is one span,
    with every event. Spans go through the SDK's batch processor: a collector that is
    down delays or drops spans (the SDK's queue is bounded), never a call. Ids are
    those :func:`export_spans` gives, so the file export and the live one agree.
    """

    def __init__(
        self,
        exporter: SpanExporter,
        *,
        service_name: str = "tether",
        include_content: bool = False,
        batch: bool = True,
    ) -> None:
        self.include_content = include_content
        self._ids = _ReplayIds()
        self._provider = TracerProvider(
            resource=Resource.create({"service.name": service_name}),
            id_generator=self._ids,
            shutdown_on_exit=False,
        )
        processor = BatchSpanProcessor(exporter) if batch else SimpleSpanProcessor(exporter)
        self._provider.add_span_processor(processor)
        self._tracer = self._provider.get_tracer("tether.audit", __version__)
        self._lock = threading.Lock()

    def observe(self, source: EventSource, stored: Sequence[StoredEvent]) -> None:
        """Export the spans of the calls and runs that ``stored`` (just recorded) ends.
        Never raises: telemetry must not fail what it observes."""
        calls = {(s.event.run_id, s.event.call_id) for s in stored if _ends_call(s.event)}
        runs = {s.event.run_id for s in stored if s.event.type in _RUN_ENDS}
        for run_id in sorted({run for run, _ in calls} | runs):
            try:
                self._export(source, run_id, calls, whole_run=run_id in runs)
            except Exception:  # a closed database, an odd record: log, go on
                _log.exception("live telemetry: the spans of run %s were not exported", run_id)

    def _export(
        self,
        source: EventSource,
        run_id: str,
        calls: set[tuple[str, str | None]],
        *,
        whole_run: bool,
    ) -> None:
        events = list(source.events(run=run_id))
        if not events:
            return
        (run,) = _group(events)
        with self._lock:
            parent = SpanContext(
                int(_first(events, "trace_id") or derived_trace_id(run_id), 16),
                int(derived_span_id(run_id, None), 16),
                is_remote=False,
                trace_flags=TraceFlags(TraceFlags.SAMPLED),
            )
            if whole_run:
                parent = _run_span(self._tracer, self._ids, run)
            for call_id, call_events in run.calls.items():
                if (run_id, call_id) in calls:
                    _call_span(
                        self._tracer,
                        self._ids,
                        parent,
                        call_id,
                        call_events,
                        include_content=self.include_content,
                    )

    def flush(self, timeout_seconds: float = 30.0) -> bool:
        """Send what is queued; False if it did not go in time."""
        return self._provider.force_flush(int(timeout_seconds * 1000))

    def shutdown(self) -> None:
        """Send what is queued and stop the exporter."""
        self._provider.shutdown()


def otlp_exporter(environ: Mapping[str, str] | None = None) -> SpanExporter:
    """The standard OTLP span exporter, configured by the ``OTEL_EXPORTER_OTLP_*``
    variables (endpoint, headers, timeout, compression, certificates): over HTTP
    (``http/protobuf``, the default) or gRPC (``OTEL_EXPORTER_OTLP_(TRACES_)PROTOCOL``
    ``grpc``, with ``opentelemetry-exporter-otlp-proto-grpc`` installed)."""
    env = os.environ if environ is None else environ
    protocol = (
        env.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
        or env.get("OTEL_EXPORTER_OTLP_PROTOCOL")
        or "http/protobuf"
    ).strip()
    if protocol == "http/protobuf":
        module, package = "opentelemetry.exporter.otlp.proto.http.trace_exporter", "http"
    elif protocol == "grpc":
        module, package = "opentelemetry.exporter.otlp.proto.grpc.trace_exporter", "grpc"
    else:
        raise ConfigurationError(
            f"OTEL_EXPORTER_OTLP_PROTOCOL={protocol!r} is not supported: use http/protobuf or grpc"
        )
    try:
        exporter_class = importlib.import_module(module).OTLPSpanExporter
    except ImportError:
        raise ConfigurationError(
            f"OTLP export over {protocol} needs opentelemetry-exporter-otlp-proto-{package}: "
            f"pip install 'tether[otlp]'"
            + (" opentelemetry-exporter-otlp-proto-grpc" if package == "grpc" else "")
        ) from None
    exporter: SpanExporter = exporter_class()
    return exporter


class ObservedAuditLog(AuditLog):
    """An :class:`AuditLog` that shows what it has recorded to :class:`LiveSpans`, once
    the transaction that wrote it has committed."""

    def __init__(
        self,
        database: Engine | str | None = None,
        *,
        telemetry: LiveSpans,
        **options: Any,
    ) -> None:
        """``options`` are :class:`AuditLog`'s (``keys``, ``checkpoint_every``, ``witnesses``…)."""
        super().__init__(database, **options)
        self.telemetry = telemetry

    def append_many(
        self,
        events: Sequence[AuditEvent],
        *,
        alongside: Alongside | None = None,
    ) -> list[StoredEvent]:
        stored = super().append_many(events, alongside=alongside)
        self.telemetry.observe(self, stored)
        return stored
