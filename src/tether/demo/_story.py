"""The demo's story: a scripted support agent of the demo company, acting in a local
Tryton and by email, every call through the gate."""

from __future__ import annotations

import json
import secrets
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from rich.console import Console
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from tether.config import load_config
from tether.demo._company import DATABASE, TRYTON_PASSWORD, Company, set_up, stop_services
from tether.runtime import RunRecord, Runtime

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "demo-company"


@dataclass(frozen=True)
class Scene:
    title: str
    agent: str
    principal: str
    task: str
    script: str
    """A scripted model in the example's ``scripts`` folder."""


SCENES = [
    Scene(
        "A routine refund",
        "support-desk",
        "alice",
        "Acme Trading says invoice 1 was charged twice; refund it and tell them.",
        "routine-refund.yaml",
    ),
    Scene("Permission boundaries", "support-desk", "alice", "Tidy up the CRM.", "boundaries.yaml"),
    Scene(
        "An injected email",
        "support-desk",
        "alice",
        "Work through the support inbox.",
        "injected-email.yaml",
    ),
]

_COLOURS = {"allow": "green", "deny": "red", "needs_approval": "yellow"}


@dataclass(frozen=True)
class DemoResult:
    config: Path
    runs: list[RunRecord]
    pending: list[str]
    """Ids of the approval requests left for the user to decide."""
    logins: dict[str, str] = field(default_factory=dict)
    """The console's demo users and their passwords (``tether serve``)."""
    summary: list[str] = field(default_factory=list)
    """What happened, scene by scene, as the audit trail records it."""


CONSOLE_USERS = {
    "fiona": ["approver"],
    "frank": ["approver"],
    "alice": ["approver"],
    "ops": ["operator", "auditor"],
}
"""The demo's console users: two finance leads, alice (who cannot approve her own
agent's requests) and an operator."""


def _console_section(logins: Mapping[str, str]) -> dict[str, Any]:
    """The ``web:`` section for these users: argon2 hashes, never the passwords."""
    try:
        from argon2 import PasswordHasher
    except ImportError:  # the web extra is not installed: no console users
        return {}
    hasher = PasswordHasher()
    users = {
        name: {"password_hash": hasher.hash(password), "roles": CONSOLE_USERS[name]}
        for name, password in logins.items()
    }
    return {"web": {"users": users}}


def write_config(state: Path, company: Company, logins: Mapping[str, str] | None = None) -> Path:
    """The demo's tether.yaml: the example's policy and agent, the demo company's Tryton
    and mailboxes (started by whichever tether process needs them), the state in
    ``state`` (and, given ``logins``, the console's users)."""
    config: dict[str, Any] = {
        "database": f"sqlite:///{state / 'tether.db'}",
        "policy": str(EXAMPLE / "policy.yaml"),
        "agents": [str(EXAMPLE / "agents" / "support-desk.yaml")],
        "keys": str(state / "keys"),
        "env": {"TRYTON_PASSWORD": TRYTON_PASSWORD},
        "connectors": [
            {
                "type": "tryton",
                "settings": {
                    "database": DATABASE,
                    "password_env": "TRYTON_PASSWORD",
                    "local": {"state": str(company.tryton_state), "port": company.tryton_port},
                },
            },
            {
                "type": "email",
                "settings": {
                    "sender": "desk@demo.example",
                    "smtp_port": company.smtp_port,
                    "outbox": str(company.outbox),
                    "inbox_maildir": str(company.inbox),
                },
            },
        ],
        **_console_section(logins or {}),
        # The demo is one person's: its CLI may decide without a login (recorded local).
        "operators": "local",
    }
    path = state / "tether.yaml"
    path.write_text(
        "# Written by `tether demo`; re-running the demo starts afresh.\n"
        "# The local Tryton and the outbox start in whichever tether process needs them.\n"
        + yaml.safe_dump(config, sort_keys=False)
    )
    return path


