"""Every (kind, status, action) of the transition table over the API: the legal ones
move, the illegal ones are 409, the wrong role or department is 403 — and a refused
request changes nothing (row, version, history, outbox). Concurrent transitions on one
rectification: exactly one wins."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest

from tousu_common.auth import Principal
from tousu_common.db import Database
from tousu_common.events.catalog import RectificationKind
from tousu_rectification.adapters.rectification_orm import SupplierRow
from tousu_rectification.adapters.rectification_repository import (
    RectificationRepository,
    StaleRectification,
    next_number,
)
from tousu_rectification.adapters.unit_of_work import CaseUnitOfWork
from tousu_rectification.domain.rectification import (
    SETTLED,
    TRANSITIONS,
    Action,
    CaseRef,
    Rectification,
    RectificationStatus,
    SupplierRef,
    Who,
)

from .conftest import snapshot

pytestmark = pytest.mark.integration

#: One caller per kind of actor: (roles, department). The recipient is "production".
CALLERS: dict[str, tuple[tuple[str, ...], str | None]] = {
    "recipient": (("department",), "production"),
    "other_department": (("department",), "sales"),
    "csc": (("csc",), "csc"),
    "quality": (("quality",), "quality"),
    "supply": (("supply",), "supply"),
    "manager": (("manager",), None),
    "agent": (("agent",), None),
}
WHO_CALLER = {
    Who.recipient: "recipient",
    Who.csc: "csc",
    Who.quality: "quality",
    Who.supply: "supply",
    Who.manager: "manager",
}
ANSWER = {
    "containment": "隔离",
    "root_cause": "材料",
    "root_cause_category": "material",
    "corrective_action": "换料",
    "preventive_action": "来料检验",
}
REQUESTS: dict[Action, tuple[str, dict[str, Any] | None]] = {
    Action.mark_done: (
        "done",
        {"root_cause_category": "process", "root_cause": "r", "corrective_action": "c"},
    ),
    Action.dispatch: ("dispatch", None),
    Action.record_supplier_response: ("supplier-response", ANSWER),
    Action.pass_verification: ("verification", {"passed": True}),
    Action.fail_verification: ("verification", {"passed": False, "reason": "无效"}),
    Action.waive: ("waiver", {"reason": "不再需要"}),
    Action.attach_evidence: ("evidence", None),
}
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


def rows_for(action: Action, kind: RectificationKind) -> list[Any]:
    return [t for t in TRANSITIONS if t.action is action and kind in t.kinds]


@pytest.fixture
def make_rectification(db: Database) -> Callable[..., Awaitable[UUID]]:
    """A rectification of ``kind`` put straight into ``status`` (counted on its case)."""

    async def make(complaint_id: UUID, kind: RectificationKind, status: RectificationStatus):
        now = datetime.now(UTC)
        async with db.transaction() as session:
            uow = CaseUnitOfWork(session)
            case = await uow.cases.require(complaint_id)
            supplier = None
            if kind is RectificationKind.supplier_notice:
                supplier = SupplierRef(uuid4(), "测试供应商")
                session.add(
                    SupplierRow(
                        supplier_id=supplier.supplier_id,
                        code=f"S-{supplier.supplier_id.hex[:8]}",
                        name=supplier.name,
                        language="zh",
                        contacts=[],
                        parts_supplied=[],
                        active=True,
                        created_at=now,
                        updated_at=now,
                        version=1,
                    )
                )
            rect = Rectification(
                rectification_id=uuid4(),
                case=CaseRef(case.case_id, complaint_id, case.reference),
                kind=kind,
                number=await next_number(session, "T", 2026),
                status=status,
                requirement="整改",
                due_date=date.today() + timedelta(days=7),
                created_by="factory",
                created_at=now,
                department=None if supplier else "production",
                supplier=supplier,
            )
            await RectificationRepository(session).add(rect)
            if status not in SETTLED:
                case.rectification_opened(by=Principal("factory", frozenset({"csc"}), None), at=now)
                await uow.cases.save(case)
        return rect.rectification_id

    return make


async def call(
    api: httpx.AsyncClient, token_for: Callable[..., str], caller: str, rid: UUID, action: Action
) -> httpx.Response:
    roles, department = CALLERS[caller]
    headers = {"Authorization": f"Bearer {token_for(*roles, sub=caller, department=department)}"}
    path, body = REQUESTS[action]
    if action is Action.attach_evidence:
        files = [("files", ("8D附件.png", PNG, "image/png"))]
        return await api.post(f"/v1/rectifications/{rid}/{path}", files=files, headers=headers)
    return await api.post(f"/v1/rectifications/{rid}/{path}", json=body, headers=headers)


@pytest.mark.parametrize("kind", list(RectificationKind))
async def test_every_action_in_every_status_moves_or_is_refused_without_a_trace(
    kind: RectificationKind,
    api: httpx.AsyncClient,
    db: Database,
    token_for: Callable[..., str],
    open_case: Callable[..., Awaitable[UUID]],
    make_rectification: Callable[..., Awaitable[UUID]],
) -> None:
    complaint_id = await open_case()
    checked = {"moved": 0, "409": 0, "403": 0}
    for status in RectificationStatus:
        standing = await make_rectification(complaint_id, kind, status)
        for action in Action:
            rows = [t for t in rows_for(action, kind) if t.who in WHO_CALLER]
            legal = [t for t in rows if status in t.sources]
            # An action this kind never has is illegal for everyone (409).
            if not rows_for(action, kind):
                for caller in CALLERS:
                    before = await snapshot(db, standing)
                    answer = await call(api, token_for, caller, standing, action)
                    assert answer.status_code == 409, (kind, status, action, caller)
                    assert await snapshot(db, standing) == before
                    checked["409"] += 1
                continue
            # The wrong callers: refused whatever the status (403), nothing changes.
            entitled = {WHO_CALLER[t.who] for t in rows}
            for caller in CALLERS.keys() - entitled:
                before = await snapshot(db, standing)
                answer = await call(api, token_for, caller, standing, action)
                assert answer.status_code == 403, (kind, status, action, caller, answer.text)
                assert answer.json()["error"]["code"] == "forbidden"
                assert await snapshot(db, standing) == before
                checked["403"] += 1
            for caller in sorted(entitled):
                if legal:
                    fresh = await make_rectification(complaint_id, kind, status)
                    before = await snapshot(db, fresh)
                    answer = await call(api, token_for, caller, fresh, action)
                    assert answer.status_code == 200, (kind, status, action, caller, answer.text)
                    after = await snapshot(db, fresh)
                    assert after["status"] == legal[0].target.value
                    assert after["version"] == before["version"] + 1
                    assert after["history"] == before["history"] + 1
                    if action is Action.attach_evidence:  # history only, no event
                        assert after["outbox"] == before["outbox"]
                        assert after["evidence"] == before["evidence"] + 1
                    else:
                        assert after["outbox"] > before["outbox"]
                    checked["moved"] += 1
                else:
                    before = await snapshot(db, standing)
                    answer = await call(api, token_for, caller, standing, action)
                    assert answer.status_code == 409, (kind, status, action, caller, answer.text)
                    assert answer.json()["error"]["code"] == "illegal_transition"
                    assert await snapshot(db, standing) == before
                    checked["409"] += 1
    assert all(checked.values()), checked


async def test_the_supplier_only_answers_through_its_link_not_with_a_staff_token(
    api: httpx.AsyncClient,
    db: Database,
    token_for: Callable[..., str],
    open_case: Callable[..., Awaitable[UUID]],
    make_rectification: Callable[..., Awaitable[UUID]],
) -> None:
    rid = await make_rectification(
        await open_case(), RectificationKind.supplier_notice, RectificationStatus.awaiting_supplier
    )
    before = await snapshot(db, rid)
    for caller in ("quality", "csc", "recipient"):
        answer = await call(api, token_for, caller, rid, Action.record_supplier_response)
        assert answer.status_code == 403
    assert await snapshot(db, rid) == before


async def test_concurrent_transitions_on_one_rectification_cannot_both_win(
    api: httpx.AsyncClient,
    db: Database,
    token_for: Callable[..., str],
    open_case: Callable[..., Awaitable[UUID]],
    make_rectification: Callable[..., Awaitable[UUID]],
) -> None:
    complaint_id = await open_case()
    for _ in range(3):
        rid = await make_rectification(
            complaint_id,
            RectificationKind.service_instruction,
            RectificationStatus.awaiting_verification,
        )
        before = await snapshot(db, rid)
        passed, failed = await asyncio.gather(
            call(api, token_for, "csc", rid, Action.pass_verification),
            call(api, token_for, "csc", rid, Action.fail_verification),
        )
        assert sorted([passed.status_code, failed.status_code]) == [200, 409], (
            passed.text,
            failed.text,
        )
        after = await snapshot(db, rid)
        assert after["version"] == before["version"] + 1
        assert after["history"] == before["history"] + 1


async def test_a_stale_copy_cannot_overwrite_a_newer_one(
    db: Database,
    open_case: Callable[..., Awaitable[UUID]],
    make_rectification: Callable[..., Awaitable[UUID]],
) -> None:
    """The version column, directly: two sessions load version 1; the second save loses
    (on PostgreSQL the second UPDATE waits for the first's row lock, then matches nothing)."""
    from tousu_common.auth import Principal

    rid = await make_rectification(
        await open_case(), RectificationKind.service_instruction, RectificationStatus.in_progress
    )
    worker = Principal("w", frozenset({"department"}), "production")
    async with db.sessions() as session:
        stale = await RectificationRepository(session).get(rid)
    assert stale is not None
    async with db.transaction() as session:
        repo = RectificationRepository(session)
        fresh = await repo.get(rid)
        assert fresh is not None
        fresh.waive(
            reason="r", actor=Principal("m", frozenset({"manager"}), None), at=datetime.now(UTC)
        )
        await repo.save(fresh)
    stale.mark_done(
        root_cause_category="process",
        root_cause="r",
        corrective_action="c",
        actor=worker,
        at=datetime.now(UTC),
    )
    with pytest.raises(StaleRectification):
        async with db.transaction() as session:
            await RectificationRepository(session).save(stale)
    before = await snapshot(db, rid)
    assert before["status"] == "waived"


async def test_two_transactions_that_loaded_the_same_version_one_wins_on_postgresql(
    db: Database,
    open_case: Callable[..., Awaitable[UUID]],
    make_rectification: Callable[..., Awaitable[UUID]],
) -> None:
    """Both transactions are open and have loaded version 1 before either saves
    (forced with a barrier): on PostgreSQL the second UPDATE waits for the first's
    row lock and then matches no row; its whole transaction rolls back."""
    if db.url.startswith("sqlite"):
        pytest.skip("SQLite has one writer at a time: transactions never overlap there")
    from tousu_common.auth import Principal

    complaint_id = await open_case()
    rid = await make_rectification(
        complaint_id,
        RectificationKind.service_instruction,
        RectificationStatus.awaiting_verification,
    )
    csc = Principal("csc", frozenset({"csc"}), "csc")
    loaded = asyncio.Barrier(2)

    async def verify(passed: bool) -> str:
        try:
            async with db.transaction() as session:
                repo = RectificationRepository(session)
                rect = await repo.get(rid)
                assert rect is not None and rect.version == 1
                await loaded.wait()
                if passed:
                    rect.pass_verification(
                        comment="", feedback_requested=False, actor=csc, at=datetime.now(UTC)
                    )
                else:
                    rect.fail_verification(reason="无效", actor=csc, at=datetime.now(UTC))
                await repo.save(rect)
            return "saved"
        except StaleRectification:
            return "stale"

    before = await snapshot(db, rid)
    assert sorted(await asyncio.gather(verify(True), verify(False))) == ["saved", "stale"]
    after = await snapshot(db, rid)
    assert after["version"] == 2
    assert after["history"] == before["history"] + 1
    assert after["outbox"] == before["outbox"] + 1
