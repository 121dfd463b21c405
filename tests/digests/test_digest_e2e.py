"""End to end through the running services: publishing a digest on demand emits
digest.published once, and a subscriber to that event type gets one e-mail with
the HTML report attached (notify fetches it from the digest's url with a
service token) — read back from the real SMTP sink."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from uuid import uuid4

import httpx
import pytest

from tousu_common.auth import mint_token
from tousu_common.devstack import SERVICES, Stack, free_port
from tousu_common.mailsink import MailSink
from tousu_common.testing.wait import eventually
from tousu_notify.config import Settings
from tousu_notify.entrypoints.digest_scheduler import due_periods

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def digest_stack(tmp_path_factory: pytest.TempPathFactory, mail_sink: MailSink) -> Iterator[Stack]:
    running = Stack(
        var_dir=tmp_path_factory.mktemp("digest-stack"),
        database_urls={},
        ports={spec.name: free_port() for spec in SERVICES},
        mail_port=mail_sink.port,
        extra_env={
            "TOUSU_KAFKA_TOPIC_PARTITIONS": "3",
            "TOUSU_NOTIFY_DELIVERY_POLL_INTERVAL_S": "0.1",
            "TOUSU_NOTIFY_MAIL_DOMAIN": "tousu.test",
        },
    )
    running.start(timeout=90)
    yield running
    running.stop()


def test_published_digest_is_mailed_to_its_subscriber_with_the_report(
    digest_stack: Stack, mail_sink: MailSink
) -> None:
    def auth(*roles: str) -> dict[str, str]:
        token = mint_token(digest_stack.jwt_secret, subject="gm", roles=list(roles))
        return {"Authorization": f"Bearer {token}"}

    notify = digest_stack.url("notify")
    address = f"gm.{uuid4().hex[:8]}@example.com"
    with httpx.Client(timeout=30) as client:
        created = client.post(
            f"{notify}/v1/subscriptions",
            json={
                "name": "总经理 周报/月报",
                "channel": "email",
                "recipient_kind": "manager",
                "address": address,
                "language": "zh",
                "event_types": ["digest.published"],
            },
            headers=auth("admin"),
        )
        assert created.status_code == 201, created.text
        first = client.post(f"{notify}/v1/digests/month/2026-09/publish", headers=auth("manager"))
        again = client.post(f"{notify}/v1/digests/month/2026-09/publish", headers=auth("manager"))
        assert first.status_code == again.status_code == 200, first.text
        assert first.json()["published"] is True and again.json()["published"] is False

    [mail] = mail_sink.wait_for(lambda m: address in str(m["To"]), timeout=45)
    assert "2026-09" in str(mail["Subject"])
    [report] = [part for part in mail.iter_attachments() if part.get_content_type() == "text/html"]
    html = report.get_content()
    assert "业务运作情况月报" in html and "2026-09" in html and "<svg" in html
    # one period, one e-mail: the second publish sent nothing more
    assert len([m for m in mail_sink.messages if address in str(m["To"])]) == 1


def test_the_scheduler_in_the_lifespan_published_the_latest_due_periods(
    digest_stack: Stack,
) -> None:
    settings = Settings(jwt_secret="x" * 40)
    token = mint_token(digest_stack.jwt_secret, subject="gm", roles=["manager"])
    due = due_periods(datetime.now(UTC), settings)
    with httpx.Client(timeout=30) as client:
        for period in due:
            url = f"{digest_stack.url('notify')}/v1/digests/{period.kind}/{period.label}"
            body = eventually(
                lambda url=url: client.get(url, headers={"Authorization": f"Bearer {token}"}),
                until=lambda answer: answer.status_code == 200 and answer.json()["published_at"],
                timeout=60,
                interval=0.2,
                what=period.label,
            ).json()
            assert body["stored"] is True and body["published_at"], period.label
