"""The pages through Starlette's TestClient: they render, speak both languages, refuse forged posts,
and never show a customer what is not theirs."""

from __future__ import annotations

import re

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from store.contract import Store
from tests.web.conftest import client_as, csrf_of
from tests.web.world import PASSWORD, World

PORTAL_PAGES = ["/", "/invoices", "/disputes", "/compare", "/compare?tariff=fr-elec-base", "/export", "/live"]
STAFF_PAGES = ["/staff/", "/staff/review?period=2026-01", "/staff/disputes", "/staff/health"]


@pytest.fixture(scope="module")
def ann(web_app: FastAPI) -> TestClient:
    return client_as(web_app, "ann@example.fr")


@pytest.fixture(scope="module")
def clerk(web_app: FastAPI) -> TestClient:
    return client_as(web_app, "billing@example.fr")


def _accessible(html: str) -> None:
    """The basics every page keeps: a language, a skip link to <main>, labelled controls, table headers."""
    assert re.search(r'<html lang="(en|fr)">', html)
    assert 'class="skip-link" href="#main"' in html and '<main id="main"' in html
    for control_id in re.findall(r'<(?:input|select|textarea)[^>]*\bid="([^"]+)"', html):
        assert f'for="{control_id}"' in html, f"control {control_id} has no label"
    for table in re.findall(r"<table.*?</table>", html, re.S):
        assert "<th" in table and "<caption" in table


@pytest.mark.parametrize("path", PORTAL_PAGES)
def test_portal_pages_render(ann: TestClient, path: str) -> None:
    response = ann.get(path)
    assert response.status_code == 200, response.text[:2000]
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["cache-control"] == "no-store"
    _accessible(response.text)


@pytest.mark.parametrize("path", STAFF_PAGES)
def test_staff_pages_render(clerk: TestClient, path: str) -> None:
    response = clerk.get(path)
    assert response.status_code == 200, response.text[:2000]
    _accessible(response.text)


def test_overview_draws_the_month_by_band_with_a_table_alternative(ann: TestClient) -> None:
    html = ann.get("/?month=2026-01").text
    svg = re.search(r'<svg class="chart".*?</svg>', html, re.S)
    assert svg is not None and 'role="img"' in svg.group(0) and "<title" in svg.group(0)
    assert svg.group(0).count('class="band-0"') == 31 and svg.group(0).count('class="band-1"') == 31
    table = re.search(r'<table id="usage-table">.*?</table>', html, re.S)
    assert table is not None and table.group(0).count("<tr>") == 1 + 31  # header row and a row per day


def test_invoice_page_explains_each_line_and_links_the_downloads(ann: TestClient, seeded: tuple[Store, World]) -> None:
    _, world = seeded
    html = ann.get(f"/invoices/{world.issued_id}").text
    assert world.issued_number in html
    for fmt in ("pdf", "cii", "ubl", "readings"):
        assert f"/api/v1/invoices/{world.issued_id}/download/{fmt}" in html
    line = re.search(r'<tr id="line-2">.*?</tr>', html, re.S)
    assert line is not None
    text = line.group(0)
    assert "744 readings from" in text and "fr-elec-hphc v1" in text and "Band:</strong> hp" in text
    assert "Estimated share:</strong> 2.0%" in text


def test_i18n_switch_follows_cookie_then_accept_language(web_app: FastAPI) -> None:
    client = TestClient(web_app)
    assert "<h1>Log in</h1>" in client.get("/login").text
    assert "<h1>Connexion</h1>" in client.get("/login", headers={"Accept-Language": "fr-FR,fr;q=0.9,en;q=0.5"}).text
    switched = client.get("/lang/fr?next=/login", follow_redirects=False)
    assert switched.status_code == 303 and switched.headers["location"] == "/login"
    html = client.get("/login", headers={"Accept-Language": "en"}).text  # the cookie wins
    assert '<html lang="fr">' in html and "<h1>Connexion</h1>" in html
    assert client.get("/lang/en?next=https://evil.example/", follow_redirects=False).headers["location"] == "/"


def test_french_pages_format_amounts_the_french_way(web_app: FastAPI, seeded: tuple[Store, World]) -> None:
    _, world = seeded
    client = client_as(web_app, "ann@example.fr")
    client.cookies.set("mb_lang", "fr")
    html = client.get(f"/invoices/{world.issued_id}").text
    assert "Facture FA-" in html and "136,55\u202f€" in html and "Total TTC" in html


def test_form_posts_without_the_csrf_token_are_refused(web_app: FastAPI, seeded: tuple[Store, World]) -> None:
    _, world = seeded
    client = client_as(web_app, "ann@example.fr")
    before = len(seeded[0].disputes(customer_id="cu-000"))
    forged = client.post(f"/invoices/{world.issued_id}/disputes", data={"message": "x", "line_no": "1"})
    assert forged.status_code == 403
    wrong = client.post(
        f"/invoices/{world.issued_id}/disputes", data={"message": "x", "line_no": "1", "csrf_token": "0.0"}
    )
    assert wrong.status_code == 403
    assert len(seeded[0].disputes(customer_id="cu-000")) == before
    anonymous = TestClient(web_app)
    assert anonymous.post("/login", data={"email": "ann@example.fr", "password": PASSWORD}).status_code == 403


