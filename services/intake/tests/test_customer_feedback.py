"""The customer asks for the rectification feedback after filing — on the tracking page
or in a reply mail — and confirms or disputes it on the tracking page (SPEC §2.4).
On both databases, the pages over HTTP in process, mail through ``receive_mail``."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path
from uuid import UUID, uuid4

import httpx
import pytest
import sqlalchemy as sa

from tousu_common.db import Database
from tousu_common.events import new_event
from tousu_common.events.catalog import RectificationFeedbackRequested, RectificationKind
from tousu_common.messaging.tables import outbox
from tousu_intake.adapters.orm import ComplaintRow
from tousu_intake.config import Settings
from tousu_intake.domain.feedback import asks_for_feedback
from tousu_intake.handlers.inbound_mail import receive_mail
from tousu_intake.handlers.tracking import project_event
from tousu_intake.main import create_app

# --- which texts ask for it (pure) -------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "发动机又漏油了。请把你们的整改措施和验证结果反馈给我们。",
        "希望贵司将内部整改情况告知我方，谢谢！",
        "麻烦整改完成后回复一下原因分析和纠正措施",
        "烦请提供8D报告。",
        "Please let us know what corrective action you take and whether it worked.",
        "We would like to receive your 8D report on this failure.",
        "Kindly share the root cause and the preventive measures with me.",
    ],
)
def test_texts_that_ask_for_the_rectification_feedback(text: str) -> None:
    assert asks_for_feedback(text)


@pytest.mark.parametrize(
    "text",
    [
        "你们上次的整改根本没用，发动机又漏油了。",
        "请尽快更换水泵，并赔偿停机损失。",
        "整改的事不需要反馈给我，尽快修好就行。",
        "Please replace the pump by Friday.",
        "Your last corrective action did not work.",
        "No need to send me the corrective action report, just fix it.",
        "",
    ],
)
def test_texts_that_do_not(text: str) -> None:
    assert not asks_for_feedback(text)


# --- the tracking page ---------------------------------------------------------------


@pytest.fixture
async def web(db: Database, jwt_secret: str, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(
        jwt_secret=jwt_secret, database_url=db.url, environment="test", data_dir=tmp_path
    )
    app = create_app(settings)
    app.state.db = db
    transport = httpx.ASGITransport(app=app, client=("203.0.113.9", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://service") as http:
        yield http


def csrf(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF token in the page"
    return match.group(1)


async def staged(db: Database, event_type: str) -> list[dict]:
    async with db.sessions() as session:
        rows = await session.execute(
            sa.select(outbox.c.payload).where(outbox.c.event_type == event_type)
        )
    return [json.loads(row.payload) for row in rows]


async def file_on_web(web: httpx.AsyncClient, **extra: str) -> tuple[str, str, str]:
    form = await web.get("/complaint")
    filed = await web.post(
        "/complaint",
        data={
            "name": "赵先生",
            "email": "zhao@example.cn",
            "title": "货物在运输中损坏",
            "description": "收到的三台设备外壳均有撞击痕迹。",
            "lang": "zh",
            "csrf_token": csrf(form.text),
            **extra,
        },
    )
    assert filed.status_code == 201, filed.text
    reference = re.search(r'id="reference">([^<]+)<', filed.text).group(1)
    token = re.search(r"<code>([^<]+)</code>", filed.text).group(1)
    return reference, token, f"/track/{reference}?token={token}"


async def complaint_id(db: Database, reference: str) -> UUID:
    async with db.sessions() as session:
        return await session.scalar(
            sa.select(ComplaintRow.id).where(ComplaintRow.reference == reference)
        )


async def feed_back(db: Database, complaint: UUID, reference: str) -> UUID:
    """Rectification's rectification.feedback_requested, projected as intake's consumer does."""
    rectification_id = uuid4()
    event = new_event(
        RectificationFeedbackRequested(
            complaint_id=complaint,
            reference=reference,
            case_id=uuid4(),
            by="customer",
            at=datetime.now(UTC),
            rectification_id=rectification_id,
            kind=RectificationKind.service_instruction,
            department="logistics",
            summary="RI-2027-0003: 改进装车固定方式\n纠正措施 / Corrective action: 每托盘四道绑带",
        ),
        source="tousu/rectification",
    )
    async with db.transaction() as session:
        await project_event(session, event)
    return rectification_id


@pytest.mark.integration
async def test_the_customer_asks_for_feedback_on_the_tracking_page_once(
    web: httpx.AsyncClient, db: Database
) -> None:
    reference, token, link = await file_on_web(web)
    page = await web.get(link)
    assert 'id="ask-feedback"' in page.text
    form = {"csrf_token": csrf(page.text), "token": token, "lang": "zh"}
    asked = await web.post(f"/track/{reference}/feedback", data=form)
    assert asked.status_code == 303 and "done=feedback_asked" in asked.headers["location"]
    again = await web.post(f"/track/{reference}/feedback", data=form)
    assert again.status_code == 303
    [event] = await staged(db, "complaint.feedback_requested")
    assert event["reference"] == reference and event["via"] == "web"
    assert set(event) == {"complaint_id", "reference", "via", "requested_at"}  # no contact
    after = await web.get(link)
    assert 'id="ask-feedback"' not in after.text and 'id="feedback-waiting"' in after.text
    # Without the right token nothing is asked.
    refused = await web.post(f"/track/{reference}/feedback", data={**form, "token": "nope"})
    assert refused.status_code == 404


@pytest.mark.integration
async def test_asked_at_filing_the_page_offers_no_second_ask(
    web: httpx.AsyncClient, db: Database
) -> None:
    _, _, link = await file_on_web(web, feedback_requested="1")
    page = await web.get(link)
    assert 'id="ask-feedback"' not in page.text and 'id="feedback-waiting"' in page.text
    assert await staged(db, "complaint.feedback_requested") == []


@pytest.mark.integration
async def test_the_customer_confirms_the_feedback_they_were_sent_once(
    web: httpx.AsyncClient, db: Database
) -> None:
    reference, token, link = await file_on_web(web, feedback_requested="1")
    rectification_id = await feed_back(db, await complaint_id(db, reference), reference)
    page = await web.get(link)
    assert "每托盘四道绑带" in page.text and 'class="feedback-confirm"' in page.text
    form = {"csrf_token": csrf(page.text), "token": token, "lang": "zh"}
    unknown = await web.post(
        f"/track/{reference}/feedback/answer",
        data={**form, "rectification_id": str(uuid4()), "answer": "confirmed"},
    )
    assert unknown.status_code == 303
    assert await staged(db, "rectification.feedback_answer_received") == []
    answer = {**form, "rectification_id": str(rectification_id)}
    confirmed = await web.post(
        f"/track/{reference}/feedback/answer", data={**answer, "answer": "confirmed"}
    )
    assert confirmed.status_code == 303
    await web.post(f"/track/{reference}/feedback/answer", data={**answer, "answer": "disputed"})
    [event] = await staged(db, "rectification.feedback_answer_received")
    assert (event["rectification_id"], event["answer"], event["via"]) == (
        str(rectification_id),
        "confirmed",
        "web",
    )
    after = await web.get(link)
    assert "您已确认此项整改反馈。" in after.text and 'class="feedback-confirm"' not in after.text
    bad = await web.post(f"/track/{reference}/feedback/answer", data={**answer, "answer": "maybe"})
    assert bad.status_code == 403


# --- e-mail --------------------------------------------------------------------------


def mail(subject: str, body: str, sender: str = "周女士 <zhou@example.cn>") -> bytes:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = "complaints@tousu.example"
    message["Subject"] = subject
    message["Message-ID"] = make_msgid(domain="example.cn")
    message.set_content(body)
    return message.as_bytes()


async def deliver(db: Database, settings: Settings, raw: bytes, sender: str = "zhou@example.cn"):
    return await receive_mail(
        db,
        settings,
        raw=raw,
        envelope_from=sender,
        recipient=settings.complaints_mailbox,
        key_account=False,
    )


@pytest.fixture
def mail_settings(db: Database, tmp_path: Path) -> Settings:
    return Settings(jwt_secret="x" * 40, database_url=db.url, data_dir=tmp_path)


@pytest.mark.integration
async def test_a_reply_mail_asking_for_the_feedback_requests_it_once(
    db: Database, mail_settings: Settings
) -> None:
    first = await deliver(db, mail_settings, mail("空调不制冷", "新车空调不制冷。"))
    assert (await staged(db, "complaint.received"))[0]["feedback_requested"] is False
    ask = "请在整改完成后把原因和整改措施反馈给我。\n\n> 您的投诉已受理"
    stranger = await deliver(
        db,
        mail_settings,
        mail(f"Re: {first.reference}", ask, sender="x@elsewhere.example"),
        sender="x@elsewhere.example",
    )
    assert stranger.outcome == "amended"
    assert await staged(db, "complaint.feedback_requested") == []
    reply = await deliver(db, mail_settings, mail(f"Re: {first.reference}", ask))
    assert reply.outcome == "amended" and reply.complaint_id == first.complaint_id
    await deliver(db, mail_settings, mail(f"Re: {first.reference}", ask))
    [event] = await staged(db, "complaint.feedback_requested")
    assert event["via"] == "email" and event["reference"] == first.reference


@pytest.mark.integration
async def test_a_new_mail_that_asks_for_the_feedback_is_filed_with_the_wish(
    db: Database, mail_settings: Settings
) -> None:
    body = "收到的水泵漏水。希望贵司将整改措施及验证结果告知我方。"
    outcome = await deliver(db, mail_settings, mail("水泵漏水", body))
    assert outcome.outcome == "filed"
    [received] = await staged(db, "complaint.received")
    assert received["feedback_requested"] is True