SCENE_TIMEOUT_SECONDS = 600.0
"""How long a scene waits for its run to settle before cancelling it (a slow model)."""


def run_demo(
    state: Path,
    console: Console,
    *,
    model: str | None = None,
    scene_timeout_seconds: float = SCENE_TIMEOUT_SECONDS,
) -> DemoResult:
    """Run the story in a fresh ``state`` directory; ``model`` replaces the scripts.

    Each scene waits for its run to settle (finish, or wait for a person) before the
    next starts; a run still going after ``scene_timeout_seconds`` is cancelled, so
    nothing is left running when the demo ends."""
    state = state.resolve()
    if state.exists():
        shutil.rmtree(state)
    state.mkdir(parents=True)
    company = set_up(state, console)
    logins = _new_logins()
    config_path = write_config(state, company, logins)
    config = load_config(config_path)
    console.print(
        Panel.fit(
            f"policy  {config.policy.source} ({config.policy.version})\n"
            f"agents  {', '.join(agent.name for agent in config.agents)} "
            f"({model or 'scripted models'})\n"
            f"Tryton  the demo company, database {DATABASE!r}, on 127.0.0.1:{company.tryton_port}\n"
            f"email   inbox {company.inbox}, outbox {company.outbox}\n"
            f"state   {state}",
            title="tether demo",
        )
    )
    runs = []
    try:
        with config.runtime() as runtime:
            runtime.launch()
            for scene in SCENES:
                runs.append(_play(runtime, scene, console, model, scene_timeout_seconds))
            pending = [request.id for request in runtime.approvals.find()]
            summary = [
                line
                for scene, record in zip(SCENES, runs, strict=True)
                for line in scene_summary(runtime, scene.title, record.id)
            ]
            runtime.audit.checkpoint()  # sign the story, so `tether audit verify` covers it
    finally:
        stop_services(company)
    _print_logins(console, logins)
    return DemoResult(
        config=config_path, runs=runs, pending=pending, logins=logins, summary=summary
    )


def _new_logins() -> dict[str, str]:
    """A fresh password for each console user (none without the web extra)."""
    try:
        import argon2  # noqa: F401
    except ImportError:
        return {}
    return {name: secrets.token_urlsafe(9) for name in CONSOLE_USERS}


def _print_logins(console: Console, logins: Mapping[str, str]) -> None:
    if not logins:
        return
    lines = [
        f"  {name:<6} {password}   ({', '.join(CONSOLE_USERS[name])})"
        for name, password in logins.items()
    ]
    console.print(
        "Operator console: `tether serve`, then http://127.0.0.1:8000/ and log in as\n"
        + "\n".join(lines),
        markup=False,
    )


def _play(
    runtime: Runtime,
    scene: Scene,
    console: Console,
    model: str | None,
    timeout_seconds: float,
) -> RunRecord:
    console.rule(Text(f"{scene.title}  ·  {scene.agent} for {scene.principal}", style="bold"))
    console.print(Text(f"task: {scene.task}"))
    with console.status("running…"):
        started = runtime.start(
            scene.agent,
            scene.task,
            principal=scene.principal,
            model=model or f"scripted:{EXAMPLE / 'scripts' / scene.script}",
        )
        record = runtime.wait(started.id, timeout_seconds=timeout_seconds)
    if record.status in ("queued", "running"):
        # Never left running: a later `tether run` would resume it behind the user's back.
        record = runtime.cancel(record.id, by="tether demo (scene timed out)")
        console.print(
            Text(
                f"run {record.id} did not settle within {timeout_seconds:g} s; "
                "the demo cancelled it (raise --timeout for a slow model)",
                style="yellow",
            )
        )
    table = Table(expand=True)
    for column in ("call", "decision", "rules", "what happened"):
        table.add_column(column, overflow="fold")
    for row in _calls(runtime, record.id):
        table.add_row(*row)
    console.print(table)
    status_style = {"completed": "green", "waiting_approval": "yellow"}.get(record.status, "red")
    console.print(
        Text.assemble(
            ("run ", ""),
            (record.id, "bold"),
            " ",
            (record.status, status_style),
            f": {record.output or ''}",
        )
    )
    return record


