"""A gateway session in the operator console: listed and shown like a run, its held
call approved there (by a logged-in approver), then executed once for the client."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from tests.gateway.harness import Running
from tests.web.conftest import log_in, web_settings
from tether.web import create_app


async def test_a_gateway_session_is_a_run_in_the_console_and_approved_there(
    gateway: Running, tmp_path: Path
) -> None:
    args = {"to": "bob@acme.example", "body": "approved in the console"}
    async with gateway.client() as client:
        await client.call_tool("up.lookup", {"customer": "c1"})
        held = await client.call_tool("up.send_mail", args)
        request_id = held.structured_content["tether"]["approval"]  # type: ignore[index]
        request = gateway.service.approval(request_id)
        app = create_app(
            gateway.service.runtime,
            web_settings(),
            session_secret="s" * 48,
            evals_dir=tmp_path / "evals",
        )
        with TestClient(app, follow_redirects=False) as console:
            csrf = log_in(console, "fiona")
            runs = console.get("/runs")
            assert request.run_id in runs.text
            page = console.get(f"/runs/{request.run_id}")
            assert page.status_code == 200
            assert "up.lookup" in page.text and "up.send_mail" in page.text
            assert request_id in page.text
            decided = console.post(
                f"/approvals/{request_id}/approve",
                data={"csrf_token": csrf, "args_hash": request.args_hash, "comment": "ok"},
            )
            assert decided.status_code == 303, decided.text
        done = await client.call_tool("up.send_mail", args)
    assert "sent to bob@acme.example" in done.content[0].text  # type: ignore[union-attr]
    assert len(gateway.effects()) == 1
    approved = next(
        e.event for e in gateway.service.events(type="approval.decided", run=request.run_id)
    )
    assert approved.actor is not None
    assert (approved.actor["account"], approved.actor["surface"]) == ("fiona", "web")
    assert gateway.service.verify().intact
