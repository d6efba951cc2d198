"""Single sign-on in a real browser: Chromium goes from the console's login page to the
real OpenID Connect provider (oidc-provider on loopback), signs on, consents, comes
back logged in with the roles its groups map to, and approves a refund whose rule
demands an authenticated approver; the trail says it was single sign-on."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.web.served import Served
from tests.web.test_browser import browser
from tests.web.test_sso import issuer, ports, served

__all__ = ["browser", "issuer", "ports", "served"]  # the fixtures this module uses

pytestmark = pytest.mark.slow


def test_an_approver_signs_on_in_chromium_and_approves(
    browser: Callable[[Callable[[Any], None]], None], served: Served
) -> None:
    rt = served.runtime
    run = rt.start("support-desk", "Acme was charged twice", principal="alice")
    assert rt.wait(run.id).status == "waiting_approval"
    (request,) = rt.approvals.find(run_id=run.id)
    assert request.assurance == "authenticated"

    def drive(chromium: Any) -> None:
        from playwright.sync_api import expect

        page = chromium.new_page()
        page.goto(served.url + "/")
        expect(page.get_by_role("heading", name="Log in")).to_be_visible()
        page.locator("#sso").click()
        # The provider's own pages: its login form, then its consent.
        page.locator('input[name="login"]').fill("fiona")
        page.locator('input[name="password"]').fill("any-password")
        page.get_by_role("button", name="Sign-in").click()
        page.get_by_role("button", name="Continue").click()
        page.wait_for_url(served.url + "/**")
        expect(page.locator("header .who")).to_contain_text("fiona")
        expect(page.locator("header .who")).to_contain_text("approver; oidc")
        card = page.locator(f"article#{request.id}")
        expect(card).to_contain_text("approvers must have logged in")
        card.get_by_role("link", name="Review and decide").click()
        page.locator('form.decide input[name="comment"]').fill("duplicate charge")
        page.get_by_role("button", name="Approve").click()
        expect(page.locator("#run-status")).to_have_text("completed", timeout=30_000)
        expect(page.locator("table.timeline")).to_contain_text("approve by fiona")
        expect(page.locator("table.timeline")).to_contain_text("(web, oidc)")
        page.close()

    browser(drive)
    decided = [
        stored.event
        for stored in rt.audit.events(type="approval.decided")
        if (stored.event.approval or {}).get("request_id") == request.id
    ]
    assert decided and decided[0].actor
    assert decided[0].actor["method"] == "oidc" and decided[0].actor["surface"] == "web"
