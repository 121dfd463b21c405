"""What the customer was promised, end to end: four services as processes, the real
broker, SQLite and PostgreSQL. The customer asks for the rectification feedback on the
tracking page after filing, is mailed the verified plan and result, confirms it on the
page, and the confirmation is on the case (SPEC §2.4)."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, timedelta
from uuid import uuid4

import httpx
import pytest

from tousu_common.devstack import Stack
from tousu_common.mailsink import MailSink

from ..conftest import complaint_body, eventually, get_json_if

pytestmark = pytest.mark.integration


def csrf(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF token in the page"
    return match.group(1)


def test_asked_on_the_tracking_page_mailed_after_verification_and_confirmed_on_the_case(
    stack: Stack, auth: Callable[..., dict[str, str]], mail_sink: MailSink
) -> None:
    address = f"chen.{uuid4().hex[:8]}@example.cn"
    intake, rectification = stack.url("intake"), stack.url("rectification")
    csc = auth("csc", sub="csc-1", department="csc")
    with httpx.Client(timeout=10) as client:
        created = client.post(
            f"{intake}/v1/complaints",
            json=complaint_body(customer_email=address),
            headers=auth("agent"),
        )
        assert created.status_code == 201, created.text
        complaint_id = created.json()["id"]
        reference, token = created.json()["reference"], created.json()["tracking_token"]
        case_url = f"{rectification}/v1/cases/{complaint_id}"
        case = eventually(lambda: get_json_if(client, case_url, csc), timeout=60)
        assert case["feedback_requested"] is False

        # The customer asks on the tracking page, after filing.
        track = f"{intake}/track/{reference}?token={token}"
        page = client.get(track)
        assert 'id="ask-feedback"' in page.text
        form = {"csrf_token": csrf(page.text), "token": token, "lang": "zh"}
        asked = client.post(f"{intake}/track/{reference}/feedback", data=form)
        assert asked.status_code == 303, asked.text

        def requested() -> dict | None:
            case = get_json_if(client, case_url, csc)
            return case if case and case["feedback_requested"] else None

        case = eventually(requested, timeout=60)
        assert case["feedback_requested_via"] == "web"

        # A service rectification: instructed, done, verified.
        due = (date.today() + timedelta(days=5)).isoformat()
        instructed = client.post(
            f"{case_url}/instructions",
            json={"department": "logistics", "instruction": "改进装车固定方式", "due_date": due},
            headers=csc,
        )
        assert instructed.status_code == 201, instructed.text
        rid = instructed.json()["rectification_id"]
        done = client.post(
            f"{rectification}/v1/rectifications/{rid}/done",
            json={
                "root_cause_category": "logistics",
                "root_cause": "绑带数量不足",
                "corrective_action": "每托盘四道绑带并拍照留档",
            },
            headers=auth("department", sub="log-1", department="logistics"),
        )
        assert done.status_code == 200, done.text
        verified = client.post(
            f"{rectification}/v1/rectifications/{rid}/verification",
            json={"passed": True, "comment": "抽查三车，无松动"},
            headers=csc,
        )
        assert verified.status_code == 200, verified.text

        # Notify mails the plan and result, with the way to confirm it.
        [mail] = mail_sink.wait_for(
            lambda m: address in str(m["To"]) and "整改反馈" in str(m["Subject"]), timeout=60
        )
        text = mail.get_body(("plain",)).get_content()
        assert "每托盘四道绑带并拍照留档" in text and "请在查询页面确认此反馈" in text
        assert f"/track/{reference}?token=" in text

        # The customer confirms it on the page once it shows there.
        def offered() -> str | None:
            answer = client.get(track)
            return answer.text if 'class="feedback-confirm"' in answer.text else None

        page_text = eventually(offered, timeout=60)
        confirmed = client.post(
            f"{intake}/track/{reference}/feedback/answer",
            data={
                "csrf_token": csrf(page_text),
                "token": token,
                "lang": "zh",
                "rectification_id": rid,
                "answer": "confirmed",
            },
        )
        assert confirmed.status_code == 303, confirmed.text

        def answered() -> dict | None:
            case = get_json_if(client, case_url, csc)
            return case if case and case["feedback"] and case["feedback"][0]["answer"] else None

        case = eventually(answered, timeout=60)
    [feedback] = case["feedback"]
    assert (feedback["rectification_id"], feedback["answer"], feedback["via"]) == (
        rid,
        "confirmed",
        "web",
    )
    actions = [entry["action"] for entry in case["history"]]
    assert actions.count("customer.feedback_requested") == 1
    assert actions.count("customer.feedback_confirmed") == 1
