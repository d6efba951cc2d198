"""The Tryton connector against a real trytond process, through the gate.

The demo company is built once into a template (SQLite: cached under
``~/.cache/tether/tryton`` keyed by the Tryton versions, or ``TETHER_TRYTON_CACHE``;
PostgreSQL: a database of this session, dropped at the end); each test that writes
gets its own copy and its own trytond process.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tether import (
    Executed,
    Failed,
    Gate,
    GateEvent,
    Principal,
    ProposedCall,
    Refused,
    RunState,
    Toolset,
    load_policy_text,
)
from tether.connectors import build_toolset
from tether.connectors._net import free_port
from tether.connectors.tryton import (
    LocalTryton,
    TrytonClient,
    TrytonServer,
    client_from_settings,
    toolset,
)
from tether.connectors.tryton._build import DEFAULT_ADMIN_PASSWORD
from tether.gate import compare

PASSWORD_ENV = "TETHER_TEST_TRYTON_PASSWORD"
POSTGRES_ENV = "TETHER_TEST_DATABASE_URL"

POLICY = """
version: 1
roles:
  sales: {may: ["*"]}
users:
  sam: {roles: [sales]}
agents:
  seller:
    may_act_for: [role:sales]
    tools:
      - tool: "crm.*"
      - tool: "erp.list_*"
      - tool: erp.create_sale
      - tool: erp.confirm_sale
        approval: never
      - tool: erp.issue_credit_note
        approval: never
