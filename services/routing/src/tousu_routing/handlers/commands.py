"""What a person asks routing to do over the API: one function per command, each in
a unit of work — load, call the domain, save."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID

from tousu_common.db import Database
from tousu_common.errors import Conflict, NotFound
from tousu_common.events.catalog import ComplaintCategory, Urgency
from tousu_routing.adapters.orm import CalendarVersionRow, RuleSetRow
from tousu_routing.adapters.repository import ComplaintRepository
from tousu_routing.adapters.unit_of_work import new_version, unit_of_work
from tousu_routing.bootstrap import Routing
from tousu_routing.domain.company_days import CalendarDocument
from tousu_routing.domain.model import Complaint, Status
from tousu_routing.domain.rules import RuleSetDocument


async def _load(repository: ComplaintRepository, complaint_id: UUID) -> Complaint:
    complaint = await repository.get(complaint_id, for_update=True)
    if complaint is None:
        raise NotFound(
            f"routing has no complaint {complaint_id}",
            fields=[{"field": "complaint_id", "problem": "no such complaint"}],
        )
    return complaint


async def triage_by_person(
    db: Database,
    routing: Routing,
    complaint_id: UUID,
    *,
    category: ComplaintCategory,
    urgency: Urgency,
    owner_department: str,
    quality_report_needed: bool,
    reason: str | None,
    by: str,
) -> Complaint:
    async with unit_of_work(db) as uow:
        complaints = uow.complaints
        complaint = await _load(complaints, complaint_id)
        ruleset = await uow.rules.current(routing.seed)
        complaint.triage_by_person(
            await routing.policy_for(uow.calendars),
            category=category,
            urgency=urgency,
            owner_department=owner_department,
            quality_report_needed=quality_report_needed,
            by=by,
            reason=reason,
            # The rules in force when the person overrode them, for the record.
            ruleset_version=ruleset.version,
            now=routing.time.now(),
        )
        await complaints.save(complaint)
    return complaint


async def reassign(
    db: Database, routing: Routing, complaint_id: UUID, *, department: str, reason: str, by: str
) -> Complaint:
    async with unit_of_work(db) as uow:
        complaints = uow.complaints
        complaint = await _load(complaints, complaint_id)
        complaint.reassign(
            await routing.policy_for(uow.calendars),
            department=department,
            reason=reason,
            by=by,
            now=routing.time.now(),
        )
        await complaints.save(complaint)
    return complaint


async def unlink_duplicate(
    db: Database, routing: Routing, complaint_id: UUID, *, by: str
) -> Complaint:
    async with unit_of_work(db) as uow:
        complaints = uow.complaints
        complaint = await _load(complaints, complaint_id)
        ruleset = await uow.rules.current(routing.seed)
        policy = await routing.policy_for(uow.calendars)
        complaint.unlink_duplicate(ruleset, policy, by=by, now=routing.time.now())
        await complaints.save(complaint)
    return complaint


#: How many links a hand link follows from the named complaint to its group's original.
MAX_LINK_HOPS = 10


async def link_duplicate(
    db: Database,
    routing: Routing,
    complaint_id: UUID,
    *,
    original_id: UUID,
    reason: str | None,
    by: str,
) -> Complaint:
    """Link ``complaint_id`` as a duplicate of ``original_id`` — or, when that one is
    itself a duplicate, of the complaint it repeats (the group's original)."""
    async with unit_of_work(db) as uow:
        complaints = uow.complaints
        # Taking turns with other hand links, then with the rules' duplicate check
        # of this customer, before reading the original: two links made at the same
        # moment cannot point two complaints at each other.
        await complaints.lock_hand_links()
        complaint = await _load(complaints, complaint_id)
        await complaints.lock_duplicate_key(complaint)
        original = await complaints.get(original_id)
        if original is None:
            raise NotFound(
                f"routing has no complaint {original_id}",
                fields=[{"field": "original_id", "problem": "no such complaint"}],
            )
        seen = {original.complaint_id}
        while (
            original.status is Status.duplicate
            and original.duplicate_of is not None
            and original.complaint_id != complaint.complaint_id
            and len(seen) <= MAX_LINK_HOPS
        ):
            following = await complaints.get(original.duplicate_of)
            if following is None or following.complaint_id in seen:
                break
            seen.add(following.complaint_id)
            original = following
        complaint.link_by_person(original, by=by, reason=reason, now=routing.time.now())
        await complaints.save(complaint)
    return complaint


def _stale(current: int, base_version: int) -> Conflict:
    return Conflict(
        f"version {current} is the latest, not {base_version}",
        fields=[{"field": "base_version", "problem": "stale"}],
    )


async def change_rules(
    db: Database,
    routing: Routing,
    *,
    base_version: int | None,
    change: Callable[[dict[str, Any]], RuleSetDocument],
    by: str,
    note: str,
) -> RuleSetRow:
    """Read the latest rule set, apply ``change(document) -> new document``, store it
    as the next version — all in one transaction."""
    async with new_version(db) as uow:
        await uow.rules.current(routing.seed)
        latest = await uow.rules.latest_row()
        if latest is None:
            raise RuntimeError("latest is not set")
        if base_version is not None and base_version != latest.version:
            raise _stale(latest.version, base_version)
        current = RuleSetDocument.model_validate(latest.document)
        document = change(current.model_dump(mode="json", exclude_none=True))
        return await uow.rules.add(document, by=by, note=note)


async def change_calendar(
    db: Database,
    *,
    base_version: int | None,
    change: Callable[[dict[str, Any]], CalendarDocument],
    by: str,
    note: str,
) -> CalendarVersionRow:
    """Read the latest company calendar, apply ``change(document) -> new document``,
    store it as the next version — all in one transaction."""
    async with new_version(db) as uow:
        latest = await uow.calendars.latest_row()
        current = latest.version if latest else 0
        if base_version is not None and base_version != current:
            raise _stale(current, base_version)
        document = (
            CalendarDocument.model_validate(latest.document) if latest else CalendarDocument()
        )
        return await uow.calendars.add(change(document.model_dump(mode="json")), by=by, note=note)
