"""Table-driven: every command in every status, and every wrong role or department.

A refusal is a 409 (illegal in this status, or a guard) or a 403 (wrong role
or department) with a JSON error, and it changes nothing: not the case row
(its version), not the history, not the outbox.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from uuid import UUID

import httpx
import pytest
import sqlalchemy as sa

from tousu_common.auth import Principal
from tousu_common.db import Database
from tousu_common.events import new_event
from tousu_common.events.catalog import ComplaintWithdrawn
from tousu_common.messaging.tables import outbox
from tousu_rectification.adapters.orm import CaseHistoryRow, CaseRow
from tousu_rectification.adapters.unit_of_work import unit_of_work
from tousu_rectification.domain.status import TABLE, CaseStatus, Command
from tousu_rectification.handlers.complaint_events import withdraw_case

pytestmark = pytest.mark.integration

Headers = Callable[..., dict[str, str]]
DUE = (date.today() + timedelta(days=7)).isoformat()
PLAN = {"actions": [{"kind": "repair", "description": "修", "due_date": DUE}]}

# The API commands: (method path, body).
COMMANDS: dict[Command, tuple[str, dict | None]] = {
    Command.record_first_response: ("/first-response", None),
    Command.start_customer_wait: ("/customer-wait", {"reason": "需要照片"}),
    Command.end_customer_wait: ("/customer-wait/end", None),
    Command.propose_resolution: ("/resolution", PLAN),
    Command.accept_resolution: ("/resolution/decision", {"decision": "accept"}),
    Command.reject_resolution: ("/resolution/decision", {"decision": "reject"}),
    Command.complete_action: ("/actions/1/done", None),
    Command.record_callback: ("/callback", {"score": 5}),
    Command.close: ("/close", None),
    Command.reopen: ("/reopen", {"reason": "又坏了"}),
}

S = CaseStatus
ALL = set(COMMANDS)
# The expected outcome for CSC staff (who may give every API command) on a case
# freshly brought to each status: the commands that succeed; all others are 409.
# Written out by hand, and checked against the transition table below.
SUCCEEDS: dict[CaseStatus, set[Command]] = {
    S.awaiting_resolution: {
        Command.record_first_response,
        Command.start_customer_wait,
        Command.propose_resolution,
    },
    S.resolution_proposed: {
        Command.start_customer_wait,
        Command.accept_resolution,
        Command.reject_resolution,
    },
    S.resolution_rejected: {Command.start_customer_wait, Command.propose_resolution},
    S.resolution_accepted: {Command.start_customer_wait, Command.complete_action},
    S.resolution_implemented: {Command.start_customer_wait, Command.record_callback},
    S.satisfied: set(),  # an open rectification holds the close
    S.closed: {Command.reopen},
    S.withdrawn: set(),
}
# Refused by a guard although the status allows the command (409 case_conflict
# or close_conditions_unmet): first response already given (proposing gave it),
# not waiting, an open rectification.
GUARDED: dict[CaseStatus, set[Command]] = {
    S.awaiting_resolution: {Command.end_customer_wait},
    S.resolution_proposed: {Command.record_first_response, Command.end_customer_wait},
    S.resolution_rejected: {Command.record_first_response, Command.end_customer_wait},
    S.resolution_accepted: {Command.record_first_response, Command.end_customer_wait},
    S.resolution_implemented: {Command.record_first_response, Command.end_customer_wait},
    S.satisfied: {Command.record_first_response, Command.end_customer_wait, Command.close},
    S.closed: set(),
    S.withdrawn: set(),
}


def test_the_expected_outcomes_agree_with_the_transition_table() -> None:
    for status in CaseStatus:
        legal = {command for command in COMMANDS if status in TABLE[command].sources}
        assert legal == SUCCEEDS[status] | GUARDED[status], status
    assert set(SUCCEEDS) == set(CaseStatus)


class Walk:
    """Brings a fresh case (owned by quality) to a status through the API."""

    def __init__(self, client: httpx.AsyncClient, db: Database, headers: dict[str, str]) -> None:
        self.client, self.db, self.headers = client, db, headers

    async def post(self, complaint: UUID, command: Command) -> httpx.Response:
        path, body = COMMANDS[command]
        return await self.client.post(
            f"/v1/cases/{complaint}{path}", json=body, headers=self.headers
        )

    async def to(self, complaint: UUID, status: CaseStatus) -> None:
        steps = {
            S.awaiting_resolution: [],
            S.resolution_proposed: [Command.propose_resolution],
            S.resolution_rejected: [Command.propose_resolution, Command.reject_resolution],
            S.resolution_accepted: [Command.propose_resolution, Command.accept_resolution],
            S.resolution_implemented: [
                Command.propose_resolution,
                Command.accept_resolution,
                Command.complete_action,
            ],
            S.closed: [
                Command.propose_resolution,
                Command.accept_resolution,
                Command.complete_action,
                Command.record_callback,
            ],
        }
        if status is S.satisfied:
            async with unit_of_work(self.db) as uow:
                case = await uow.cases.require(complaint)
                case.rectification_opened(
                    by=Principal("quality-1", frozenset({"quality"}), "quality"),
                    at=datetime.now(UTC),
                )
                await uow.cases.save(case)
            steps[S.satisfied] = steps[S.closed]
        if status is S.withdrawn:
            async with self.db.transaction() as session:
                await withdraw_case(
                    session,
                    new_event(
                        ComplaintWithdrawn(
                            complaint_id=complaint,
                            reference="TS-2026-000777",
                            reason="不需要了",
                            withdrawn_at=datetime.now(UTC),
                            by="customer",
                        ),
                        source="tousu/intake",
                    ),
                )
            return
        for step in steps[status]:
            answer = await self.post(complaint, step)
            assert answer.status_code == 200, (step, answer.text)
        case = (await self.client.get(f"/v1/cases/{complaint}", headers=self.headers)).json()
        assert case["status"] == status


async def snapshot(db: Database, complaint: UUID) -> tuple[object, ...]:
    """Everything a refused command must leave as it was."""
    async with db.sessions() as session:
        row = (
            await session.execute(sa.select(CaseRow).where(CaseRow.complaint_id == complaint))
        ).scalar_one()
        history = await session.scalar(
            sa.select(sa.func.count()).where(CaseHistoryRow.case_id == row.case_id)
        )
        staged = await session.scalar(
            sa.select(sa.func.count()).select_from(outbox).where(outbox.c.key == str(complaint))
        )
        return (row.version, row.status, row.plan_version, history, staged)


@pytest.mark.parametrize("status", list(CaseStatus))
async def test_every_command_in_every_status(
    status: CaseStatus,
    client: httpx.AsyncClient,
    db: Database,
    open_case: Callable[..., Awaitable[UUID]],
    staff: Headers,
) -> None:
    walk = Walk(client, db, staff("csc", department="csc"))
    complaint = await open_case(owner="quality")
    await walk.to(complaint, status)
    for command in COMMANDS:
        if command in SUCCEEDS[status]:
            continue
        before = await snapshot(db, complaint)
        answer = await walk.post(complaint, command)
        assert answer.status_code == 409, (status, command, answer.text)
        code = answer.json()["error"]["code"]
        expected = (
            {"case_conflict", "close_conditions_unmet"}
            if command in GUARDED[status]
            else {"illegal_transition", "close_conditions_unmet"}
        )
        assert code in expected, (status, command, code)
        assert answer.json()["error"]["message"]
        assert await snapshot(db, complaint) == before, (status, command)
    # And each command that should succeed does, on a case of its own.
    for command in SUCCEEDS[status]:
        fresh = await open_case(owner="quality")
        await walk.to(fresh, status)
        before = await snapshot(db, fresh)
        answer = await walk.post(fresh, command)
        assert answer.status_code == 200, (status, command, answer.text)
        after = await snapshot(db, fresh)
        assert after[0] == before[0] + 1 and after[3] > before[3], (status, command)


# (command, status where it is legal, callers refused with 403, a caller who succeeds)
ROLE_CASES = [
    (
        Command.record_first_response,
        S.awaiting_resolution,
        [("agent", "csc"), ("department", "sales"), ("quality", "logistics"), ("gateway", None)],
        ("department", "quality"),
    ),
    (
        Command.start_customer_wait,
        S.awaiting_resolution,
        [("agent", "csc"), ("supply", "supply"), ("manager", "sales")],
        ("manager", "quality"),
    ),
    (
        Command.propose_resolution,
        S.awaiting_resolution,
        [("agent", "csc"), ("department", "sales"), ("service", None), ("quality", None)],
        ("quality", "quality"),
    ),
    (
        Command.accept_resolution,
        S.resolution_proposed,
        [("quality", "quality"), ("department", "quality"), ("manager", "csc")],
        ("agent", "csc"),
    ),
    (
        Command.reject_resolution,
        S.resolution_proposed,
        [("quality", "quality"), ("supply", "quality")],
        ("agent", None),
    ),
    (
        Command.complete_action,
        S.resolution_accepted,
        [("agent", "csc"), ("department", "sales")],
        ("department", "quality"),
    ),
    (
        Command.record_callback,
        S.resolution_implemented,
        [("quality", "quality"), ("department", "quality"), ("manager", "quality")],
        ("agent", "csc"),
    ),
    (
        Command.close,
        S.satisfied,
        [("agent", "csc"), ("quality", "quality"), ("manager", "quality")],
        None,  # CSC is allowed, but an open rectification holds the close (409)
    ),
    (
        Command.reopen,
        S.closed,
        [("agent", "csc"), ("quality", "quality"), ("manager", "csc"), ("department", "csc")],
        ("csc", "csc"),
    ),
]


@pytest.mark.parametrize(
    ("command", "status", "refused", "allowed"),
    ROLE_CASES,
    ids=[str(command) for command, *_ in ROLE_CASES],
)
async def test_wrong_role_or_department_is_forbidden_and_changes_nothing(
    command: Command,
    status: CaseStatus,
    refused: list[tuple[str, str | None]],
    allowed: tuple[str, str] | None,
    client: httpx.AsyncClient,
    db: Database,
    open_case: Callable[..., Awaitable[UUID]],
    staff: Headers,
) -> None:
    walk = Walk(client, db, staff("csc", department="csc"))
    complaint = await open_case(owner="quality")
    await walk.to(complaint, status)
    path, body = COMMANDS[command]
    before = await snapshot(db, complaint)
    for role, department in refused:
        answer = await client.post(
            f"/v1/cases/{complaint}{path}", json=body, headers=staff(role, department=department)
        )
        assert answer.status_code == 403, (command, role, department, answer.text)
        assert answer.json()["error"]["code"] == "forbidden"
        assert await snapshot(db, complaint) == before, (command, role, department)
    anonymous = await client.post(f"/v1/cases/{complaint}{path}", json=body)
    assert anonymous.status_code == 401
    if allowed is None:
        answer = await client.post(
            f"/v1/cases/{complaint}{path}", json=body, headers=staff("csc", department="csc")
        )
        assert answer.status_code == 409
        assert answer.json()["error"]["fields"] == [
            {"field": "rectifications", "problem": "1 not verified or waived"}
        ]
        return
    role, department = allowed
    answer = await client.post(
        f"/v1/cases/{complaint}{path}", json=body, headers=staff(role, department=department)
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["history"][-1]["by"] == f"{role}@{department or '-'}"


async def test_unknown_case_or_action_is_404(
    client: httpx.AsyncClient,
    db: Database,
    open_case: Callable[..., Awaitable[UUID]],
    staff: Headers,
) -> None:
    csc = staff("csc", department="csc")
    missing = await client.post(
        "/v1/cases/00000000-0000-0000-0000-000000000001/first-response", headers=csc
    )
    assert missing.status_code == 404
    complaint = await open_case(owner="quality")
    await Walk(client, db, csc).to(complaint, S.resolution_accepted)
    before = await snapshot(db, complaint)
    answer = await client.post(f"/v1/cases/{complaint}/actions/2/done", headers=csc)
    assert answer.status_code == 404 and "no action 2" in answer.json()["error"]["message"]
    assert (
        await client.post(f"/v1/cases/{complaint}/actions/0/done", headers=csc)
    ).status_code == 422
    assert await snapshot(db, complaint) == before
