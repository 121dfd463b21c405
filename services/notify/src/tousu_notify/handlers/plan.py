"""Any event notify listens to → the deliveries it calls for, recorded once.

No sending here: the rows are committed with the inbox entry, and the
delivery worker sends them afterwards (so a crash never loses a message, and a
redelivered event adds nothing — the inbox skips it, and the unique key on
(event, template, recipient) would refuse it anyway).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from tousu_common.events import Event
from tousu_common.messaging.inbox import about, processing
from tousu_notify.adapters.repository import FactsRepository, planned_rows
from tousu_notify.adapters.unit_of_work import NotifyUnitOfWork, Session
from tousu_notify.config import Settings
from tousu_notify.domain.model import Facts, addressed_department, plan_deliveries

log = logging.getLogger(__name__)


class Planner:
    """The inbox handlers for every event type notify consumes: one event alone
    (``planner(session, event)``: a group that failed, an operator's re-drive) or a
    group commit's events at once (:meth:`group`), with the same rows as a result.

    A group reads its complaints' facts in one statement, writes each once, and
    inserts all its deliveries in one statement; each event is still planned in a
    consumer span of its own (``consumer`` names the group), so the deliveries keep
    their event's trace."""

    def __init__(self, settings: Settings, *, consumer: str) -> None:
        self.settings = settings
        self.consumer = consumer

    async def __call__(self, session: Session, event: Event) -> None:
        uow = NotifyUnitOfWork(session)  # the inbox's transaction
        rows = await self._plan(uow, event, datetime.now(UTC))
        added = await uow.deliveries.insert_planned(rows)
        _log_planned(event, rows, added.get(event.id, 0))

    async def group(self, session: Session, events: Sequence[Event]) -> None:
        uow = NotifyUnitOfWork(session)
        now = datetime.now(UTC)
        await uow.facts.hold({event.complaint_id for event in events})
        planned: list[tuple[Event, list[dict[str, Any]]]] = []
        for event in events:
            with processing(event, self.consumer):
                planned.append((event, await self._plan(uow, event, now)))
        await uow.facts.write_held()
        added = await uow.deliveries.insert_planned([row for _, rows in planned for row in rows])
        for event, rows in planned:
            with about(event):
                _log_planned(event, rows, added.get(event.id, 0))

    async def _plan(
        self, uow: NotifyUnitOfWork, event: Event, now: datetime
    ) -> list[dict[str, Any]]:
        """The delivery rows ``event`` calls for (none if it calls for none)."""
        settings = self.settings
        facts = await remember_facts(uow.facts, event, now)
        planned = plan_deliveries(
            event,
            facts=facts,
            subscriptions=await uow.subscriptions.active_rules(),
            department_contacts=settings.department_contacts,
            staff_language=settings.staff_language,
        )
        if not planned:
            return []
        too_old = event.time < now - timedelta(seconds=settings.delivery_max_event_age_s)
        return planned_rows(
            event,
            planned,
            reference=getattr(event.data, "reference", None) or facts.reference,
            mail_domain=settings.mail_domain,
            at=now,
            skip_reason="event too old to notify about (replayed history)" if too_old else None,
        )


def _log_planned(event: Event, rows: list[dict[str, Any]], added: int) -> None:
    if not rows:
        return
    # Ids and kinds only: addresses and complaint text never reach the log.
    log.info(
        "deliveries planned",
        extra={
            "event_type": event.type,
            "planned": len(rows),
            "added": added,
            "templates": sorted({row["template"] for row in rows}),
        },
    )


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
