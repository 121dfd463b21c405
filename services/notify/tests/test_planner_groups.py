"""The planner given a group commit's events at once (SQLite and PostgreSQL): the
same deliveries and complaint facts as one event at a time, in a few statements,
each delivery still on its own event's trace."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest
import sqlalchemy as sa

from tousu_common.db import Database
from tousu_common.events import Event
from tousu_common.testing.statements import sql_run
from tousu_common.tracing import traceparent_of, tracer
from tousu_notify.adapters.orm import ComplaintFactsRow, DeliveryRow
from tousu_notify.config import Settings
from tousu_notify.entrypoints.consumer import GROUP_ID
from tousu_notify.handlers.plan import Planner

from .factories import proposed, received, sla, triaged

pytestmark = pytest.mark.integration


def life(complaint_id: UUID, owner: str) -> list[Event]:
    """A complaint's first events; ``proposed`` names no department, so a subscription's
    department filter on it reads the facts ``triaged`` left."""
    return [
        received(complaint_id, language="en"),
        triaged(complaint_id, owner=owner),
        proposed(complaint_id),
        sla(complaint_id=complaint_id, owner=owner),
    ]


def interleaved(*lives: list[Event]) -> list[Event]:
    """Events of several complaints in one group, each complaint's in order."""
    return [event for step in zip(*lives, strict=True) for event in step]


async def subscribe_quality_to_proposals(
    api: httpx.AsyncClient, headers_for: Callable[..., dict[str, str]]
) -> None:
    created = await api.post(
        "/v1/subscriptions",
        json={
            "name": "quality's proposals",
            "channel": "email",
            "recipient_kind": "manager",
            "address": f"qm-{uuid4().hex[:8]}@corp.example",
            "event_types": ["resolution.proposed"],
            "departments": ["quality"],
        },
        headers=headers_for("admin"),
    )
    assert created.status_code == 201, created.text


async def one_by_one(db: Database, planner: Planner, events: Sequence[Event]) -> None:
    for event in events:
        async with db.transaction() as session:
            await planner(session, event)


async def as_group(db: Database, planner: Planner, events: Sequence[Event]) -> None:
    async with db.transaction() as session:
        await planner.group(session, events)


async def outcome(db: Database, events: Sequence[Event]) -> tuple[list[Any], list[Any]]:
    """The deliveries and facts ``events`` left, named by the event's place in the list
    and the complaint's first appearance (so two runs on other ids compare equal)."""
    place = {event.id: n for n, event in enumerate(events)}
    complaint_ids = list(dict.fromkeys(event.complaint_id for event in events))
    name = {complaint_id: f"C{n}" for n, complaint_id in enumerate(complaint_ids)}
    async with db.sessions() as session:
        deliveries = (
            await session.scalars(
                sa.select(DeliveryRow).where(DeliveryRow.complaint_id.in_(complaint_ids))
            )
        ).all()
        facts = (
            await session.scalars(
                sa.select(ComplaintFactsRow).where(
                    ComplaintFactsRow.complaint_id.in_(complaint_ids)
                )
            )
        ).all()

    def named(text: str) -> str:
        for complaint_id, alias in name.items():
            text = text.replace(str(complaint_id), alias)
        return text

    return (
        sorted(
            (
                place[row.source_event_id],
                row.template,
                row.channel,
                row.recipient_kind,
                named(row.recipient_key),
                row.status,
                row.reference,
                row.language,
                row.subscription_id is not None,
                row.next_attempt_at is not None,
            )
            for row in deliveries
        ),
        sorted(
            (
                name[row.complaint_id],
                row.reference,
                row.language,
                row.owner_department,
                row.urgency,
                row.customer_tier,
            )
            for row in facts
        ),
    )


async def test_a_group_planned_at_once_leaves_what_one_event_at_a_time_leaves(
    db: Database,
    settings: Settings,
    api: httpx.AsyncClient,
    headers_for: Callable[..., dict[str, str]],
) -> None:
    await subscribe_quality_to_proposals(api, headers_for)
    planner = Planner(settings, consumer=GROUP_ID)

    def events() -> tuple[list[Event], list[Event]]:
        """A complaint received earlier (its facts already stored), then a group."""
        earlier, later = uuid4(), uuid4()
        first = life(earlier, "quality")
        group = interleaved(life(later, "quality"), life(uuid4(), "sales"))
        return first[:2], [*first[2:], *group]

    alone_before, alone = events()
    await one_by_one(db, planner, [*alone_before, *alone])
    grouped_before, grouped = events()
    await one_by_one(db, planner, grouped_before)
    await as_group(db, planner, grouped)

    expected = await outcome(db, [*alone_before, *alone])
    deliveries, facts = expected
    assert await outcome(db, [*grouped_before, *grouped]) == expected
    # Not vacuous: the subscription matched quality's two proposals (facts from a
    # stored row and from earlier in the same group), not sales'.
    subscribed = [row for row in deliveries if row[8]]
    # (places: the earlier complaint's four events 0-3, then the group's two lives
    # interleaved, so their proposals are 8 and 9)
    assert [(row[0], row[1]) for row in subscribed] == [(2, "event_notice"), (8, "event_notice")]
    assert [row[3] for row in facts] == ["quality", "quality", "sales"]


async def test_a_group_reads_and_writes_the_facts_once_and_inserts_its_deliveries_once(
    db: Database, settings: Settings
) -> None:
    planner = Planner(settings, consumer=GROUP_ID)
    group = interleaved(*(life(uuid4(), "quality") for _ in range(3)))
    with sql_run(db) as ran:
        await as_group(db, planner, group)
    facts = [s for s in ran if "complaint_facts" in s]
    deliveries = [s for s in ran if s.startswith("INSERT INTO deliveries")]
    assert [s.split()[0] for s in facts] == ["SELECT", "INSERT"], facts
    assert len(deliveries) == 1, deliveries
    async with db.sessions() as session:
        planned = await session.scalar(
            sa.select(sa.func.count())
            .select_from(DeliveryRow)
            .where(DeliveryRow.source_event_id.in_([event.id for event in group]))
        )
    assert planned is not None and planned >= len(group) // 2  # the mail that was planned


async def test_each_delivery_of_a_group_continues_its_own_events_trace(
    db: Database, settings: Settings
) -> None:
    group = interleaved(life(uuid4(), "quality"), life(uuid4(), "sales"))
    for event in group:
        with tracer().start_as_current_span("upstream") as span:
            event.extensions["traceparent"] = traceparent_of(span)
    await as_group(db, Planner(settings, consumer=GROUP_ID), group)
    async with db.sessions() as session:
        rows = (
            await session.scalars(
                sa.select(DeliveryRow).where(
                    DeliveryRow.source_event_id.in_([event.id for event in group])
                )
            )
        ).all()
    assert rows
    by_event = {event.id: event.extensions["traceparent"] for event in group}
    for row in rows:
        upstream = by_event[row.source_event_id]
        own = row.context["traceparent"]
        assert own.split("-")[1] == upstream.split("-")[1]  # the event's trace
        assert own.split("-")[2] != upstream.split("-")[2]  # the planner's span in it
