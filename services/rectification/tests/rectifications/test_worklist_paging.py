"""``GET /v1/worklist`` pages: the CSC's product-quality cases awaiting a quality
report are counted and paged in SQL, and every page must be the slice of the one
ordered list — rectifications by due date and number, then those cases oldest
first, then quality reports by number — with the same total on every page."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from uuid import UUID

import httpx
import pytest
import sqlalchemy as sa

from tousu_common.db import Database
from tousu_common.events import ComplaintCategory
from tousu_rectification.adapters.orm import CaseRow

from .test_worklist_documents_suppliers import product_case_with_notices

pytestmark = pytest.mark.integration

LIMITS = (1, 2, 3, 4, 7, 50)


async def whole_list(api: httpx.AsyncClient, headers: dict[str, str]) -> list[dict[str, Any]]:
    answer = await api.get("/v1/worklist?scope=mine&limit=200", headers=headers)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["total"] == len(body["items"])
    return body["items"]


async def assert_pages_are_slices(
    api: httpx.AsyncClient, headers: dict[str, str], everything: list[dict[str, Any]]
) -> None:
    for limit in LIMITS:
        for offset in range(len(everything) + 2):
            answer = await api.get(
                f"/v1/worklist?scope=mine&limit={limit}&offset={offset}", headers=headers
            )
            assert answer.status_code == 200, answer.text
            page = answer.json()
            assert page["total"] == len(everything), (limit, offset)
            assert (page["limit"], page["offset"]) == (limit, offset)
            assert page["items"] == everything[offset : offset + limit], (limit, offset)


async def test_csc_pages_over_more_awaiting_cases_than_a_page_are_slices_of_one_list(
    api: httpx.AsyncClient,
    db: Database,
    as_: Callable[..., dict[str, str]],
    open_case: Callable[..., Awaitable[UUID]],
) -> None:
    opened = [await open_case(ComplaintCategory.product_quality) for _ in range(9)]
    await open_case(ComplaintCategory.service_quality)  # never the CSC's report to write
    # One product case gets a report and notices (two rectifications), one a
    # report without notices yet, one is withdrawn: none of them awaits a report.
    docs = await product_case_with_notices(api, as_, opened[2])
    lone = await api.post(
        f"/v1/cases/{opened[5]}/quality-reports",
        json={
            "product_model": "YC4S",
            "failure_description": "漏油",
            "quantity_affected": 1,
        },
        headers=as_("csc"),
    )
    assert lone.status_code == 201, lone.text
    async with db.transaction() as session:
        await session.execute(
            sa.update(CaseRow).where(CaseRow.complaint_id == opened[7]).values(status="withdrawn")
        )
    awaiting = [c for i, c in enumerate(opened) if i not in (2, 5, 7)]

    csc = as_("csc", department="csc")
    everything = await whole_list(api, csc)
    assert [(i["item_type"], i["action"]) for i in everything] == [
        ("case", "issue_quality_report")
    ] * len(awaiting)
    assert [UUID(i["complaint_id"]) for i in everything] == awaiting  # oldest first
    assert all(i["number"] is None and i["due_date"] is None for i in everything)
    await assert_pages_are_slices(api, csc, everything)
    for scope in ("due_soon", "overdue"):
        answer = await api.get(f"/v1/worklist?scope={scope}&limit=2", headers=csc)
        assert answer.json()["total"] == 0 and answer.json()["items"] == []

    # Someone who sees all three kinds: rectifications, then the cases, then reports.
    admin = as_("admin")
    everything = await whole_list(api, admin)
    rects = [docs["internal"]["number"], docs["supplier"]["number"]]  # due in 1, in 20 days
    assert [(i["item_type"], i["number"]) for i in everything] == [
        ("rectification", rects[0]),
        ("rectification", rects[1]),
        *[("case", None)] * len(awaiting),
        ("quality_report", lone.json()["number"]),
    ]
    assert [UUID(i["complaint_id"]) for i in everything[2:-1]] == awaiting
    await assert_pages_are_slices(api, admin, everything)
