"""Staff views: the review queue, the disputes queue, ingestion health, dead letters, conflicts, audit."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api import queries
from api.auth import not_found
from api.routes.deps import StaffDep, StoreDep, StoredInt
from api.schemas import (
    AuditPublic,
    ConflictPublic,
    DeadLetterPublic,
    DisputeQueueItem,
    IngestionHealth,
    Items,
    ReviewItem,
)
from store.contract import DeadLetter

__all__ = ["router"]

router = APIRouter(tags=["operations"])


def _letter(letter: DeadLetter) -> DeadLetterPublic:
    return DeadLetterPublic(
        id=letter.id,
        received_at=letter.received_at,
        topic=letter.topic,
        reason=letter.reason,
        detail=letter.detail,
        device_id=letter.device_id,
        occurrences=letter.occurrences,
        replayed_at=letter.replayed_at,
        payload_preview=letter.payload[:200].decode("utf-8", errors="replace"),
    )


@router.get("/review-queue", response_model=Items[ReviewItem])
def review_queue(
    principal: StaffDep, store: StoreDep, period: Annotated[str, Query(pattern=r"^\d{4}-(0[1-9]|1[0-2])$")]
) -> Items[ReviewItem]:
    """Drafts of ``period`` with anomalies first: +/-50 % consumption, estimates, conflicts, dead letters."""
    return Items(items=queries.review_queue(store, period))


@router.get("/disputes-queue", response_model=Items[DisputeQueueItem])
def disputes_queue(principal: StaffDep, store: StoreDep) -> Items[DisputeQueueItem]:
    """Disputes waiting for staff, oldest first, with their ages."""
    return Items(items=queries.disputes_queue(store))


@router.get("/ingestion/health", response_model=IngestionHealth)
def ingestion_health(principal: StaffDep, store: StoreDep) -> IngestionHealth:
    return queries.ingestion_health(store)


@router.get("/dead-letters", response_model=Items[DeadLetterPublic])
def dead_letters(
    principal: StaffDep,
    store: StoreDep,
    device_id: str | None = None,
    pending_only: bool = False,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
) -> Items[DeadLetterPublic]:
    """Rejected messages, most recent first, with the reason."""
    found = store.dead_letters(limit=limit, device_id=device_id, pending_only=pending_only)
    return Items(items=[_letter(x) for x in found])


@router.get("/dead-letters/{letter_id}", response_model=DeadLetterPublic)
def dead_letter(
    letter_id: StoredInt,
    principal: StaffDep,
    store: StoreDep,
) -> DeadLetterPublic:
    found = store.dead_letter(letter_id)
    if found is None:
        raise not_found("dead letter", letter_id)
    return _letter(found)


@router.get("/conflicts", response_model=Items[ConflictPublic])
def conflicts(
    principal: StaffDep, store: StoreDep, limit: Annotated[int, Query(ge=1, le=10_000)] = 100
) -> Items[ConflictPublic]:
    """Readings offered again with another value: the first value is kept, the offer recorded here."""
    return Items(
        items=[
            ConflictPublic(
                id=f"{c.device_id}/{c.register}/{c.ts.isoformat()}/{c.offered_value!r}",
                device_id=c.device_id,
                register_code=c.register,
                ts=c.ts,
                stored_value=c.stored_value,
                offered_value=c.offered_value,
                unit=c.unit,
                offered_quality=c.offered_quality,
                received_at=c.received_at,
            )
            for c in store.conflicts(limit=limit)
        ]
    )


@router.get("/audit", response_model=AuditPublic)
def audit(principal: StaffDep, store: StoreDep) -> AuditPublic:
    """Re-compute the invoice ledger's hash chain; report the first break."""
    from billing.issue import audit as verify

    result = verify(store)
    broken = result.broken
    return AuditPublic(
        entries=result.entries,
        ok=broken is None,
        broken_at=None if broken is None else broken.seq,
        document_number=None if broken is None else broken.document_number,
        reason=None if broken is None else broken.reason,
    )
