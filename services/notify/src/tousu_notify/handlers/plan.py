"""Any event notify listens to → the deliveries it calls for, recorded once.

No sending here: the rows are committed with the inbox entry, and the
delivery worker sends them afterwards (so a crash never loses a message, and a
redelivered event adds nothing — the inbox skips it, and the unique key on
(event, template, recipient) would refuse it anyway).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from tousu_common.events import Event
from tousu_notify.adapters.repository import FactsRepository
from tousu_notify.adapters.unit_of_work import NotifyUnitOfWork, Session
from tousu_notify.config import Settings
from tousu_notify.domain.model import Facts, addressed_department, plan_deliveries

log = logging.getLogger(__name__)


def planner(settings: Settings):  # type: ignore[no-untyped-def]
    """The inbox handler for every event type notify consumes."""

    async def plan_notifications(session: Session, event: Event) -> None:
        now = datetime.now(UTC)
        uow = NotifyUnitOfWork(session)  # the inbox's transaction
        facts = await remember_facts(uow.facts, event, now)
        planned = plan_deliveries(
            event,
            facts=facts,
            subscriptions=await uow.subscriptions.active_rules(),
            department_contacts=settings.department_contacts,
            staff_language=settings.staff_language,
        )
        if not planned:
            return
        reference = getattr(event.data, "reference", None) or facts.reference
        too_old = event.time < now - timedelta(seconds=settings.delivery_max_event_age_s)
        added = await uow.deliveries.add_planned(
            event,
            planned,
            reference=reference,
            mail_domain=settings.mail_domain,
            at=now,
            skip_reason="event too old to notify about (replayed history)" if too_old else None,
        )
        # Ids and kinds only: addresses and complaint text never reach the log.
        log.info(
            "deliveries planned",
            extra={
                "event_type": event.type,
                "planned": len(planned),
                "added": added,
                "templates": sorted({p.template.value for p in planned}),
            },
        )

    return plan_notifications


async def remember_facts(facts: FactsRepository, event: Event, at: datetime) -> Facts:
    """Record what ``event`` says about its complaint; everything known about it now."""
    data = event.data
    if event.type == "digest.published":  # about a period, not a complaint
        return await facts.get(event.complaint_id)
    urgency = getattr(data, "urgency", None)
    tier = getattr(data, "customer_tier", None)
    owner = getattr(data, "owner_department", None)
    if event.type == "complaint.reassigned":
        owner = addressed_department(event)
    return await facts.remember(
        event.complaint_id,
        at,
        reference=getattr(data, "reference", None),
        language=getattr(data, "language", None) if event.type == "complaint.received" else None,
        owner_department=owner,
        urgency=str(urgency) if urgency else None,
        customer_tier=str(tier) if tier else None,
    )
