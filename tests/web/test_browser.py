"""End to end in a real browser (Playwright driving Debian's Chromium): an approver logs
in, finds an approval a real run is waiting for, edits an argument, approves, and sees
the run complete and the audit trail name them.

Skipped, with the reason, where Chromium or Playwright is missing; CI installs both and
sets TETHER_REQUIRE_BROWSER=1, which turns the skip into a failure.
``TETHER_UPDATE_SCREENSHOTS=1`` also writes the inbox to docs/console-inbox.png.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI

from tests.runtime.harness import free_port
from tests.web.conftest import PASSWORDS, StartRun
from tether.runtime import Runtime

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
DOCS = Path(__file__).resolve().parents[2] / "docs"


def _missing() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (pip install -e '.[dev]')"
    if not CHROMIUM.exists():
        return f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)"
    return None


@pytest.fixture(scope="module")
def browser() -> Callable[[Callable[[Any], None]], None]:
    """Runs a function with a launched Chromium, in a thread of its own: Playwright's
    sync API keeps an event loop running in its thread, where DBOS's sync calls fail."""
    missing = _missing()
    if missing:
        if os.environ.get("TETHER_REQUIRE_BROWSER") == "1":
            pytest.fail(f"browser tests are required here, but {missing}")
        pytest.skip(missing)

    def run(drive: Callable[[Any], None]) -> None:
        from playwright.sync_api import sync_playwright

        failures: list[BaseException] = []

        def main() -> None:
            try:
                with sync_playwright() as playwright:
                    launched = playwright.chromium.launch(
                        executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
                    )
                    try:
                        drive(launched)
                    finally:
                        launched.close()
            except BaseException as exc:  # re-raised in the test's thread
                failures.append(exc)

        thread = threading.Thread(target=main)
        thread.start()
        thread.join(120)
        if failures:
            raise failures[0]
        if thread.is_alive():
            raise AssertionError("the browser did not finish in 120 s")

    return run


@pytest.fixture(scope="module")
def server(app: FastAPI) -> Iterator[str]:
    """The console on a real port, in a thread of this process (with the runtime)."""
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    running = uvicorn.Server(config)
    thread = threading.Thread(target=running.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not running.started:
        if time.monotonic() > deadline:
            raise AssertionError("the console did not start")
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    running.should_exit = True
    thread.join(10)


def credit_notes(desk: Path) -> list[tuple[int, float]]:
    with sqlite3.connect(desk) as db:
        return db.execute("SELECT invoice_id, amount FROM credit_note").fetchall()


def test_an_approver_edits_approves_and_sees_the_run_complete(
    *,
    browser: Callable[[Callable[[Any], None]], None],
    server: str,
    pending: StartRun,
    runtime: Runtime,
    desk: Path,
    tmp_path: Path,
) -> None:
    refund = pending()  # a real run, parked on its refund
    big = pending("billing", "grace")  # another, with a quorum of two…
    runtime.approve(big.id, by="frank")  # …one approval in
    before = credit_notes(desk)
    shot = tmp_path / "console-inbox.png"

    def drive(chromium: Any) -> None:
        from playwright.sync_api import expect

        page = chromium.new_page(viewport={"width": 1280, "height": 1000})
        page.goto(server + "/")
        expect(page.get_by_role("heading", name="Log in")).to_be_visible()
        page.get_by_label("User").fill("fiona")
        page.get_by_label("Password").fill(PASSWORDS["fiona"])
        page.get_by_role("button", name="Log in").click()

        card = page.locator(f"article#{refund.id}")
        expect(card).to_contain_text("erp.create_credit_note")
        expect(card).to_contain_text("acting for alice")
        expect(page.locator(f"article#{big.id}")).to_contain_text("1 of 2 approvals (frank)")
        page.screenshot(path=str(shot), full_page=True)

        card.get_by_role("link", name="Review and decide").click()
        amount = page.locator('input[name="arg.amount"]')
        expect(amount).to_have_value("1000.0")
        amount.fill("480")
        page.locator('form.decide input[name="comment"]').fill("half was a different order")
        page.get_by_role("button", name="Approve").click()

        expect(page.locator(".flash").first).to_contain_text("with amount changed")
        expect(page.locator("#run-status")).to_have_text("completed", timeout=30_000)
        expect(page.locator("table.timeline")).to_contain_text("approve by fiona")

        page.goto(f"{server}/audit?run={refund.run_id}&type=approval.decided")
        row = page.locator("table.audit tbody tr").first
        expect(row).to_contain_text("approval.decided")
        expect(row.locator(".by")).to_have_text("fiona")
        expect(page.locator("#verify")).to_contain_text("The chain verifies")
        page.close()

    browser(drive)
    assert shot.read_bytes().startswith(b"\x89PNG")
    if os.environ.get("TETHER_UPDATE_SCREENSHOTS") == "1":
        shutil.copyfile(shot, DOCS / "console-inbox.png")
    assert runtime.store.get(refund.run_id).status == "completed"
    assert credit_notes(desk) == [*before, (101, 480.0)]
    runtime.cancel(big.run_id, by="test")
