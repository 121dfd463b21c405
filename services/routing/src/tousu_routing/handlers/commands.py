"""What a person asks routing to do over the API: load, call the domain, save."""

from __future__ import annotations

from uuid import UUID

from tousu_common.db import Database
from tousu_common.errors import NotFound
from tousu_common.events.catalog import ComplaintCategory, Urgency
from tousu_routing.adapters.repository import ComplaintRepository, RuleSetRepository
from tousu_routing.bootstrap import Routing
from tousu_routing.domain.model import Complaint, Status


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
    async with db.transaction() as session:
        complaints = ComplaintRepository(session)
        complaint = await _load(complaints, complaint_id)
        ruleset = await RuleSetRepository(session).current(routing.seed)
        complaint.triage_by_person(
            await routing.policy_for(session),
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
    async with db.transaction() as session:
        complaints = ComplaintRepository(session)
        complaint = await _load(complaints, complaint_id)
        complaint.reassign(
            await routing.policy_for(session),
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
    async with db.transaction() as session:
        complaints = ComplaintRepository(session)
        complaint = await _load(complaints, complaint_id)
        ruleset = await RuleSetRepository(session).current(routing.seed)
        policy = await routing.policy_for(session)
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
    async with db.transaction() as session:
        complaints = ComplaintRepository(session)
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
