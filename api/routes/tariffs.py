"""Tariffs: read by everyone (customers compare offers); versions created, imported and validated by billing."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, status

from api.auth import not_found
from api.routes.deps import AnyDep, BillingDep, StoreDep, StoredInt
from api.schemas import Items, TariffPublic, TariffValidation, TariffVersionPublic
from billing.ports import TariffVersion
from billing.runs import tariff_json
from rating.errors import TariffError
from rating.tariff import Tariff
from rating.tariff_file import tariff_from_dict
from rating.urdb import urdb_to_tariff
from store.contract import Store

__all__ = ["router"]

router = APIRouter(tags=["tariffs"])

TariffBody = Annotated[dict[str, Any], Body(description="a meterbill tariff document (docs/tariffs.md)")]


def _version_public(tv: TariffVersion) -> TariffVersionPublic:
    return TariffVersionPublic(
        id=f"{tv.tariff_id}@{tv.version}", tariff_id=tv.tariff_id, version=tv.version, body=json.loads(tv.body)
    )


def _parse(body: dict[str, Any]) -> Tariff:
    # Re-read with Decimal floats, as tariff files are: prices must not pass through binary floats.
    return tariff_from_dict(json.loads(json.dumps(body), parse_float=Decimal), source="request body")


def _store_tariff(store: Store, tariff: Tariff, body: dict[str, Any]) -> TariffVersionPublic:
    version = store.add_tariff_version(tariff.id, tariff_json(json.loads(json.dumps(body), parse_float=Decimal)))
    stored = store.tariff_version(tariff.id, version)
    assert stored is not None
    return _version_public(stored)


@router.get("/tariffs", response_model=Items[TariffPublic])
def tariffs(principal: AnyDep, store: StoreDep) -> Items[TariffPublic]:
    """Every stored tariff, at its latest version."""
    out = []
    for tariff_id in store.tariff_ids():
        tv = store.tariff_version(tariff_id)
        if tv is None:
            continue
        body = json.loads(tv.body)
        out.append(
            TariffPublic(
                id=tariff_id,
                latest_version=tv.version,
                name=str(body.get("name") or tariff_id),
                currency=str(body.get("currency", "")),
                timezone=str(body.get("timezone", "")),
            )
        )
    return Items(items=out)


@router.post("/tariffs", response_model=TariffVersionPublic, status_code=status.HTTP_201_CREATED)
def create_tariff_version(body: TariffBody, principal: BillingDep, store: StoreDep) -> TariffVersionPublic:
    """Validate a tariff document and store it as the next version of its id."""
    return _store_tariff(store, _parse(body), body)


@router.post("/tariffs/validate", response_model=TariffValidation)
def validate_tariff(body: TariffBody, principal: BillingDep) -> TariffValidation:
    """Check a tariff document without storing it; each error names the field and the reason."""
    try:
        tariff = _parse(body)
    except (TariffError, ValueError) as exc:
        return TariffValidation(valid=False, errors=[str(exc)])
    return TariffValidation(valid=True, tariff_id=tariff.id)


@router.post("/tariffs/import-urdb", response_model=TariffVersionPublic, status_code=status.HTTP_201_CREATED)
def import_urdb(
    body: Annotated[dict[str, Any], Body(description="an OpenEI URDB rate, or a URDB API response")],
    principal: BillingDep,
    store: StoreDep,
    timezone: Annotated[str, Query(description="IANA time zone of the rate (URDB rates carry none)")] = "UTC",
    label: Annotated[str | None, Query(description="which item of a URDB API response")] = None,
) -> TariffVersionPublic:
    """Convert a URDB rate to a meterbill tariff and store it as the next version of its id."""
    data = json.loads(json.dumps(body), parse_float=Decimal)
    tariff = urdb_to_tariff(data, timezone=timezone, label=label)
    document = json.loads(tariff.model_dump_json(exclude_none=True))
    return _store_tariff(store, _parse(document), document)


@router.get("/tariffs/{tariff_id}", response_model=TariffVersionPublic)
def tariff(tariff_id: str, principal: AnyDep, store: StoreDep) -> TariffVersionPublic:
    """The latest version."""
    tv = store.tariff_version(tariff_id)
    if tv is None:
        raise not_found("tariff", tariff_id)
    return _version_public(tv)


@router.get("/tariffs/{tariff_id}/versions/{version}", response_model=TariffVersionPublic)
def tariff_version(tariff_id: str, version: StoredInt, principal: AnyDep, store: StoreDep) -> TariffVersionPublic:
    tv = store.tariff_version(tariff_id, version)
    if tv is None:
        raise not_found("tariff version", f"{tariff_id}@{version}")
    return _version_public(tv)