def _calls(runtime: Runtime, run_id: str) -> list[tuple[str | Text, ...]]:
    rows: dict[str, list[str | Text]] = {}
    for stored in runtime.audit.events(run=run_id):
        event = stored.event
        if event.call_id is None:
            continue
        if event.type == "call.decided" and event.decision:
            kind = str(event.decision.get("kind", ""))
            rules = ", ".join(event.decision.get("rules", [])[:3])
            rows[event.call_id] = [
                f"{event.tool}({_short(event.args or {})})",
                Text(kind, style=_COLOURS.get(kind, "")),
                rules,
                "refused; the agent was told why" if kind == "deny" else "",
            ]
        elif event.call_id in rows:
            rows[event.call_id][3] = _happened(event.type, event)
    return [tuple(row) for row in rows.values()]


def scene_summary(runtime: Runtime, title: str, run_id: str) -> list[str]:
    """What a scene's run did, from the audit trail: what ran, what was refused, what
    waits for whom, and how the run ended."""
    calls: dict[str, dict[str, Any]] = {}
    ended = "is still open"
    for stored in runtime.audit.events(run=run_id):
        event = stored.event
        if event.type in ("run.finished", "run.stopped"):
            ended = f"ended {(event.details or {}).get('status', event.type)}"
        if event.call_id is None or event.tool is None:
            continue
        call = calls.setdefault(event.call_id, {"tool": event.tool, "args": event.args or {}})
        if event.type == "call.decided" and event.decision:
            call["decision"] = event.decision.get("kind")
            call["rules"] = list(event.decision.get("rules", []))
        elif event.type == "call.executed":
            call["ran"] = True
        elif event.type == "call.failed":
            call["failed"] = True
        elif event.type == "approval.requested" and event.approval:
            call["held_for"] = list(event.approval.get("approvers", []))
        elif event.type == "approval.decided" and event.approval:
            call["verdict"] = event.approval.get("verdict")
    ran = [_named(c) for c in calls.values() if c.get("ran")]
    refused = [
        f"{_named(c)} ({', '.join(c.get('rules', [])[:2]) or 'default deny'})"
        for c in calls.values()
        if c.get("decision") == "deny"
    ]
    waiting = [
        f"{_named(c)} (for {', '.join(c['held_for'])})"
        for c in calls.values()
        if c.get("held_for") and not c.get("verdict") and not c.get("ran")
    ]
    failed = [_named(c) for c in calls.values() if c.get("failed")]
    parts = [f"ran {', '.join(ran)}" if ran else "ran nothing"]
    if refused:
        parts.append(f"refused {', '.join(refused)}")
    if waiting:
        parts.append(f"waits for a person: {', '.join(waiting)}")
    if failed:
        parts.append(f"failed {', '.join(failed)}")
    return [f"{title}: {'; '.join(parts)}; the run {ended}."]


def _named(call: Mapping[str, Any]) -> str:
    args = call.get("args") or {}
    to = args.get("to")
    if isinstance(to, list) and to:
        return f"{call['tool']} to {', '.join(str(item) for item in to)}"
    target = next((f"{k} {v}" for k, v in args.items() if k.endswith("_id")), "")
    return f"{call['tool']} {target}".strip()


def _happened(kind: str, event: Any) -> str:
    if kind == "call.executed":
        return "done"
    if kind == "call.failed":
        return f"failed: {event.error}"
    if kind == "approval.requested":
        return f"held for {', '.join(event.approval.get('approvers', []))}"
    return ""


def _short(args: Mapping[str, Any]) -> str:
    text = json.dumps(args, ensure_ascii=False)[1:-1]
    return text if len(text) <= 60 else text[:57] + "..."