"""
SAM = Principal(id="sam", roles=frozenset({"sales"}))


# --- fixtures -------------------------------------------------------------------------


def _cache_dir() -> Path:
    configured = os.environ.get("TETHER_TRYTON_CACHE")
    return Path(configured) if configured else Path.home() / ".cache" / "tether" / "tryton"


@pytest.fixture(scope="session", params=["sqlite", "postgres"])
def local_tryton(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LocalTryton]:
    """The local Tryton with its template built (once per session, or cached)."""
    state = tmp_path_factory.mktemp("tryton")
    if request.param == "sqlite":
        local = LocalTryton(state, template_dir=_cache_dir())
        local.ensure_template()
        yield local
        return
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        pytest.skip(f"Tryton on PostgreSQL needs {POSTGRES_ENV}")
    local = LocalTryton(
        state, database_url=url, template_name=f"tether_tryton_{uuid.uuid4().hex[:10]}"
    )
    try:
        local.ensure_template()
        yield local
    finally:
        local.drop_database(local.template)


@pytest.fixture(scope="session")
def shared_server(local_tryton: LocalTryton) -> Iterator[TrytonServer]:
    """One server on its own copy, for tests that only read or fail."""
    database = local_tryton.create_database()
    try:
        with local_tryton.serve(database) as server:
            yield server
    finally:
        local_tryton.drop_database(database)


@pytest.fixture
def fresh_server(local_tryton: LocalTryton) -> Iterator[TrytonServer]:
    """A server on a fresh copy of the demo company, for one test."""
    database = local_tryton.create_database()
    try:
        with local_tryton.serve(database) as server:
            yield server
    finally:
        local_tryton.drop_database(database)


@pytest.fixture(autouse=True)
def _password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PASSWORD_ENV, DEFAULT_ADMIN_PASSWORD)


def settings(server: TrytonServer, **extra: Any) -> dict[str, Any]:
    return {
        "url": server.url,
        "database": server.database,
        "username": "admin",
        "password_env": PASSWORD_ENV,
        "base_dir": ".",
        **extra,
    }


class Events:
    def __init__(self) -> None:
        self.events: list[GateEvent] = []

    def record(self, event: GateEvent) -> None:
        self.events.append(event)

    @property
    def types(self) -> list[str]:
        return [event.type for event in self.events]


@dataclass
class Agent:
    """A scripted agent: proposes calls to the gate, one call id per step."""

    gate: Gate
    events: Events
    run_id: str = "run-1"
    step: int = 0

    async def call(self, tool: str, *, call_id: str | None = None, **args: Any) -> Any:
        self.step += 1
        outcome = await self.gate.call(
            ProposedCall(
                tool=tool,
                args=args,
                agent="seller",
                principal=SAM,
                run=RunState(id=self.run_id),
                call_id=call_id or f"step-{self.step}",
                why="scripted",
            )
        )
        if not isinstance(outcome, Executed):
            raise AssertionError(f"{tool} did not run: {outcome}")
        return outcome.output.value

    async def fail(self, tool: str, **args: Any) -> str:
        self.step += 1
        outcome = await self.gate.call(
            ProposedCall(
                tool=tool,
                args=args,
                agent="seller",
                principal=SAM,
                run=RunState(id=self.run_id),
                call_id=f"step-{self.step}",
            )
        )
        assert isinstance(outcome, Failed), outcome
        assert self.events.types[-1] == "call.failed"
        return outcome.error


def agent_for(tools: Toolset, sqlite_url: str, timeout_seconds: float = 60.0) -> Agent:
    events = Events()
    gate = Gate(
        load_policy_text(POLICY, tools=tools),
        database=sqlite_url,
        recorder=events,
        timeout_seconds=timeout_seconds,
    )
    return Agent(gate=gate, events=events)


@pytest.fixture
def seller(fresh_server: TrytonServer, sqlite_url: str) -> Iterator[Agent]:
    agent = agent_for(toolset(settings(fresh_server)), sqlite_url)
    with agent.gate:
        yield agent


@pytest.fixture
def client(fresh_server: TrytonServer) -> TrytonClient:
    """Direct access to the same database, to check what the tools did."""
    return client_from_settings(settings(fresh_server))


def count(client: TrytonClient, model: str, domain: list[Any] | None = None) -> int:
    return int(client.call(f"model.{model}.search_count", [domain or []]))


# --- the local server ---------------------------------------------------------------


@pytest.mark.slow
def test_the_demo_company_is_there(shared_server: TrytonServer) -> None:
    client = client_from_settings(settings(shared_server))
    assert count(client, "party.party", [("contact_mechanisms.type", "=", "email")]) >= 30
    assert count(client, "sale.opportunity", [("state", "in", ["lead", "opportunity"])]) >= 10
    assert count(client, "account.invoice", [("state", "=", "posted")]) >= 5
    assert count(client, "account.fiscalyear") == 1
    assert count(client, "product.product", [("salable", "=", True)]) == 5


@pytest.mark.slow
def test_a_stopped_server_is_gone(local_tryton: LocalTryton) -> None:
    database = local_tryton.create_database()
    try:
        server = local_tryton.start(database)
        server.stop()
        assert server.process.returncode is not None
        with (
            pytest.raises(ConnectionRefusedError),
            socket.create_connection(("127.0.0.1", server.port), 1),
        ):
            pass
    finally:
        local_tryton.drop_database(database)
    assert not local_tryton.database_exists(database)


@pytest.mark.slow
def test_tether_tryton_serve(local_tryton: LocalTryton, tmp_path: Path) -> None:
    if local_tryton.database_url is not None:
        pytest.skip("the command is tried on SQLite")
    command = [sys.executable, "-c", "from tether.cli._tryton import app; app()", "serve"]
    options = ["--state", str(tmp_path), "--template-dir", str(local_tryton.template_dir)]
    process = subprocess.Popen(
        [*command, *options, "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**os.environ, "COLUMNS": "200"},
    )
    try:
        stdout = process.stdout
        assert stdout is not None
        printed = ""
        while "Ctrl-C to stop." not in printed:
            line = stdout.readline().decode()
            if not line:
                break
            printed += line
        found = re.search(r"serving database (\S+) at (\S+)", printed)
        assert found, printed
        database, url = found.groups()
        client = client_from_settings(
            {"url": url, "database": database, "password_env": PASSWORD_ENV}
        )
        assert count(client, "party.party") > 30
        process.send_signal(signal.SIGTERM)
        rest, _ = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert "stopped" in rest.decode()
    assert process.returncode == 0
    assert not (tmp_path / "databases" / f"{database}.sqlite").exists()


# --- read tools ------------------------------------------------------------------------


@pytest.mark.slow
async def test_read_tools(shared_server: TrytonServer, sqlite_url: str) -> None:
    agent = agent_for(toolset(settings(shared_server)), sqlite_url)
    with agent.gate:
        found = await agent.call("crm.find_parties", query="acme")
        assert {p["name"] for p in found} >= {"Acme Trading", "Acme Foods"}
        party = await agent.call("crm.read_party", party_id=found[0]["id"])
        assert party["email"].startswith("orders@acme-")
        assert party["addresses"][0]["city"]
        leads = await agent.call("crm.list_opportunities", state="lead")
        assert leads
        assert all(o["state"] == "lead" for o in leads)
        invoices = await agent.call("erp.list_invoices", state="posted", limit=3)
        assert len(invoices) == 3
        assert all(i["kind"] == "invoice" and i["total_amount"] for i in invoices)
        products = await agent.call("erp.list_products", query="SRV")
        assert {p["code"] for p in products} == {"SRV-CONSULT", "SRV-SUPPORT", "SRV-WORKSHOP"}


@pytest.mark.slow
def test_the_connector_registers_as_built_in(shared_server: TrytonServer) -> None:
    tools = build_toolset("tryton", settings(shared_server))
    assert tools.names() == [
        "crm.convert_opportunity",
        "crm.create_opportunity",
        "crm.create_party",
        "crm.find_parties",
        "crm.list_opportunities",
        "crm.read_party",
        "crm.update_party",
        "erp.confirm_sale",
        "erp.create_sale",
        "erp.issue_credit_note",
        "erp.list_invoices",
        "erp.list_products",
    ]
    effects = {t.name: t.effect.value for t in tools}
    assert effects["erp.confirm_sale"] == "irreversible"
    assert effects["erp.issue_credit_note"] == "irreversible"
    assert effects["crm.create_opportunity"] == "write"
    assert all(t.preview is not None for t in tools if t.effect.value != "read")


# --- the scripted flow ---------------------------------------------------------------


@pytest.mark.slow
async def test_an_agent_sells_through_the_gate(seller: Agent, client: TrytonClient) -> None:
    (party,) = await seller.call("crm.find_parties", query="Globex Foods")
    products = await seller.call("erp.list_products", query="GATEWAY")
    opportunity = await seller.call(
        "crm.create_opportunity",
        party_id=party["id"],
        description="Gateways for the new depot",
        amount="1280",
        lines=[{"product_id": products[0]["id"], "quantity": 2}],
    )
    assert opportunity["created"]
    assert opportunity["state"] == "lead"
    converted = await seller.call("crm.convert_opportunity", opportunity_id=opportunity["id"])
    sale = converted["sale"]
    assert sale["state"] == "draft"
    assert sale["lines"][0]["quantity"] == 2
    confirmed = await seller.call("erp.confirm_sale", sale_id=sale["id"])
    assert confirmed["confirmed_now"]
    assert confirmed["state"] in ("confirmed", "processing")

    stored = client.read_one("sale.sale", sale["id"], ["state", "party", "total_amount"])
    assert stored["state"] in ("confirmed", "processing")
    assert stored["party"] == party["id"]
    assert client.read_one("sale.opportunity", opportunity["id"], ["state"])["state"] in (
        "converted",
        "won",
    )
    second = await seller.call(
        "erp.create_sale",
        party_id=party["id"],
        lines=[{"product_id": products[0]["id"], "quantity": 1, "unit_price": "600"}],
        description="Spare gateway",
    )
    assert second["lines"][0]["unit_price"].startswith("600")
    assert seller.events.types.count("call.executed") == 6


@pytest.mark.slow
async def test_a_repeated_call_changes_nothing(seller: Agent, client: TrytonClient) -> None:
    (party,) = await seller.call("crm.find_parties", query="Hooli Systems")
    products = await seller.call("erp.list_products", query="SENSOR")
    line = {"product_id": products[0]["id"], "quantity": 3}
    before = {m: count(client, m) for m in ("party.party", "sale.opportunity", "sale.sale")}

    first = await seller.call(
        "crm.create_opportunity", call_id="c1", party_id=party["id"], description="Sensors"
    )
    again = await seller.call(
        "crm.create_opportunity", call_id="c1", party_id=party["id"], description="Sensors"
    )
    assert again["id"] == first["id"]
    assert (first["created"], again["created"]) == (True, False)

    sale = await seller.call("erp.create_sale", call_id="c2", party_id=party["id"], lines=[line])
    sale_again = await seller.call(
        "erp.create_sale", call_id="c2", party_id=party["id"], lines=[line]
    )
    assert sale_again["id"] == sale["id"]

    new = await seller.call("crm.create_party", call_id="c3", name="Initrode", email="a@i.example")
    new_again = await seller.call(
        "crm.create_party", call_id="c3", name="Initrode", email="a@i.example"
    )
    assert new_again["id"] == new["id"]

    after = {m: count(client, m) for m in before}
    assert after == {m: n + 1 for m, n in before.items()}

    converted = await seller.call("crm.convert_opportunity", opportunity_id=first["id"])
    converted_again = await seller.call("crm.convert_opportunity", opportunity_id=first["id"])
    assert converted_again["sale"]["id"] == converted["sale"]["id"]
    assert not converted_again["created"]
    assert count(client, "sale.sale") == after["sale.sale"] + 1

    confirmed = await seller.call("erp.confirm_sale", sale_id=sale["id"])
    confirmed_again = await seller.call("erp.confirm_sale", sale_id=sale["id"])
    assert (confirmed["confirmed_now"], confirmed_again["confirmed_now"]) == (True, False)

    (invoice, *_) = await seller.call("erp.list_invoices", state="posted")
    credit = await seller.call("erp.issue_credit_note", invoice_id=invoice["id"])
    credit_again = await seller.call("erp.issue_credit_note", invoice_id=invoice["id"])
    assert credit["created"]
    assert credit["credit_note"]["kind"] == "credit_note"
    assert credit["credit_note"]["total_amount"] == f"-{invoice['total_amount']}"
    assert not credit_again["created"]
    assert credit_again["credit_note"]["id"] == credit["credit_note"]["id"]

    city = (await seller.call("crm.read_party", party_id=party["id"]))["city"]
    updated = await seller.call("crm.update_party", party_id=party["id"], city="Oslo")
    updated_again = await seller.call("crm.update_party", party_id=party["id"], city="Oslo")
    assert updated["changes"] == {"city": {"before": city, "after": "Oslo"}}
    assert updated_again["changes"] == {}

    update = seller.gate.policy.tools.get("crm.update_party")
    assert update.reversed_by == "crm.update_party"
    assert update.reverse_args is not None
    undo = update.reverse_args({"party_id": party["id"], "city": "Oslo"}, updated)
    assert undo == {"party_id": party["id"], "city": city}
    await seller.call("crm.update_party", **undo)
    assert (await seller.call("crm.read_party", party_id=party["id"]))["city"] == city


@pytest.mark.slow
async def test_previews_show_the_diff_and_change_nothing(
    seller: Agent, client: TrytonClient
) -> None:
    tools = seller.gate.policy.tools
    (party,) = await seller.call("crm.find_parties", query="Stark Trading")
    products = await seller.call("erp.list_products", query="WORKSHOP")
    (invoice, *_) = await seller.call("erp.list_invoices", state="posted")
    (lead, *_) = await seller.call("crm.list_opportunities", state="opportunity")
    sale = await seller.call(
        "erp.create_sale",
        party_id=party["id"],
        lines=[{"product_id": products[0]["id"], "quantity": 1}],
    )

    def snapshot() -> dict[str, Any]:
        return {
            "party": client.read_one("party.party", party["id"], ["name", "email"]),
            "counts": [
                count(client, m)
                for m in ("party.party", "sale.opportunity", "sale.sale", "account.invoice")
            ],
            "sale": client.read_one("sale.sale", sale["id"], ["state"]),
            "invoice": client.read_one("account.invoice", invoice["id"], ["state"]),
            "lead": client.read_one("sale.opportunity", lead["id"], ["state"]),
        }

    before = snapshot()

    def preview(tool_name: str, /, **args: Any) -> Any:
        item = tools.get(tool_name)
        assert item.preview is not None
        return item.preview(**item.validate_args(args))

    update = preview("crm.update_party", party_id=party["id"], name="Stark Industries")
    assert update == {
        "action": "update",
        "model": "party.party",
        "record_id": party["id"],
        "changes": {"name": {"before": "Stark Trading", "after": "Stark Industries"}},
    }
    created = preview("crm.create_party", name="Newco", email="hello@newco.example")
    assert created["changes"]["email"] == {"before": None, "after": "hello@newco.example"}
    opportunity = preview("crm.create_opportunity", party_id=party["id"], description="More")
    assert opportunity["changes"]["party"]["after"] == "Stark Trading"
    convert = preview("crm.convert_opportunity", opportunity_id=lead["id"])
    assert convert["changes"]["state"] == {"before": "opportunity", "after": "converted"}
    new_sale = preview(
        "erp.create_sale", party_id=party["id"], lines=[{"product_id": products[0]["id"]}]
    )
    assert new_sale["changes"]["lines"]["after"][0]["unit_price"] == "1500"
    confirm = preview("erp.confirm_sale", sale_id=sale["id"])
    assert confirm["changes"] == {"state": {"before": "draft", "after": "confirmed"}}
    credit = preview("erp.issue_credit_note", invoice_id=invoice["id"])
    assert credit["changes"]["total_amount"]["after"] == f"-{invoice['total_amount']}"
    assert credit["invoice"]["changes"]["state"] == {"before": "posted", "after": "cancelled"}

    assert snapshot() == before


@pytest.mark.slow
async def test_policies_read_the_targeted_invoice(
    shared_server: TrytonServer, sqlite_url: str
) -> None:
    tools = toolset(settings(shared_server))
    policy = POLICY.replace(
        "      - tool: erp.issue_credit_note\n        approval: never",
        "      - tool: erp.issue_credit_note\n        approval: never\n"
        "        when: resource.total_amount <= 50.0",
    )
    events = Events()
    invoice = tools.get("erp.list_invoices").function(state="posted", limit=1)
    with Gate(load_policy_text(policy, tools=tools), database=sqlite_url, recorder=events) as gate:
        outcome = await gate.call(
            ProposedCall(
                tool="erp.issue_credit_note",
                args={"invoice_id": invoice[0]["id"]},
                agent="seller",
                principal=SAM,
                run=RunState(id="run-9"),
                call_id="c1",
            )
        )
    assert isinstance(outcome, Refused), outcome
    assert events.events[0].call.resource == {
        "model": "account.invoice",
        "id": invoice[0]["id"],
        "party_id": invoice[0]["party_id"],
        "state": "posted",
        "total_amount": float(invoice[0]["total_amount"]),
    }


# --- bad input -------------------------------------------------------------------------


@pytest.mark.slow
async def test_a_missing_record_is_a_clear_failure(
    shared_server: TrytonServer, sqlite_url: str
) -> None:
    agent = agent_for(toolset(settings(shared_server)), sqlite_url)
    with agent.gate:
        error = await agent.fail("crm.read_party", party_id=999999)
        assert error == "party.party 999999 does not exist"
        error = await agent.fail("erp.confirm_sale", sale_id=999999)
        assert error == "sale.sale 999999 does not exist"
        error = await agent.fail("crm.update_party", party_id=999999, name="x")
        assert "999999 does not exist" in error


@pytest.mark.slow
async def test_a_refused_call_carries_trytons_message(
    shared_server: TrytonServer, sqlite_url: str
) -> None:
    agent = agent_for(toolset(settings(shared_server)), sqlite_url)
    with agent.gate:
        (party, *_) = await agent.call("crm.find_parties", query="Wonka")
        error = await agent.fail("crm.update_party", party_id=party["id"], email="not an email")
        assert error.startswith("Tryton refused the call (UserError): The email address")
        assert (await agent.call("crm.read_party", party_id=party["id"]))["email"] == party["email"]


@pytest.mark.slow
async def test_a_login_failure_is_a_clear_failure(
    shared_server: TrytonServer, sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PASSWORD_ENV, "not-the-password")
    agent = agent_for(toolset(settings(shared_server)), sqlite_url)
    with agent.gate:
        error = await agent.fail("crm.find_parties")
    assert error == (f"Tryton refused the login of 'admin' on database {shared_server.database!r}")


async def test_an_unreachable_server_is_a_clear_failure(sqlite_url: str) -> None:
    port = free_port()
    tools = toolset(
        {"url": f"http://127.0.0.1:{port}/", "database": "x", "password_env": PASSWORD_ENV}
    )
    agent = agent_for(tools, sqlite_url)
    with agent.gate:
        error = await agent.fail("crm.find_parties")
    assert error.startswith(f"cannot reach Tryton at http://127.0.0.1:{port}/x/rpc/")


async def test_a_server_that_does_not_answer_times_out(sqlite_url: str) -> None:
    with socket.socket() as silent:  # accepts connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        tools = toolset(
            {
                "url": f"http://127.0.0.1:{port}/",
                "database": "x",
                "password_env": PASSWORD_ENV,
                "timeout_seconds": 0.3,
            }
        )
        agent = agent_for(tools, sqlite_url)
        with agent.gate:
            error = await agent.fail("erp.list_invoices")
    assert error == f"Tryton at http://127.0.0.1:{port}/x/rpc/ did not answer within 0.3s"


@pytest.mark.slow
def test_an_expired_session_is_renewed(shared_server: TrytonServer) -> None:
    client = client_from_settings(settings(shared_server))
    assert count(client, "res.user", [("login", "=", "admin")]) == 1
    client.call("common.db.logout", [], with_context=False)  # the server forgets the session
    assert count(client, "res.user", [("login", "=", "admin")]) == 1


def test_bad_settings_name_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    from tether.errors import ConfigurationError

    monkeypatch.delenv(PASSWORD_ENV)
    with pytest.raises(ConfigurationError, match=PASSWORD_ENV):
        toolset({"url": "http://127.0.0.1:1/", "database": "x", "password_env": PASSWORD_ENV})
    with pytest.raises(ConfigurationError, match="databse"):
        toolset({"url": "http://127.0.0.1:1/", "databse": "x"})


@pytest.mark.slow
def test_concurrent_creates_make_one_record(shared_server: TrytonServer) -> None:
    tools = toolset(settings(shared_server))
    create = tools.get("crm.create_party")
    from tether.tools import ToolContext

    ctx = ToolContext(run_id="r", call_id="c", idempotency_key=f"r:{uuid.uuid4().hex}")
    results: list[dict[str, Any]] = []

    def go() -> None:
        results.append(create.function(ctx, name="Twice Ltd"))

    threads = [threading.Thread(target=go) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({r["id"] for r in results}) == 1
    assert sorted(r["created"] for r in results) == [False, False, True]


# --- outcome records: what Tryton shows after each write ----------------------------


def outcomes(seller: Agent) -> list[dict[str, Any]]:
    return [
        event.observed.to_dict()
        for event in seller.events.events
        if event.type == "call.executed" and event.observed is not None
    ]


@pytest.mark.slow
async def test_writes_are_read_back_from_tryton(seller: Agent, client: TrytonClient) -> None:
    (party,) = await seller.call("crm.find_parties", query="Stark Trading")
    (invoice, *_) = await seller.call("erp.list_invoices", state="posted")
    assert outcomes(seller) == []  # reads have no outcome record
    created = await seller.call("crm.create_party", name="Newco", email="hello@newco.example")
    await seller.call("crm.update_party", party_id=party["id"], city="Gotham")
    await seller.call("erp.issue_credit_note", invoice_id=invoice["id"])
    new, update, credit = outcomes(seller)
    assert all(item["system"] == "tryton" for item in (new, update, credit))
    assert [new["status"], update["status"], credit["status"]] == ["confirmed"] * 3, (
        new,
        update,
        credit,
    )
    # Read from Tryton, not copied from the answer: what a direct read shows.
    assert new["after"]["id"] == created["id"]
    assert new["after"]["email"] == "hello@newco.example"
    assert client.read_one("party.party", created["id"], ["name"])["name"] == "Newco"
    assert update["before"]["city"] != "Gotham"
    assert update["after"]["city"] == "Gotham"
    assert credit["before"]["state"] == "posted"
    assert credit["after"]["invoice"]["state"] == "cancelled"
    assert credit["after"]["credit_note"]["kind"] == "credit_note"
    assert credit["after"]["credit_note"]["total_amount"] == f"-{invoice['total_amount']}"


@pytest.mark.slow
async def test_a_change_tryton_does_not_show_is_a_discrepancy(
    seller: Agent, client: TrytonClient
) -> None:
    # Another writer changes the record between the tool's answer and the read-back.
    (party,) = await seller.call("crm.find_parties", query="Stark Trading")
    tool = seller.gate.policy.tools.get("crm.update_party")
    assert tool.read_back is not None
    answer = tool.function(party_id=party["id"], name="Stark Industries")
    client.write("party.party", [party["id"]], {"name": "Stark Holdings"})
    shown = tool.read_back.after({"party_id": party["id"]}, answer)
    expected = tool.read_back.expect  # what the call asked Tryton to hold
    assert expected is not None
    (differs,) = compare(
        expected({"party_id": party["id"], "name": "Stark Industries"}, answer),
        shown,
        strict=True,
    )
    assert (differs.path, differs.answer, differs.system) == (
        "name",
        "Stark Industries",
        "Stark Holdings",
    )
