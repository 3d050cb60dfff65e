"""The pages in headless Chromium (Debian's, driven by Playwright): a customer and a billing clerk at work.

The customer logs in, sees the consumption chart, opens an invoice, downloads its PDF and disputes
a line; the clerk sees the dispute in the queue, answers it, approves a draft and issues it. Every
page visited is saved as a PNG under the test's temporary directory (the artifacts, as in
tests/einvoice/test_pdf.py); with ``MB_UPDATE_SCREENSHOTS=1`` one of each is copied to docs/screenshots/.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from playwright.sync_api import Browser, Page, expect, sync_playwright

from store.contract import Store
from tests.web.conftest import ServedApp
from tests.web.world import PASSWORD, World

# The invoice PDF is rendered by WeasyPrint, which opens its sRGB ICC profile without closing it
# (pytest reports the garbage collector closing it) and warns about HarfBuzz; only these are ignored.
pytestmark = [
    pytest.mark.filterwarnings("ignore:HarfBuzz-Subset will be required:DeprecationWarning"),
    pytest.mark.filterwarnings(
        "ignore:Exception ignored in. <_io.FileIO name='[^']*sRGB2014.icc':pytest.PytestUnraisableExceptionWarning"
    ),
]

DOCS_SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


@pytest.fixture(scope="module")
def base_url(web_app: FastAPI) -> Iterator[str]:
    with ServedApp(web_app) as url:
        yield url


@pytest.fixture(scope="module")
def browser(chromium: Path) -> Iterator[Browser]:
    with sync_playwright() as playwright:
        # --no-sandbox: CI containers run as root, where Chromium's sandbox cannot start.
        launched = playwright.chromium.launch(executable_path=str(chromium), args=["--no-sandbox"])
        try:
            yield launched
        finally:
            launched.close()


class Shots:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.taken: list[Path] = []

    def __call__(self, page: Page, name: str) -> None:
        path = self.folder / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        assert path.read_bytes().startswith(b"\x89PNG")
        self.taken.append(path)


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shots]:
    taken = Shots(tmp_path_factory.mktemp("screenshots"))
    yield taken
    if os.environ.get("MB_UPDATE_SCREENSHOTS") == "1":
        DOCS_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        for path in taken.taken:
            shutil.copyfile(path, DOCS_SCREENSHOTS / path.name)


def _log_in(page: Page, base_url: str, email: str) -> None:
    page.goto(f"{base_url}/login")
    page.get_by_label("E-mail address").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()


def _log_out(page: Page) -> None:
    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(re.compile(r"/login$"))


def test_customer_then_staff_in_chromium(
    browser: Browser, base_url: str, seeded: tuple[Store, World], shots: Shots
) -> None:
    store, world = seeded
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-GB", accept_downloads=True)
    page = context.new_page()

    page.goto(f"{base_url}/login")
    page.keyboard.press("Tab")  # the first stop is the skip link, visible when focused
    expect(page.locator(".skip-link")).to_be_focused()
    shots(page, "login")

    # -- the customer -------------------------------------------------------------------------
    _log_in(page, base_url, world.customer_email)
    expect(page.get_by_role("heading", level=1)).to_have_text("My consumption")
    chart = page.locator("svg.chart")
    expect(chart).to_be_visible()
    assert chart.locator("rect").count() >= 31 * 2  # a bar per day of January, split in HP and HC
    expect(page.locator("figcaption .legend")).to_contain_text("hp")
    shots(page, "portal-overview")

    page.get_by_role("link", name="Français").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Ma consommation")
    assert page.locator("html").get_attribute("lang") == "fr"
    shots(page, "portal-overview-fr")
    page.get_by_role("link", name="English").click()

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Invoices").click()
    shots(page, "portal-invoices")
    page.get_by_role("link", name=world.issued_number).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(world.issued_number)
    expect(page.locator("#line-2")).to_contain_text("readings from")
    shots(page, "portal-invoice")

    with page.expect_download() as download:
        page.get_by_role("link", name="PDF (Factur-X)").click()
    pdf = Path(download.value.path()).read_bytes()
    assert pdf.startswith(b"%PDF") and len(pdf) > 10_000

    line = page.locator("#line-2")
    line.locator("summary").click()
    line.get_by_label("Your message").fill("The peak-hour quantity looks too high for a month away.")
    line.get_by_role("button", name="Open the dispute").click()
    expect(page.get_by_role("status")).to_contain_text("Your dispute is open")
    expect(page.locator(".thread")).to_contain_text("looks too high")
    shots(page, "portal-dispute")

    page.goto(f"{base_url}/compare?tariff=fr-elec-base")
    expect(page.locator("#result-h")).to_contain_text("fr-elec-base")
    shots(page, "portal-compare")
    page.goto(f"{base_url}/export")
    shots(page, "portal-export")
    page.goto(f"{base_url}/live")
    expect(page.locator("#live-status")).to_contain_text("not configured")
    shots(page, "portal-live")
    _log_out(page)

    # -- billing staff -------------------------------------------------------------------------
    _log_in(page, base_url, world.staff_email)
    expect(page.get_by_role("heading", level=1)).to_have_text("Billing runs")
    shots(page, "staff-runs")

    page.get_by_role("link", name="Disputes").click()
    row = page.locator("tbody tr").filter(has_text=world.issued_number)
    expect(row).to_contain_text("cu-000")
    shots(page, "staff-disputes")
    row.get_by_role("link").first.click()
    page.get_by_label("Your message").fill("We are checking the meter's peak-hour readings.")
    page.get_by_role("button", name="Send").click()
    expect(page.locator(".thread li")).to_have_count(2)
    shots(page, "staff-dispute")

    page.goto(f"{base_url}/staff/review?period=2026-01")
    draft = page.locator("tbody tr").filter(has_text=world.draft_id)
    shots(page, "staff-review")
    draft.get_by_role("button", name="Approve").click()
    expect(page.get_by_role("status")).to_contain_text("Approved")
    page.locator("tbody tr").filter(has_text=world.draft_id).get_by_role("button", name="Issue").click()
    expect(page.get_by_role("status")).to_contain_text("Issued")
    issued = store.invoice(world.draft_id)
    assert issued is not None and issued.status == "issued" and issued.number is not None

    page.goto(f"{base_url}/staff/invoices/{world.draft_id}")
    expect(page.get_by_role("heading", level=1)).to_contain_text(issued.number)
    shots(page, "staff-invoice")
    page.goto(f"{base_url}/staff/health")
    shots(page, "staff-health")
    _log_out(page)
    context.close()

    # The customer sees the clerk's answer in the thread, timestamped.
    disputes = store.disputes(customer_id="cu-000")
    assert [e.kind for e in disputes[-1].events] == ["opened", "answered"]
