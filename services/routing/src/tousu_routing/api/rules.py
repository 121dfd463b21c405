"""``/v1/rules``: the triage rules, edited by admins. Every change stores a new,
immutable rule-set version; triages keep the version that decided them, so a
change never rewrites the past."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict, Field, StrictBool, ValidationError

from tousu_common.auth import Principal, require_roles
from tousu_common.errors import NOT_FOUND_RESPONSE, Conflict, ErrorBody, InvalidInput, NotFound
from tousu_common.events.catalog import Channel, CustomerSegment, CustomerTier
from tousu_common.paging import WHOLE_NUMBER, Page
from tousu_common.patterns import JsonInt
from tousu_routing.adapters.orm import RuleSetRow
from tousu_routing.adapters.repository import compiled
from tousu_routing.adapters.unit_of_work import reading, unit_of_work
from tousu_routing.api.deps import DbDep, PagingDep, RoutingDep
from tousu_routing.domain.rules import Decision, Facts, Rule, RuleSetDocument
from tousu_routing.handlers import commands

router = APIRouter(prefix="/v1/rules", tags=["rules"])

Admin = Annotated[Principal, require_roles("admin")]
BaseVersion = Annotated[
    int | None,
    Query(
        ge=1,
        description="Optimistic concurrency: refuse (409) unless this is still the latest version.",
    ),
    WHOLE_NUMBER,
]
#: A rule's id, as the rule set document spells it.
RulePathId = Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")]

CONFLICT = {
    409: {
        "model": ErrorBody,
        "description": "Someone saved a newer version first, or (PUT) the body's id is not "
        "the path's",
    }
}


class RuleSetView(BaseModel):
    version: int
    created_at: datetime
    created_by: str
    note: str
    document: RuleSetDocument

    @classmethod
    def of(cls, row: RuleSetRow) -> RuleSetView:
        return cls(
            version=row.version,
            created_at=row.created_at,
            created_by=row.created_by,
            note=row.note,
            document=RuleSetDocument.model_validate(row.document),
        )


class VersionSummary(BaseModel):
    version: int
    created_at: datetime
    created_by: str
    note: str
    rules: int
    decisions: int = Field(description="Triages this version decided")


class TrialComplaint(BaseModel):
    """A complaint to try the current rules on (nothing is stored)."""

    model_config = ConfigDict(extra="forbid")

    title: str = Field(max_length=200)
    description: str = Field(default="", max_length=20_000)
    channel: Channel = Channel.hotline
    customer_tier: CustomerTier = CustomerTier.general
    customer_segment: CustomerSegment | None = None
    key_account: StrictBool = False
    product_model: str | None = Field(default=None, max_length=100)
    attachment_count: JsonInt = Field(default=0, ge=0, le=1000)


class TrialDecision(BaseModel):
    ruleset_version: str
    matched: bool
    rule_id: str | None
    category: str | None
    urgency: str
    owner_department: str | None
    quality_report_needed: bool
    escalations: list[str]
    matched_terms: list[str]

    @classmethod
    def of(cls, version: str, decision: Decision) -> TrialDecision:
        return cls(
            ruleset_version=version,
            matched=decision.matched,
            rule_id=decision.rule_id,
            category=decision.category.value if decision.category else None,
            urgency=decision.urgency.value,
            owner_department=decision.owner_department,
            quality_report_needed=decision.quality_report_needed,
            escalations=list(decision.escalations),
            matched_terms=list(decision.matched_terms),
        )


async def _save(
    db: DbDep,
    routing: RoutingDep,
    principal: Principal,
    base_version: int | None,
    note: str,
    change: Any,
) -> RuleSetView:
    """Store ``change(latest document)`` as the next version (the command does it)."""
    row = await commands.change_rules(
        db,
        routing,
        base_version=base_version,
        change=lambda document: _validated(change(document)),
        by=principal.subject,
        note=note,
    )
    return RuleSetView.of(row)


def _validated(document: dict[str, Any]) -> RuleSetDocument:
    try:
        return RuleSetDocument.model_validate(document)
    except ValidationError as exc:
        raise InvalidInput(
            "the rule set would not be valid",
            fields=[
                {
                    "field": ".".join(str(p) for p in error["loc"]) or "document",
                    "problem": error["msg"],
                }
                for error in exc.errors()
            ],
        ) from exc


def _rule_index(document: dict[str, Any], rule_id: str) -> int:
    for index, rule in enumerate(document.get("rules", [])):
        if rule["id"] == rule_id:
            return index
    raise NotFound(f"no rule {rule_id!r} in the latest version")


@router.get("", response_model=RuleSetView, summary="The rules in force (latest version)")
async def get_rules(principal: Admin, db: DbDep, routing: RoutingDep) -> RuleSetView:
    async with unit_of_work(db) as uow:
        rules = uow.rules
        await rules.current(routing.seed)
        row = await rules.latest_row()
    if row is None:
        raise RuntimeError("row is not set")
    return RuleSetView.of(row)


@router.put(
    "",
    response_model=RuleSetView,
    status_code=201,
    summary="Replace the whole rule set (synonyms, rules, escalations): a new version",
    responses=CONFLICT,
)
async def replace_rules(
    document: RuleSetDocument,
    principal: Admin,
    db: DbDep,
    routing: RoutingDep,
    base_version: BaseVersion = None,
) -> RuleSetView:
    new = document.model_dump(mode="json", exclude_none=True)
    return await _save(
        db, routing, principal, base_version, "whole rule set replaced", lambda _: new
    )


@router.post(
    "",
    response_model=RuleSetView,
    status_code=201,
    summary="Add a rule (at `position`, default last): a new version",
    responses=CONFLICT,
)
async def add_rule(
    rule: Rule,
    principal: Admin,
    db: DbDep,
    routing: RoutingDep,
    position: Annotated[int | None, Query(ge=0, le=10_000), WHOLE_NUMBER] = None,
    base_version: BaseVersion = None,
) -> RuleSetView:
    def change(document: dict[str, Any]) -> dict[str, Any]:
        rules = document.setdefault("rules", [])
        if any(existing["id"] == rule.id for existing in rules):
            raise Conflict(
                f"rule {rule.id!r} exists; PUT /v1/rules/{rule.id} changes it",
                fields=[{"field": "id", "problem": "already exists"}],
            )
        rules.insert(len(rules) if position is None else position, rule.model_dump(mode="json"))
        return document

    return await _save(db, routing, principal, base_version, f"rule {rule.id} added", change)


@router.put(
    "/{rule_id}",
    response_model=RuleSetView,
    status_code=201,
    summary="Change a rule (same position): a new version",
    responses={**NOT_FOUND_RESPONSE, **CONFLICT},
)
async def change_rule(
    rule_id: RulePathId,
    rule: Rule,
    principal: Admin,
    db: DbDep,
    routing: RoutingDep,
    base_version: BaseVersion = None,
) -> RuleSetView:
    if rule.id != rule_id:
        # A representation of another resource than the one PUT to (RFC 9110 §9.3.4).
        raise Conflict(
            "the rule's id must match the path",
            fields=[{"field": "id", "problem": f"expected {rule_id!r}"}],
        )

    def change(document: dict[str, Any]) -> dict[str, Any]:
        document["rules"][_rule_index(document, rule_id)] = rule.model_dump(mode="json")
        return document

    return await _save(db, routing, principal, base_version, f"rule {rule_id} changed", change)


@router.delete(
    "/{rule_id}",
    response_model=RuleSetView,
    summary="Remove a rule: a new version",
    responses={**NOT_FOUND_RESPONSE, **CONFLICT},
)
async def delete_rule(
    rule_id: RulePathId,
    principal: Admin,
    db: DbDep,
    routing: RoutingDep,
    base_version: BaseVersion = None,
) -> RuleSetView:
    def change(document: dict[str, Any]) -> dict[str, Any]:
        del document["rules"][_rule_index(document, rule_id)]
        return document

    return await _save(db, routing, principal, base_version, f"rule {rule_id} removed", change)


@router.get(
    "/versions",
    response_model=Page[VersionSummary],
    summary="Every rule-set version, newest first, with how many triages each decided",
)
async def list_versions(
    principal: Admin, db: DbDep, routing: RoutingDep, paging: PagingDep
) -> Page[VersionSummary]:
    async with unit_of_work(db) as uow:
        rules = uow.rules
        await rules.current(routing.seed)
        rows, total = await rules.list(paging.limit, paging.offset)
        usage = await rules.usage([row.version for row in rows])
    return Page[VersionSummary](
        items=[
            VersionSummary(
                version=row.version,
                created_at=row.created_at,
                created_by=row.created_by,
                note=row.note,
                rules=len(row.document.get("rules", [])),
                decisions=usage.get(row.version, 0),
            )
            for row in rows
        ],
        total=total,
        limit=paging.limit,
        offset=paging.offset,
    )


@router.get(
    "/versions/{version}",
    response_model=RuleSetView,
    summary="One version, as it was (versions never change)",
    responses=NOT_FOUND_RESPONSE,
)
async def get_version(
    version: Annotated[int, Path(ge=1, le=2**31 - 1)],
    principal: Admin,
    db: DbDep,
) -> RuleSetView:
    async with reading(db) as uow:
        row = await uow.rules.get(version)
    if row is None:
        raise NotFound(f"no rule-set version {version}")
    return RuleSetView.of(row)


@router.post(
    "/trial",
    response_model=TrialDecision,
    summary="What the rules in force would decide for a complaint (nothing is stored)",
)
async def trial(
    complaint: TrialComplaint, principal: Admin, db: DbDep, routing: RoutingDep
) -> TrialDecision:
    async with unit_of_work(db) as uow:
        rules = uow.rules
        await rules.current(routing.seed)
        row = await rules.latest_row()
    if row is None:
        raise RuntimeError("row is not set")
    ruleset = compiled(row.version, row.document)
    decision = ruleset.decide(Facts(**complaint.model_dump()))
    return TrialDecision.of(ruleset.version, decision)