def test_another_customers_invoice_is_a_404_page(web_app: FastAPI, seeded: tuple[Store, World]) -> None:
    _, world = seeded
    bob = client_as(web_app, "bob@example.fr")
    for path in (f"/invoices/{world.issued_id}", f"/invoices/{world.other_draft_id}", "/invoices/no-such-invoice"):
        response = bob.get(path)
        assert response.status_code == 404
        assert "Page not found" in response.text and world.issued_number not in response.text
    ann = client_as(web_app, "ann@example.fr")
    assert ann.get(f"/invoices/{world.draft_id}").status_code == 404  # not hers, and a draft
    token = csrf_of(bob.get("/").text)
    post = bob.post(f"/invoices/{world.issued_id}/disputes", data={"message": "mine?", "csrf_token": token})
    assert post.status_code == 404


def test_dispute_opened_from_the_page_appears_in_the_staff_queue(web_app: FastAPI, seeded: tuple[Store, World]) -> None:
    store, world = seeded
    ann = client_as(web_app, "ann@example.fr")
    token = csrf_of(ann.get(f"/invoices/{world.issued_id}").text)
    opened = ann.post(
        f"/invoices/{world.issued_id}/disputes",
        data={"message": "Line 3 looks wrong", "line_no": "3", "csrf_token": token},
        follow_redirects=False,
    )
    assert opened.status_code == 303
    dispute_id = opened.headers["location"].split("/")[2].split("?")[0]
    thread = ann.get(opened.headers["location"]).text
    assert "Line 3 looks wrong" in thread and "Your dispute is open" in thread
    clerk = client_as(web_app, "billing@example.fr")
    assert f"/staff/disputes/{dispute_id}" in clerk.get("/staff/disputes").text
    dispute = store.dispute(dispute_id)
    assert dispute is not None and dispute.line_no == 3 and dispute.customer_id == "cu-000"


def test_pages_send_the_right_people_to_the_right_place(web_app: FastAPI) -> None:
    anonymous = TestClient(web_app)
    to_login = anonymous.get("/invoices", follow_redirects=False)
    assert to_login.status_code == 303 and to_login.headers["location"] == "/login?next=%2Finvoices"
    ann = client_as(web_app, "ann@example.fr")
    assert ann.get("/staff/", follow_redirects=False).headers["location"] == "/"
    clerk = client_as(web_app, "billing@example.fr")
    assert clerk.get("/", follow_redirects=False).headers["location"] == "/staff/"


def test_auditors_read_but_cannot_act(web_app: FastAPI, seeded: tuple[Store, World]) -> None:
    store, world = seeded
    auditor = client_as(web_app, "audit@example.fr")
    review = auditor.get("/staff/review?period=2026-01").text
    assert "Read only for your role." in review and "/approve" not in review
    token = csrf_of(review)
    refused = auditor.post(f"/staff/invoices/{world.other_draft_id}/approve", data={"csrf_token": token})
    assert refused.status_code == 403
    record = store.invoice(world.other_draft_id)
    assert record is not None and record.status == "draft"


def test_wrong_password_and_rate_limit_messages(seeded: tuple[Store, World]) -> None:
    from api import create_app
    from meterbill.settings import load_settings

    app = create_app(load_settings(env="development", login_max_attempts=2), seeded[0])
    client = TestClient(app)
    token = csrf_of(client.get("/login").text)
    # An unknown account: this app's limiter allows 2 failures (attempts count per app), and no
    # account of the shared world is locked for the tests after this one.
    form = {"email": "nobody@example.fr", "password": "wrong", "csrf_token": token}
    first = client.post("/login", data=form)
    assert first.status_code == 401 and "Wrong e-mail address or password" in first.text
    client.post("/login", data=form)
    limited = client.post("/login", data=form)
    assert limited.status_code == 429 and "Too many failed attempts" in limited.text
    assert int(limited.headers["retry-after"]) > 0


def test_logout_ends_the_session(web_app: FastAPI) -> None:
    ann = client_as(web_app, "ann@example.fr")
    token = csrf_of(ann.get("/").text)
    out = ann.post("/logout", data={"csrf_token": token}, follow_redirects=False)
    assert out.status_code == 303 and out.headers["location"] == "/login"
    assert ann.get("/", follow_redirects=False).status_code == 303


def test_data_export_holds_only_the_customers_own_readings(web_app: FastAPI) -> None:
    ann = client_as(web_app, "ann@example.fr")
    csv_text = ann.get("/export/readings.csv").text
    rows = csv_text.splitlines()
    assert rows[0] == "device_id,ts,value,unit,register,kind,quality,received_at"
    assert len(rows) == 1 + 744 and all(r.startswith("m-000,") for r in rows[1:])
    everything = ann.get("/export/everything.json").json()
    assert everything["customer"]["id"] == "cu-000"
    assert {i["id"] for i in everything["invoices"]} == {"ct-000-2026-01"}
    assert all("secret" not in key for d in everything["devices"] for key in d)
