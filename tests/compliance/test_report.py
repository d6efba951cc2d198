"""`tether report` on the demo's state: every obligation present, each figure what the
trail shows (counted here independently), a refused and an approved decision reflected;
a range with no events and a tampered log give clear findings, never a false "intact"."""

from __future__ import annotations

import datetime as _dt
import io
import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from rich.console import Console
from typer.testing import CliRunner

import tether
from tether.audit import DEFAULT_RETENTION, AuditLog, StoredEvent
from tether.cli import app
from tether.config import load_config
from tether.demo._story import run_demo

pytestmark = pytest.mark.slow
SOURCE = str(Path(tether.__file__).resolve().parents[1])
runner = CliRunner()
OBLIGATIONS = [
    "AI-Act-Art-12",
    "AI-Act-Art-14",
    "AI-Act-Art-19-26-6",
    "AI-Act-Art-26-2",
    *[f"ASI{n:02d}" for n in range(1, 11)],
]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The demo's state, its pending refund then refused once and approved (each from a
    process of its own, as a user would)."""
    pytest.importorskip("trytond", reason="the demo runs the demo company in Tryton")
    folder = tmp_path_factory.mktemp("report")
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("TETHER_DATABASE_URL", raising=False)
        patch.delenv("TETHER_CONFIG", raising=False)
        patch.chdir(folder)
        result = run_demo(folder / "demo", Console(file=io.StringIO(), width=120))
        (request_id,) = result.pending

        def tether(*args: str) -> subprocess.CompletedProcess[str]:
            command = [sys.executable, "-c", "from tether.cli import main; main()", *args]
            # The same tether as this process's, wherever the command runs.
            env = {**os.environ, "PYTHONPATH": os.pathsep.join([SOURCE, *sys.path])}
            return subprocess.run(
                command, check=False, capture_output=True, text=True, env=env,
                timeout=180, cwd=folder,
            )  # fmt: skip

        config = str(result.config)
        assert tether("approvals", "approve", request_id, "--as", "alice", "-c", config).returncode
        approved = tether("approvals", "approve", request_id, "--as", "fiona", "-c", config)
        assert approved.returncode == 0, approved.stdout + approved.stderr
        yield result.config


def report_of(config: Path, *args: str) -> dict[str, Any]:
    result = runner.invoke(app, ["report", "-c", str(config), "--format", "json", *args])
    assert result.exit_code == 0, result.output
    data: dict[str, Any] = json.loads(result.output)
    return data


def figures(data: dict[str, Any], obligation: str) -> dict[str, Any]:
    (found,) = [o for o in data["obligations"] if o["id"] == obligation]
    return {item["name"]: item["value"] for item in found["evidence"]}


def trail(config: Path) -> list[StoredEvent]:
    loaded = load_config(config)
    with AuditLog(loaded.database, keys=loaded.keys) as log:
        return list(log.events())


def test_every_obligation_with_figures_that_match_the_trail(demo: Path) -> None:
    data = report_of(demo)
    assert [o["id"] for o in data["obligations"]] == OBLIGATIONS
    events = [stored.event for stored in trail(demo)]
    kinds = Counter(event.type for event in events)
    decided = [e.decision or {} for e in events if e.type == "call.decided"]
    approvals = [e.approval or {} for e in events if e.type == "approval.decided"]
    outcomes = Counter(
        (e.effect or {})["outcome"]["status"]
        for e in events
        if e.type == "call.executed" and "outcome" in (e.effect or {})
    )

    record = figures(data, "AI-Act-Art-12")
    assert record["events in range"] == len(events) == data["events_in_range"]
    assert record["runs"] == len({e.run_id for e in events if e.run_id != "-"}) == 3
    assert record["calls decided"] == kinds["call.decided"]
    assert record["calls executed"] == kinds["call.executed"]
    assert record["events by type"] == dict(sorted(kinds.items()))
    assert record["verification"] == "intact" and data["verification"]["intact"]
    assert data["assurance"] == "local"

    oversight = figures(data, "AI-Act-Art-14")
    assert oversight["approvals requested"] == kinds["approval.requested"] == 1
    assert oversight["requests closed by outcome"] == {"approved": 1}
    assert oversight["votes by verdict"] == {"approve": 1}
    assert [(a["verdict"], a["status"]) for a in approvals] == [("approve", "approved")]
    assert oversight["stop switches used"] == kinds["agent.stopped"] == 0
    assert oversight["median seconds to decide"] is not None

    overseers = figures(data, "AI-Act-Art-26-2")
    assert overseers["people assigned"] == 2  # fiona and frank, the finance leads
    assert overseers["decisions by person"] == {"fiona": 1}
    assert overseers["decisions by login method"] == {"local": 1}
    assert overseers["refused attempts to decide"] == {"self_approval": 1}

    misuse = figures(data, "ASI02")
    assert misuse["calls refused"] == sum(d.get("kind") == "deny" for d in decided)
    assert misuse["refused as not granted"] == sum(
        "default-deny" in (d.get("rules") or []) for d in decided
    )
    hijack = figures(data, "ASI01")
    untrusted = [e for e in events if e.type == "call.decided" and (e.details or {}).get(
        "run_untrusted"
    )]  # fmt: skip
    assert hijack["calls in untrusted runs"] == len(untrusted) > 0
    # The demo's refund ran in Tryton, its mail reached the outbox: both read back.
    assert figures(data, "ASI10")["outcome records by status"] == dict(outcomes)
    credits = [e for e in events if e.type == "call.executed" and e.tool == "erp.issue_credit_note"]
    assert len(credits) == 2  # the routine refund, and the approved one
    assert outcomes == {"confirmed": 3}  # both refunds and the customer's mail

    retention = {o["id"]: o for o in data["obligations"]}["AI-Act-Art-19-26-6"]
    retained = figures(data, "AI-Act-Art-19-26-6")["retention in force (days)"]
    assert retained == DEFAULT_RETENTION.days
    assert DEFAULT_RETENTION.days >= 184  # the longest six months
    assert retention["status"] == "met"
    assert retention["gaps"] == []


def test_a_range_with_no_events_gives_clear_findings(demo: Path) -> None:
    data = report_of(demo, "--since", "2020-01-01T00:00:00Z", "--until", "2020-01-02T00:00:00Z")
    assert [o["id"] for o in data["obligations"]] == OBLIGATIONS
    assert data["events_in_range"] == 0
    assert data["findings"][0].startswith("no events between 2020-01-01T00:00:00+00:00")
    art12 = {o["id"]: o for o in data["obligations"]}["AI-Act-Art-12"]
    assert art12["status"] != "met"
    assert any("no events in the range" in gap for gap in art12["gaps"])
    assert figures(data, "AI-Act-Art-14")["approvals requested"] == 0
    assert data["verification"]["intact"]  # the log itself still verifies


def test_html_report_names_every_obligation(demo: Path, tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    result = runner.invoke(app, ["report", "-c", str(demo), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert f"wrote {out}: 14 obligations" in result.output
    html = out.read_text()
    for obligation in OBLIGATIONS:
        assert f"id='{obligation}'" in html
    assert "<script" not in html
    assert "Art. 14 Human oversight and the stop switch" in html
    assert "assurance <strong>local</strong>" in html


def test_bad_ranges_are_clear_errors(demo: Path) -> None:
    backwards = runner.invoke(
        app, ["report", "-c", str(demo), "--since", "2026-02-01", "--until", "2026-01-01"]
    )
    assert backwards.exit_code == 1
    assert "the range is empty" in backwards.output
    nonsense = runner.invoke(app, ["report", "-c", str(demo), "--since", "last tuesday"])
    assert nonsense.exit_code == 2
    assert "ISO time" in nonsense.output


def test_a_tampered_log_is_never_reported_intact(demo: Path, tmp_path: Path) -> None:
    copy = tmp_path / "tampered"
    state = demo.parent
    shutil.copytree(state, copy)
    config = copy / "tether.yaml"
    config.write_text(config.read_text().replace(str(state), str(copy)))
    engine = sa.create_engine(f"sqlite:///{copy / 'tether.db'}")
    with engine.begin() as conn:
        for name in (
            conn.execute(sa.text("SELECT name FROM sqlite_master WHERE type = 'trigger'"))
            .scalars()
            .all()
        ):
            conn.execute(sa.text(f"DROP TRIGGER {name}"))
        conn.execute(sa.text("DELETE FROM tether_audit_event WHERE seq = 5"))
    engine.dispose()
    data = report_of(config)
    assert data["verification"]["intact"] is False
    assert data["assurance"] == "none"
    assert "does not verify" in data["findings"][-1]
    statuses = {o["id"]: o["status"] for o in data["obligations"]}
    assert statuses["AI-Act-Art-12"] == "gap"
    assert statuses["ASI10"] != "met"


def test_a_pruning_shorter_than_six_months_is_a_gap(demo: Path, tmp_path: Path) -> None:
    """`tether audit prune --older-than 30d` keeps a month of logs: the report states it,
    from the pruning's own record in the trail (who, when, how short)."""
    copy = tmp_path / "pruned"
    state = demo.parent
    shutil.copytree(state, copy)
    config = copy / "tether.yaml"
    config.write_text(config.read_text().replace(str(state), str(copy)))
    loaded = load_config(config)
    later = _dt.datetime.now(_dt.UTC) + _dt.timedelta(days=31)
    with AuditLog(loaded.database, keys=loaded.keys) as log:
        result = log.prune(older_than=_dt.timedelta(days=30), now=later, actor={"account": "ops"})
    assert result.removed > 0
    data = report_of(config)
    retention = {o["id"]: o for o in data["obligations"]}["AI-Act-Art-19-26-6"]
    assert retention["status"] != "met"
    (gap,) = retention["gaps"]
    assert f"ops pruned events older than 30 days ({result.removed} removed)" in gap
    shown = figures(data, "AI-Act-Art-19-26-6")
    assert shown["shortest retention applied (days)"] == 30
    assert shown["prunings"] == 1
    assert shown["older events pruned"] is True
    assert data["verification"]["intact"]  # pruning leaves a log that verifies
