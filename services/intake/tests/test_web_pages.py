"""The public form and tracking page over HTTP, in process, on both databases
(filing, feedback wish, tracking, adding information, answering a plan, withdrawing)."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from html.parser import HTMLParser
from pathlib import Path
from uuid import UUID, uuid4

import httpx
import pytest
import sqlalchemy as sa

from tousu_common.db import Database
from tousu_common.events import new_event
from tousu_common.events.catalog import (
    ComplaintCategory,
    ComplaintClosed,
    ComplaintReopened,
    ComplaintTriaged,
    ResolutionAction,
    ResolutionProposed,
    Urgency,
)
from tousu_common.messaging.tables import outbox
from tousu_intake.adapters.orm import AttachmentRow, ComplaintRow
from tousu_intake.config import Settings
from tousu_intake.handlers.tracking import project_event
from tousu_intake.main import create_app

pytestmark = pytest.mark.integration

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.fixture
async def web(db: Database, jwt_secret: str, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(
        jwt_secret=jwt_secret,
        database_url=db.url,
        environment="test",
        data_dir=tmp_path,
        web_rate_per_minute=30,
        web_rate_burst=4,
    )
    app = create_app(settings)
    app.state.db = db
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://service") as http:
        yield http


def csrf(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF token in the page"
    return match.group(1)


FORM = {
    "name": "李女士",
    "phone": "138 0013 8000",
    "email": "li@example.cn",
    "product_model": "YC6L",
    "serial_number": "SN-77",
    "title": "空调不制冷",
    "description": "新车空调不制冷，4S店无法修复。",
    "lang": "zh",
}


async def submit(
    web: httpx.AsyncClient, form: dict[str, str] | None = None, files=None
) -> httpx.Response:
    page = await web.get("/complaint")
    data = {**FORM, **(form or {}), "csrf_token": csrf(page.text)}
    return await web.post("/complaint", data=data, files=files)


async def count(db: Database, event_type: str) -> list[dict]:
    async with db.sessions() as session:
        rows = await session.execute(
            sa.select(outbox.c.payload).where(outbox.c.event_type == event_type)
        )
    return [json.loads(row.payload) for row in rows]


class _Labels(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.fields: list[str] = []
        self.labels: set[str] = set()
        self.html_lang: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "html":
            self.html_lang = values.get("lang")
        if tag in ("input", "textarea", "select") and values.get("type") != "hidden":
            self.fields.append(values.get("id") or "")
        if tag == "label" and values.get("for"):
            self.labels.add(values["for"] or "")


@pytest.mark.parametrize(
    ("query", "lang", "word"), [("", "zh-CN", "提交投诉"), ("?lang=en", "en", "File a complaint")]
)
async def test_form_is_labelled_in_both_languages(
    web: httpx.AsyncClient, query: str, lang: str, word: str
) -> None:
    response = await web.get(f"/complaint{query}")
    assert response.status_code == 200 and word in response.text
    parsed = _Labels()
    parsed.feed(response.text)
    assert parsed.html_lang == lang
    assert parsed.fields and all(field in parsed.labels for field in parsed.fields)
    assert "tousu_csrf" in response.cookies
    assert "samesite=strict" in response.headers["set-cookie"].lower()


async def test_form_files_a_web_complaint_with_attachment_and_shows_reference_and_link(
    web: httpx.AsyncClient, db: Database
) -> None:
    response = await submit(web, files=[("attachments", ("photo.png", PNG, "image/png"))])
    assert response.status_code == 201, response.text
    reference = re.search(r'id="reference">([^<]+)<', response.text).group(1)
    link = re.search(r'id="tracking-link" href="([^"]+)"', response.text).group(1)
    assert reference.startswith("TS-") and f"/track/{reference}?token=" in link
    async with db.sessions() as session:
        complaint = await session.scalar(
            sa.select(ComplaintRow).where(ComplaintRow.reference == reference)
        )
        attachments = (await session.scalars(sa.select(AttachmentRow))).all()
    assert complaint.channel == "web" and complaint.customer_email == "li@example.cn"
    assert [a.filename for a in attachments] == ["photo.png"]
    [received] = await count(db, "complaint.received")
    assert received["channel"] == "web" and received["attachment_count"] == 1
    page = await web.get(link.replace("http://service", ""))
    assert page.status_code == 200
    assert reference in page.text and "已收到，等待分派" in page.text


async def test_post_without_or_with_a_forged_csrf_token_is_refused(
    web: httpx.AsyncClient, db: Database
) -> None:
    no_token = await web.post("/complaint", data=FORM)
    assert no_token.status_code == 403
    await web.get("/complaint")  # the browser has a cookie, the attacker guesses a token
    forged = await web.post("/complaint", data={**FORM, "csrf_token": "1700000000.deadbeef"})
    assert forged.status_code == 403
    page = await web.get("/complaint")
    token = csrf(page.text)
    web.cookies.clear()  # a cross-site post: right-looking token, no cookie
    cross_site = await web.post("/complaint", data={**FORM, "csrf_token": token})
    assert cross_site.status_code == 403
    assert await count(db, "complaint.received") == []


async def test_errors_are_shown_next_to_their_fields(web: httpx.AsyncClient, db: Database) -> None:
    response = await submit(web, {"name": "", "phone": "", "email": "not-an-address"})
    assert response.status_code == 422
    assert 'id="name-error"' in response.text and 'id="email-error"' in response.text
    assert 'aria-invalid="true"' in response.text
    assert "空调不制冷" in response.text  # what was typed is kept
    assert await count(db, "complaint.received") == []


async def test_an_unsupported_attachment_is_an_error_on_its_field(
    web: httpx.AsyncClient, db: Database
) -> None:
    response = await submit(
        web, files=[("attachments", ("x.exe", b"MZ\x90\x00" * 10, "application/x-msdownload"))]
    )
    assert response.status_code == 422 and 'id="attachments-error"' in response.text
    assert await count(db, "complaint.received") == []


async def test_honeypot_filled_files_nothing(web: httpx.AsyncClient, db: Database) -> None:
    response = await submit(web, {"website": "http://spam.example"})
    assert response.status_code == 200
    assert await count(db, "complaint.received") == []


async def test_posts_over_the_rate_limit_get_429_with_retry_after(web: httpx.AsyncClient) -> None:
    page = await web.get("/complaint")
    token = csrf(page.text)
    statuses = []
    for _ in range(6):
        response = await web.post("/complaint", data={**FORM, "website": "x", "csrf_token": token})
        statuses.append(response.status_code)
    assert statuses[:4] == [200] * 4 and statuses[4] == 429
    assert int(response.headers["Retry-After"]) >= 1


async def filed(web: httpx.AsyncClient) -> tuple[str, str, str]:
    response = await submit(web)
    reference = re.search(r'id="reference">([^<]+)<', response.text).group(1)
    token = re.search(r"<code>([^<]+)</code>", response.text).group(1)
    return reference, token, f"/track/{reference}?token={token}"


async def complaint_id(db: Database, reference: str) -> UUID:
    async with db.sessions() as session:
        return await session.scalar(
            sa.select(ComplaintRow.id).where(ComplaintRow.reference == reference)
        )


async def test_a_wrong_token_looks_exactly_like_an_unknown_complaint(
    web: httpx.AsyncClient,
) -> None:
    reference, token, _ = await filed(web)
    wrong = await web.get(f"/track/{reference}?token={token[:-2]}xx")
    unknown = await web.get(f"/track/TS-2026-999999?token={token}")
    malformed = await web.get("/track/../../etc?token=x")
    assert wrong.status_code == unknown.status_code == 404
    assert malformed.status_code == 404
    assert wrong.text == unknown.text and reference not in wrong.text


async def test_tracking_shows_triage_in_plain_words(web: httpx.AsyncClient, db: Database) -> None:
    reference, _, link = await filed(web)
    event = new_event(
        ComplaintTriaged(
            complaint_id=await complaint_id(db, reference),
            reference=reference,
            category=ComplaintCategory.service_quality,
            urgency=Urgency.important,
            owner_department="after_sales",
            decided_by="rules",
            ruleset_version="1",
            triaged_at=datetime.now(UTC),
        ),
        source="tousu/routing",
    )
    async with db.transaction() as session:
        await project_event(session, event)
    page = await web.get(link)
    assert "处理中" in page.text and "售后服务部" in page.text
    assert "已分类为服务质量问题（重要），由售后服务部负责处理。" in page.text
    english = await web.get(link + "&lang=en")
    assert "the After-sales Service department is handling it" in english.text
    # No contact details shown (the phone in its spellings: the page's random
    # tokens may hold "138" itself).
    assert "李女士" not in page.text
    assert "0013 8000" not in page.text and "00138000" not in page.text


async def test_customer_adds_information_on_the_tracking_page(
    web: httpx.AsyncClient, db: Database
) -> None:
    reference, token, link = await filed(web)
    page = await web.get(link)
    response = await web.post(
        f"/track/{reference}/add",
        data={"csrf_token": csrf(page.text), "token": token, "lang": "zh", "text": "又漏了"},
        files=[("attachments", ("more.png", PNG, "image/png"))],
    )
    assert response.status_code == 303
    [amended] = await count(db, "complaint.amended")
    assert amended["kind"] == "web" and amended["from_customer"] is True
    assert amended["attachment_count"] == 1
    # with the wrong tracking token nothing is added
    refused = await web.post(
        f"/track/{reference}/add",
        data={"csrf_token": csrf(page.text), "token": "nope", "text": "x"},
    )
    assert refused.status_code == 404 and len(await count(db, "complaint.amended")) == 1


async def test_customer_accepts_or_rejects_a_proposed_plan(
    web: httpx.AsyncClient, db: Database
) -> None:
    reference, token, link = await filed(web)
    event = new_event(
        ResolutionProposed(
            complaint_id=await complaint_id(db, reference),
            reference=reference,
            case_id=uuid4(),
            by="csc-1",
            at=datetime.now(UTC),
            plan_version=1,
            actions=[
                ResolutionAction(
                    kind="compensation",
                    description="补偿停机损失",
                    due_date=date(2026, 12, 1),
                    amount="1200.00",
                    currency="CNY",
                )
            ],
        ),
        source="tousu/rectification",
    )
    async with db.transaction() as session:
        await project_event(session, event)
    page = await web.get(link)
    assert "解决方案待您确认" in page.text and "补偿停机损失" in page.text
    assert "1200.00 CNY" in page.text and 'id="accept"' in page.text
    form = {"csrf_token": csrf(page.text), "token": token, "lang": "zh", "plan_version": "1"}
    no_reason = await web.post(f"/track/{reference}/decision", data={**form, "decision": "reject"})
    assert no_reason.status_code == 422 and 'id="reason-error"' in no_reason.text
    rejected = await web.post(
        f"/track/{reference}/decision",
        data={**form, "decision": "reject", "reason": "金额太少"},
    )
    assert rejected.status_code == 303
    [decision] = await count(db, "resolution.decision_received")
    assert decision["decision"] == "reject" and decision["via"] == "web"
    assert decision["comment"] == "金额太少" and decision["plan_version"] == 1
    after = await web.get(link)
    assert 'id="decision-sent"' in after.text and 'id="accept"' not in after.text
    await web.post(f"/track/{reference}/decision", data={**form, "decision": "accept"})
    assert len(await count(db, "resolution.decision_received")) == 1


async def test_what_the_customer_typed_is_escaped_on_the_pages(web: httpx.AsyncClient) -> None:
    response = await submit(web, {"title": "<script>alert(1)</script>"})
    token = re.search(r"<code>([^<]+)</code>", response.text).group(1)
    reference = re.search(r'id="reference">([^<]+)<', response.text).group(1)
    page = await web.get(f"/track/{reference}?token={token}")
    assert "<script>alert(1)</script>" not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert "default-src 'none'" in page.headers["content-security-policy"]


async def test_too_many_files_or_too_large_a_body_is_refused(
    web: httpx.AsyncClient, db: Database
) -> None:
    page = await web.get("/complaint")
    data = {**FORM, "csrf_token": csrf(page.text)}
    files = [("attachments", (f"p{i}.png", PNG, "image/png")) for i in range(8)]
    too_many = await web.post("/complaint", data=data, files=files)
    assert too_many.status_code == 400 and "<html" in too_many.text
    huge = [("attachments", ("big.png", PNG + b"\x00" * (33 * 1024 * 1024), "image/png"))]
    too_large = await web.post("/complaint", data=data, files=huge)
    assert too_large.status_code == 413
    assert await count(db, "complaint.received") == []


async def test_closing_and_reopening_move_the_complaint_out_of_and_back_into_open(
    web: httpx.AsyncClient, db: Database
) -> None:
    """The agents' caller lookup lists open complaints only: rectification's
    complaint.closed / complaint.reopened decide what "open" means."""
    reference, _, _ = await filed(web)
    cid = await complaint_id(db, reference)
    now = datetime.now(UTC)
    common = {"complaint_id": cid, "reference": reference, "case_id": uuid4(), "by": "csc-1"}
    closed = ComplaintClosed(
        **common,
        at=now,
        category=ComplaintCategory.service_quality,
        urgency=Urgency.general,
        owner_department="csc",
        opened_at=now,
    )

    async def status() -> str:
        async with db.sessions() as session:
            return await session.scalar(
                sa.select(ComplaintRow.status).where(ComplaintRow.id == cid)
            )

    async with db.transaction() as session:
        await project_event(session, new_event(closed, source="tousu/rectification"))
    assert await status() == "closed"
    reopened = ComplaintReopened(**common, at=now, reason="客户再次来电")
    async with db.transaction() as session:
        await project_event(session, new_event(reopened, source="tousu/rectification"))
    assert await status() == "received"


# --- withdrawal and feedback_requested ----------------------------------------


async def status_of(db: Database, cid: UUID) -> str:
    async with db.sessions() as session:
        return await session.scalar(sa.select(ComplaintRow.status).where(ComplaintRow.id == cid))


async def test_web_form_checkbox_sets_feedback_requested(
    web: httpx.AsyncClient, db: Database
) -> None:
    page = await web.get("/complaint")
    assert 'type="checkbox" id="feedback_requested"' in page.text
    assert '<label for="feedback_requested">希望了解内部整改措施及结果</label>' in page.text
    english = await web.get("/complaint?lang=en")
    assert "Tell me what you changed internally and the result" in english.text
    ticked = await submit(web, {"feedback_requested": "1"})
    plain = await submit(web)
    assert ticked.status_code == plain.status_code == 201
    events = await count(db, "complaint.received")
    assert [e["feedback_requested"] for e in events] == [True, False]
    # a form with errors keeps the box ticked
    again = await submit(web, {"feedback_requested": "1", "name": ""})
    assert again.status_code == 422
    assert re.search(r'id="feedback_requested"[^>]*checked', again.text)


async def test_customer_withdraws_on_the_tracking_page(
    web: httpx.AsyncClient, db: Database
) -> None:
    reference, token, link = await filed(web)
    page = await web.get(link)
    assert 'action="/track/' + reference + '/withdraw"' in page.text
    assert '<label for="withdraw-reason">撤回原因</label>' in page.text
    form = {"csrf_token": csrf(page.text), "token": token, "lang": "zh"}
    no_reason = await web.post(f"/track/{reference}/withdraw", data=form)
    assert no_reason.status_code == 422 and 'id="withdraw-reason-error"' in no_reason.text
    response = await web.post(
        f"/track/{reference}/withdraw", data={**form, "withdraw_reason": "问题已解决"}
    )
    assert response.status_code == 303
    [withdrawn] = await count(db, "complaint.withdrawn")
    assert withdrawn["reason"] == "问题已解决" and withdrawn["by"] == "customer"
    assert withdrawn["reference"] == reference
    assert await status_of(db, await complaint_id(db, reference)) == "withdrawn"
    after = await web.get(response.headers["location"].replace("http://service", ""))
    assert "您的投诉已撤回。" in after.text and 'id="status">已撤回<' in after.text
    assert 'id="withdraw"' not in after.text  # only while open
    twice = await web.post(
        f"/track/{reference}/withdraw", data={**form, "withdraw_reason": "再次撤回"}
    )
    assert twice.status_code == 409
    assert len(await count(db, "complaint.withdrawn")) == 1


async def test_tracking_page_withdrawal_refuses_a_forged_csrf_token_or_a_wrong_token(
    web: httpx.AsyncClient, db: Database
) -> None:
    reference, token, link = await filed(web)
    await web.get(link)  # the browser holds the cookie; the attacker guesses the field
    url = f"/track/{reference}/withdraw"
    forged = await web.post(
        url, data={"csrf_token": "1700000000.deadbeef", "token": token, "withdraw_reason": "x"}
    )
    assert forged.status_code == 403
    page = await web.get(link)
    other_purpose = (await web.get("/complaint")).text  # a token minted for another form
    refused = await web.post(
        url, data={"csrf_token": csrf(other_purpose), "token": token, "withdraw_reason": "x"}
    )
    assert refused.status_code == 403
    wrong_token = await web.post(
        url, data={"csrf_token": csrf(page.text), "token": "nope", "withdraw_reason": "x"}
    )
    assert wrong_token.status_code == 404
    assert await count(db, "complaint.withdrawn") == []
    assert await status_of(db, await complaint_id(db, reference)) == "received"
