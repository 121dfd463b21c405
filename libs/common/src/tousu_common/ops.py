"""``/v1/ops``: the operator's view of one service, on every service.

Health, outbox backlog, consumer counters and the durable dead letters
(``tousu_common.messaging.deadletters``), and the two things an operator does
with a dead letter after a fix: re-drive it or discard it with a reason.
Managers may read; only ``admin`` may change anything.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Any, Literal

import sqlalchemy as sa
from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, Field, StringConstraints

from tousu_common.auth import Principal, require_roles
from tousu_common.db import Database
from tousu_common.errors import NOT_FOUND_RESPONSE, ErrorBody, TousuError
from tousu_common.messaging import deadletters
from tousu_common.messaging.tables import dead_letter
from tousu_common.paging import MAX_OFFSET, WHOLE_NUMBER, Page
from tousu_common.patterns import WHITE_SPACE

Reader = Annotated[Principal, require_roles("manager")]  # admin holds every role
Operator = Annotated[Principal, require_roles("admin")]
Status = Literal["dead", "redriven", "discarded"]
DeadLetterId = Annotated[int, Path(ge=1, le=2**63 - 1)]

CONFLICT_RESPONSE: dict[int | str, dict[str, Any]] = {
    409: {
        "model": ErrorBody,
        "description": "Not dead any more, undecodable, or the handler failed again",
    }
}


class NotRunning(TousuError):
    status_code = 503
    code = "not_running"


class OutboxView(BaseModel):
    pending: int
    oldest_pending_age_s: float | None


class ConsumerView(BaseModel):
    group_id: str
    topics: list[str]
    assigned: bool
    processed: int
    duplicates: int
    skipped: int
    retries: int
    dead_lettered: int


class OpsStatus(BaseModel):
    service: str
    ready: bool
    checks: dict[str, Any]
    outbox: OutboxView
    #: consumer group -> status -> count, from the database (survives restarts)
    dead_letters: dict[str, dict[str, int]]
    consumers: list[ConsumerView]


class DeadLetterSummary(BaseModel):
    id: int
    consumer: str
    source_topic: str
    source_partition: int
    source_offset: int
    key: str | None
    event_id: str | None
    event_type: str | None
    error: str
    attempts: int
    failed_at: datetime
    status: Status
    redriven_at: datetime | None
    redriven_by: str | None
    resolution: str | None
    value_size: int
    value_truncated: bool


class DeadLetterDetail(DeadLetterSummary):
    headers: list[dict[str, str]]
    value: str | None
    value_encoding: str


class RedriveResult(BaseModel):
    applied: bool = Field(description="False: the inbox already had the event (a no-op)")
    dead_letter: DeadLetterSummary


class DiscardRequest(BaseModel):
    # No NUL: PostgreSQL text cannot hold it (a 500 instead of a 422); some character
    # that is not white space, as the stripped reason must not be empty.
    reason: Annotated[
        str,
        StringConstraints(
            strip_whitespace=True,
            min_length=1,
            max_length=2000,
            pattern=rf"^[^\x00]*[^\x00{WHITE_SPACE}][^\x00]*$",
        ),
    ]


def _db(request: Request) -> Database:
    return request.app.state.db


def _runtime(request: Request) -> Any:
    runtime = getattr(request.app.state, "runtime", None)
    if runtime is None:
        raise NotRunning("this service's runtime (relay and consumers) is not running")
    return runtime


def _summary(row: Any) -> DeadLetterSummary:
    return DeadLetterSummary.model_validate(row, from_attributes=True)


def ops_router() -> APIRouter:
    router = APIRouter(prefix="/v1/ops", tags=["ops"])

    @router.get("/status", response_model=OpsStatus, summary="Health, backlog, dead letters")
    async def status(request: Request, principal: Reader) -> OpsStatus:
        runtime = _runtime(request)
        checks = await runtime.readiness()
        backlog = await runtime.relay.backlog()
        return OpsStatus(
            service=request.app.state.settings.service_name,
            ready=checks["database"] == "ok" and checks["broker"] == "ok",
            checks=checks,
            outbox=OutboxView(pending=backlog.pending, oldest_pending_age_s=backlog.oldest_age_s),
            dead_letters=await deadletters.counts(runtime.db),
            consumers=[
                ConsumerView(
                    group_id=consumer.group_id,
                    topics=consumer.topics,
                    assigned=consumer.assigned.is_set(),
                    **{k: v for k, v in asdict(consumer.stats).items() if k != "by_type"},
                )
                for consumer in runtime.consumers
            ],
        )

    @router.get(
        "/dead-letters",
        response_model=Page[DeadLetterSummary],
        summary="Dead letters, newest first (without their values)",
    )
    async def list_dead_letters(
        request: Request,
        principal: Reader,
        consumer: Annotated[
            str | None, Query(max_length=100, pattern=r"^[A-Za-z0-9._:-]+$")
        ] = None,
        status: Status | None = None,
        limit: Annotated[int, Query(ge=1, le=200), WHOLE_NUMBER] = 50,
        offset: Annotated[int, Query(ge=0, le=MAX_OFFSET), WHOLE_NUMBER] = 0,
    ) -> Page[DeadLetterSummary]:
        conditions = []
        if consumer is not None:
            conditions.append(dead_letter.c.consumer == consumer)
        if status is not None:
            conditions.append(dead_letter.c.status == status)
        columns = [dead_letter.c[name] for name in DeadLetterSummary.model_fields]
        async with _db(request).sessions() as session:
            total = await session.scalar(
                sa.select(sa.func.count()).select_from(dead_letter).where(*conditions)
            )
            rows = (
                await session.execute(
                    sa.select(*columns)
                    .where(*conditions)
                    .order_by(dead_letter.c.id.desc())
                    .limit(limit)
                    .offset(offset)
                )
            ).all()
        return Page[DeadLetterSummary](
            items=[_summary(row) for row in rows], total=int(total or 0), limit=limit, offset=offset
        )

    @router.get(
        "/dead-letters/{dead_letter_id}",
        response_model=DeadLetterDetail,
        responses=NOT_FOUND_RESPONSE,
        summary="One dead letter with its headers and value",
    )
    async def get_dead_letter(
        request: Request, principal: Reader, dead_letter_id: DeadLetterId
    ) -> DeadLetterDetail:
        row = await deadletters.load(_db(request), dead_letter_id)
        return DeadLetterDetail.model_validate(row, from_attributes=True)

    @router.post(
        "/dead-letters/{dead_letter_id}/redrive",
        response_model=RedriveResult,
        responses={**NOT_FOUND_RESPONSE, **CONFLICT_RESPONSE},
        summary="Apply it again through its consumer's handler (after a fix)",
    )
    async def redrive(
        request: Request, principal: Operator, dead_letter_id: DeadLetterId
    ) -> RedriveResult:
        # 404 and 409 (already resolved) whether or not the consumers are running
        deadletters.must_be_dead(await deadletters.load(_db(request), dead_letter_id))
        runtime = _runtime(request)
        outcome = await deadletters.redrive(
            runtime.db, runtime.consumers, dead_letter_id, by=principal.subject
        )
        row = await deadletters.load(runtime.db, dead_letter_id)
        return RedriveResult(applied=outcome["applied"], dead_letter=_summary(row))

    @router.post(
        "/dead-letters/{dead_letter_id}/discard",
        response_model=DeadLetterSummary,
        responses={**NOT_FOUND_RESPONSE, **CONFLICT_RESPONSE},
        summary="Give up on it for good, saying why",
    )
    async def discard(
        request: Request, principal: Operator, dead_letter_id: DeadLetterId, body: DiscardRequest
    ) -> DeadLetterSummary:
        db = _db(request)
        await deadletters.discard(db, dead_letter_id, by=principal.subject, reason=body.reason)
        return _summary(await deadletters.load(db, dead_letter_id))

    return router
