"""The console's API on PostgreSQL: a real run parks, an approver decides, it completes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.web.conftest import bearer, make_runtime, web_settings
from tether.runtime import Runtime
from tether.web import create_app


@pytest.fixture
def pg_runtime(postgres_url: str, tmp_path: Path, desk: Path) -> Iterator[Runtime]:
    rt = make_runtime(postgres_url, tmp_path)
    rt.launch()
    yield rt
    rt.close()


def test_approve_through_the_api_on_postgres(pg_runtime: Runtime) -> None:
    run = pg_runtime.start("support-desk", "Acme was charged twice", principal="alice")
    assert pg_runtime.wait(run.id).status == "waiting_approval"
    app = create_app(pg_runtime, web_settings())
    with TestClient(app) as client:
        (item,) = client.get("/api/approvals?mine=true", headers=bearer("grace")).json()
        assert item["run_id"] == run.id
        refused = client.post(
            f"/api/approvals/{item['id']}/approve", json={}, headers=bearer("alice")
        )
        assert refused.status_code == 403
        answer = client.post(
            f"/api/approvals/{item['id']}/approve",
            json={"args_hash": item["args_hash"]},
            headers=bearer("grace"),
        )
        assert answer.status_code == 200 and answer.json()["status"] == "approved"
        assert pg_runtime.wait(run.id).status == "completed"
        replay = client.post(
            f"/api/approvals/{item['id']}/approve", json={}, headers=bearer("frank")
        )
        assert replay.status_code == 409
        events = client.get(
            "/api/audit/events",
            params={"run": run.id, "type": "approval.decided"},
            headers=bearer("vic"),
        ).json()
        assert [event["approval"]["by"] for event in events] == ["grace"]
        assert client.get("/api/audit/verify", headers=bearer("vic")).json()["intact"]
