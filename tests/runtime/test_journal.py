"""The model's responses are kept in tether's effect ledger with the first call they led
to, not as DBOS steps (durable protocol 3): a segment replayed after a crash is given
them again, and an execution that finds its place taken stops."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from dbos import error as dbos_error
from pydantic_ai import ModelMessagesTypeAdapter
from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart
from pydantic_ai.models.function import AgentInfo, FunctionModel

from tests.runtime.conftest import EXAMPLE, MakeRuntime
from tether.agents import load_script, scripted_model
from tether.runtime import DURABLE_VERSION, Runtime
from tether.runtime._journal import Journal, record_responses

SCRIPT = EXAMPLE / "scripts" / "refund-request.yaml"


def counting_model() -> tuple[FunctionModel, list[int]]:
    """The support desk's scripted model, counting the requests it answers."""
    scripted = scripted_model(load_script(SCRIPT))
    asked: list[int] = []

    async def respond(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        asked.append(len(messages))
        return await scripted.request(messages, None, info.model_request_parameters)

    return FunctionModel(respond, model_name="counting"), asked


def _responses(history: str | None) -> list[tuple[object, ...]]:
    messages = ModelMessagesTypeAdapter.validate_json(history or "[]")
    return [(m.parts, m.timestamp) for m in messages if isinstance(m, ModelResponse)]


def _types(rt: Runtime, run_id: str) -> list[str]:
    return [str(stored.event.type) for stored in rt.audit.events(run=run_id)]


def test_a_segment_takes_no_dbos_step_for_its_model_responses(
    sqlite_url: str, make_runtime: MakeRuntime, desk: Path
) -> None:
    rt = make_runtime(sqlite_url)
    run = rt.start("support-desk", "Acme was charged twice", principal="alice")
    parked = rt.wait(run.id)
    assert parked.status == "waiting_approval"
    assert parked.state_version == DURABLE_VERSION == 3
    assert list(rt.durability.client.list_workflow_steps(f"{run.id}/seg-1")) == []
    # Three responses (two reads, then the refund held for approval), each in the ledger.
    recorded = rt.store.responses(run.id, 1)
    assert len(recorded) == 3
    assert "crm__find_party" in recorded[0] and "erp__create_credit_note" in recorded[2]
    # They are not calls: the run's effects and its history for the policy omit them.
    tools = [effect.tool for effect in rt.store.effects(run.id)]
    assert tools == ["crm.find_party", "erp.list_invoices", "erp.create_credit_note"]


def test_a_segment_replayed_after_a_crash_is_given_the_responses_it_acted_on(
    sqlite_url: str, make_runtime: MakeRuntime, desk: Path
) -> None:
    rt = make_runtime(sqlite_url, launch=False)
    model, asked = counting_model()
    run = rt.start("support-desk", "Acme was charged twice", principal="alice", model=model)
    assert asyncio.run(rt.run_segment(run.id, 1)) == "waiting_approval"
    first = rt.store.get(run.id)
    assert len(asked) == 3
    trail = _types(rt, run.id)

    # What a crash before the park leaves: the run running in its segment, no history.
    rt.store.update(run.id, status="running", history=None, pending=None)
    assert asyncio.run(rt.run_segment(run.id, 1)) == "waiting_approval"

    again = rt.store.get(run.id)
    assert len(asked) == 3  # the model was not asked again
    assert _responses(again.history) == _responses(first.history)  # timestamps and all
    assert again.approval_request_ids == first.approval_request_ids
    assert _types(rt, run.id) == trail  # the calls were answered by the ledger
    assert rt.audit.verify().intact


def test_a_response_lost_with_a_crash_is_asked_for_again(
    sqlite_url: str, make_runtime: MakeRuntime, desk: Path
) -> None:
    rt = make_runtime(sqlite_url, launch=False)
    model, asked = counting_model()
    run = rt.start("support-desk", "Acme was charged twice", principal="alice", model=model)
    assert asyncio.run(rt.run_segment(run.id, 1)) == "waiting_approval"
    # As if the third response had been lost (it is written with its call's row: here
    # the row stays, so the replayed call is still answered by the ledger).
    with rt.engine.begin() as conn:
        conn.exec_driver_sql(
            "DELETE FROM tether_effect WHERE idempotency_key = ?", (f"{run.id}/seg-1/model-2",)
        )
    rt.store.update(run.id, status="running", history=None, pending=None)
    assert asyncio.run(rt.run_segment(run.id, 1)) == "waiting_approval"
    assert len(asked) == 4  # only the lost one again
    assert len(rt.store.responses(run.id, 1)) == 2  # the replayed call wrote nothing


def test_an_execution_that_finds_its_place_taken_stops(
    sqlite_url: str, make_runtime: MakeRuntime, desk: Path
) -> None:
    rt = make_runtime(sqlite_url, launch=False)
    run = rt.start("support-desk", "Acme was charged twice", principal="alice")
    with rt.engine.begin() as conn:  # another execution of the segment got there first
        assert record_responses(conn, run.id, 1, [(0, '{"parts": []}')])
    journal = Journal(run_id=run.id, segment=1, workflow_id=f"{run.id}/seg-1", recorded=[])
    journal.keep(ModelResponse(parts=[TextPart("mine")]))
    with rt.engine.begin() as conn:
        assert journal.write(conn) is False
    assert journal.lost
    with pytest.raises(dbos_error.DBOSWorkflowConflictIDError):
        journal.check()
    assert rt.store.responses(run.id, 1) == ['{"parts": []}']  # theirs stands


def test_a_run_cancelled_mid_segment_takes_no_further_call(
    sqlite_url: str, make_runtime: MakeRuntime, desk: Path
) -> None:
    """No DBOS step tells the segment: its next call's read of the run does."""
    rt = make_runtime(sqlite_url, launch=False)
    scripted = scripted_model(load_script(SCRIPT))
    run_ids: list[str] = []

    async def respond(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        response = await scripted.request(messages, None, info.model_request_parameters)
        if len(messages) > 1:  # the second request: an operator cancels meanwhile
            rt.cancel(run_ids[0], by="fiona")
        return response

    model = FunctionModel(respond, model_name="cancelling")
    run = rt.start("support-desk", "Acme was charged twice", principal="alice", model=model)
    run_ids.append(run.id)
    with pytest.raises(dbos_error.DBOSWorkflowCancelledError):
        asyncio.run(rt.run_segment(run.id, 1))
    assert rt.store.get(run.id).status == "cancelled"
    assert [effect.tool for effect in rt.store.effects(run.id)] == ["crm.find_party"]
    proposed = [str(s.event.tool) for s in rt.audit.events(run=run.id, type="call.proposed")]
    assert proposed == ["crm.find_party"]  # the call after the cancel was not even decided
