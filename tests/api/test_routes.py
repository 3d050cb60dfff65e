"""The JSON routes end to end on both stores: consumption, invoices explained, downloads, disputes,
billing runs, tariffs, projections and comparisons."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from tests.api.world import CONTRACT_A, DEVICE_A, World

EXAMPLES = Path(__file__).resolve().parents[2] / "rating" / "examples"
JAN = {"start": "2026-01-01T00:00:00+01:00", "end": "2026-02-01T00:00:00+01:00", "tz": "Europe/Paris"}


def _get(world: World, url: str, account: str = "admin", **params: Any) -> Any:
    response = world.client.get(url, params=params, headers=world.headers(account))
    assert response.status_code == 200, response.text
    return response.json()


def test_consumption_buckets_agree_and_split_by_band(world: World) -> None:
    raw = [r for r in world.store.readings(device_ids=[DEVICE_A]) if r.kind == "interval"]
    total = sum(r.value for r in raw)
    by = {
        bucket: _get(world, "/api/v1/consumption", "customer", device_id=DEVICE_A, bucket=bucket, **JAN)
        for bucket in ("15min", "hour", "day", "month")
    }
    assert len(by["day"]["items"]) == 31
    assert len(by["month"]["items"]) == 1
    assert by["month"]["items"][0]["start"] == "2026-01-01T00:00:00+01:00"
    for bucket, body in by.items():
        assert body["unit"] == "kWh" and body["tariff"] == "fr-elec-hphc@1"
        assert abs(sum(i["total"] for i in body["items"]) - total) < 1e-6, bucket
        assert sum(i["count"] for i in body["items"]) == len(raw), bucket
        assert sum(i["estimated"] for i in body["items"]) == sum(r.quality == "estimated" for r in raw), bucket
    for item in by["day"]["items"]:
        assert set(item["bands"]) <= {"hp", "hc"} and abs(sum(item["bands"].values()) - item["total"]) < 1e-6
    assert {"hp", "hc"} == set(by["month"]["items"][0]["bands"])


def test_consumption_refuses_unclear_requests(world: World) -> None:
    client, headers = world.client, world.headers("admin")
    assert client.get("/api/v1/consumption", headers=headers).status_code == 422  # no device
    bad_tz = client.get("/api/v1/consumption", params={"device_id": DEVICE_A, "tz": "Mars/Olympus"}, headers=headers)
    assert bad_tz.status_code == 422 and "IANA" in bad_tz.json()["detail"]
    backwards = {"device_id": DEVICE_A, "start": JAN["end"], "end": JAN["start"]}
    assert client.get("/api/v1/consumption", params=backwards, headers=headers).status_code == 422


def test_invoice_lines_are_explained(world: World) -> None:
    view = _get(world, f"/api/v1/invoices/{world.invoice_a}", "customer")
    assert view["id"] == world.invoice_a and view["number"]
    energy = [line for line in view["lines"] if line["readings_count"] > 0]
    assert energy, view["lines"]
    for line in energy:
        assert line["tariff_id"] == "fr-elec-hphc" and line["tariff_version"] == 1
        assert line["band"] in ("hp", "hc", None)  # excise per kWh has no band
        assert line["readings_first"] and line["readings_last"]
        assert 0 <= float(line["estimated_share"]) <= 1
        assert line["unit_price"] in line["explanation"] and "readings" in line["explanation"]
    assert {line["band"] for line in energy} >= {"hp", "hc"}
    assert set(view["downloads"]) == {"pdf", "cii", "ubl", "readings"}


def test_downloads(world: World) -> None:
    base = f"/api/v1/invoices/{world.invoice_a}/download"
    headers = world.headers("customer")
    pdf = world.client.get(f"{base}/pdf", headers=headers)
    assert (
        pdf.status_code == 200 and pdf.content.startswith(b"%PDF") and pdf.headers["content-type"] == "application/pdf"
    )
    assert "attachment" in pdf.headers["content-disposition"]
    cii = world.client.get(f"{base}/cii", headers=headers)
    assert b"CrossIndustryInvoice" in cii.content
    ubl = world.client.get(f"{base}/ubl", headers=headers)
    assert b"urn:oasis:names:specification:ubl" in ubl.content
    csv = world.client.get(f"{base}/readings", headers=headers)
    assert csv.text.startswith("device_id,ts,value,unit\n") and DEVICE_A in csv.text
    draft = world.client.get(f"/api/v1/invoices/{world.draft}/download/pdf", headers=world.headers("admin"))
    assert draft.status_code == 409


def test_invoice_list_filters_and_search(world: World) -> None:
    issued = _get(world, "/api/v1/invoices", status="issued")["items"]
    assert {i["id"] for i in issued} == {world.invoice_a, world.invoice_b}
    drafts = _get(world, "/api/v1/invoices", status="draft", period="2026-01")["items"]
    assert [i["id"] for i in drafts] == [world.draft]
    number = issued[0]["number"]
    assert [i["number"] for i in _get(world, "/api/v1/invoices", q=number.lower())["items"]] == [number]
    assert _get(world, "/api/v1/invoices", customer_id="cu-001")["items"][0]["customer_id"] == "cu-001"


def test_draft_approve_issue_credit(world: World) -> None:
    client, headers = world.client, world.headers("billing")
    premature = client.post(f"/api/v1/invoices/{world.draft}/issue", headers=headers)
    assert premature.status_code in (409, 422) and premature.headers["content-type"] == "application/problem+json"
    assert client.post(f"/api/v1/invoices/{world.draft}/approve", headers=headers).json()["status"] == "approved"
    issued = client.post(f"/api/v1/invoices/{world.draft}/issue", headers=headers)
    assert issued.status_code == 200, issued.text
    assert issued.json()["status"] == "issued" and issued.json()["number"]
    note = client.post(f"/api/v1/invoices/{world.draft}/credit", json={"reason": "test"}, headers=headers)
    assert note.status_code == 201, note.text
    assert note.json()["type_code"] == "381" and note.json()["credited_invoice_id"] == world.draft
    assert _get(world, f"/api/v1/invoices/{world.draft}")["status"] == "credited"
    assert _get(world, "/api/v1/audit", "auditor")["ok"] is True


def test_dispute_lifecycle_is_visible_to_the_customer(world: World) -> None:
    client = world.client
    opened = client.post(
        "/api/v1/disputes",
        json={"invoice_id": world.invoice_a, "line_no": 2, "message": "I was away that week"},
        headers=world.headers("customer"),
    )
    assert opened.status_code == 201, opened.text
    dispute_id = opened.json()["id"]
    queue = _get(world, "/api/v1/disputes-queue", "support")["items"]
    assert [d["id"] for d in queue] == [dispute_id] and queue[0]["age_hours"] >= 0
    answered = client.post(
        f"/api/v1/disputes/{dispute_id}/events",
        json={"kind": "answered", "message": "The readings show a fridge running"},
        headers=world.headers("support"),
    )
    assert answered.json()["status"] == "answered"
    refused = client.post(
        f"/api/v1/disputes/{dispute_id}/events",
        json={"kind": "resolved", "message": "done"},
        headers=world.headers("customer"),
    )
    assert refused.status_code == 403
    credited = client.post(
        f"/api/v1/disputes/{dispute_id}/credit",
        json={"lines": {"2": "1"}, "reason": "goodwill"},
        headers=world.headers("billing"),
    )
    assert credited.status_code == 201, credited.text
    seen = _get(world, f"/api/v1/disputes/{dispute_id}", "customer")
    assert seen["status"] == "credited" and seen["closed_at"]
    assert [e["kind"] for e in seen["events"]] == ["opened", "answered", "credited"]
    assert seen["events"][2]["credit_note_id"]
    assert all(e["at"] for e in seen["events"])
    late = client.post(
        f"/api/v1/disputes/{dispute_id}/events",
        json={"kind": "message", "message": "thanks"},
        headers=world.headers("customer"),
    )
    assert late.status_code == 409
    assert _get(world, "/api/v1/disputes-queue", "support")["items"] == []


def test_billing_run_in_the_background(world: World) -> None:
    started = world.client.post("/api/v1/billing-runs", json={"period": "2026-01"}, headers=world.headers("billing"))
    assert started.status_code == 202, started.text
    run_id = started.json()["id"]
    deadline = time.monotonic() + 60
    run = started.json()
    while run["status"] == "running" and time.monotonic() < deadline:
        time.sleep(0.1)
        run = _get(world, f"/api/v1/billing-runs/{run_id}", "auditor")
    assert run["status"] == "finished" and run["done"] == run["total"] == 3
    assert run_id in {r["id"] for r in _get(world, "/api/v1/billing-runs", period="2026-01")["items"]}
    review = _get(world, "/api/v1/review-queue", "billing", period="2026-01")["items"]
    assert [r["id"] for r in review] == [world.draft]


def test_tariffs_validate_create_and_compare(world: World) -> None:
    headers = world.headers("billing")
    body = json.loads((EXAMPLES / "fr_electricity_hphc.json").read_text(encoding="utf-8"))
    body["id"] = "fr-elec-cheaper"
    for band in body["energy_charges"][0]["bands"]:
        band["price"] = round(float(band["price"]) * 0.8, 4)
    valid = world.client.post("/api/v1/tariffs/validate", json=body, headers=headers).json()
    assert valid == {"valid": True, "tariff_id": "fr-elec-cheaper", "errors": []}
    broken = dict(body, currency="EURO")
    report = world.client.post("/api/v1/tariffs/validate", json=broken, headers=headers).json()
    assert report["valid"] is False and "currency" in report["errors"][0]
    assert world.client.post("/api/v1/tariffs", json=broken, headers=headers).status_code == 422
    created = world.client.post("/api/v1/tariffs", json=body, headers=headers)
    assert created.status_code == 201 and created.json()["id"] == "fr-elec-cheaper@1"
    assert {t["id"] for t in _get(world, "/api/v1/tariffs", "customer")["items"]} == {"fr-elec-hphc", "fr-elec-cheaper"}
    comparison = _get(
        world,
        f"/api/v1/contracts/{CONTRACT_A}/tariff-comparison",
        "customer",
        tariff_id="fr-elec-cheaper",
        months=2,
        today="2026-02-15",
    )
    january = comparison["months"][-1]
    assert january["period"] == "2026-01" and january["current"] and january["candidate"]
    # the live rating of a billed month is what its invoice says
    billed = [r for r in world.store.invoices(period="2026-01", contract_id=CONTRACT_A) if r.type_code == "380"]
    assert billed and january["current"] == str(billed[0].gross_total)
    assert float(comparison["difference"]) < 0  # the cheaper tariff is cheaper
    assert comparison["months"][0]["current"] is None  # December: no readings


def test_projected_bill(world: World) -> None:
    bill = _get(world, f"/api/v1/contracts/{CONTRACT_A}/projected-bill", "customer", today="2026-01-16")
    assert bill["period"] == "2026-01" and bill["days_total"] == 31 and bill["days_elapsed"] == 16
    assert float(bill["gross_projected"]) > float(bill["gross_so_far"]) > 0


def test_ingestion_health_and_dead_letters(world: World) -> None:
    world.store.add_dead_letter(
        topic="meters/m-000/readings", payload=b"{not json", reason="malformed_json", detail="x"
    )
    health = _get(world, "/api/v1/ingestion/health", "support")
    assert health["dead_letters"] == 1 and health["latest_reading_at"].startswith("2026-01-31")
    letters = _get(world, "/api/v1/dead-letters", "support")["items"]
    assert letters[0]["payload_preview"] == "{not json" and letters[0]["reason"] == "malformed_json"
    assert _get(world, f"/api/v1/dead-letters/{letters[0]['id']}", "auditor")["id"] == letters[0]["id"]
    # an id no 64-bit column can hold (found by schemathesis: it was a 500 on SQLite) is a precise 422
    huge = world.client.get("/api/v1/dead-letters/36893488147419103232", headers=world.headers("support"))
    assert huge.status_code == 422 and "letter_id" in huge.json()["detail"]
    version = world.client.get(
        "/api/v1/tariffs/fr-elec-hphc/versions/18446744073709551617", headers=world.headers("support")
    )
    assert version.status_code == 422 and "version" in version.json()["detail"]
    review = _get(world, "/api/v1/review-queue", "billing", period="2026-01")["items"]
    assert "dead_letters" in review[0]["flags"] or review[0]["contract_id"] != "ct-000"
