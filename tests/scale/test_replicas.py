"""Two replicas of routing, rectification and notify in the same consumer groups on
six-partition topics; one replica of each is SIGKILLed mid-burst. Every complaint
still reaches its final state exactly once and in order.

Runs on PostgreSQL only: replicas share one database (SQLite is one process per
file by design). The survivors take the killed members' partitions only after
the broker's session timeout (~14 s on Tansu), hence the generous deadlines.

One allowance, notify's documented at-least-once window: an acknowledgement the
SMTP sink had accepted when notify#2 died, but whose ``sent`` was not yet
committed, is sent again by the survivor after ``delivery_stale_after_s`` (20 s
here instead of 300 s) with the same Message-ID. Only such re-attempted rows
may have a second mail; a row attempted once must have exactly one.
"""

from __future__ import annotations

import asyncio
import secrets
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import uuid4

import asyncpg
import httpx
import pytest

from tousu_common.auth import mint_token
from tousu_common.devstack import SERVICES, Stack, free_port
from tousu_common.mailsink import MailSink
from tousu_common.testing.helpers import header, read_topic
from tousu_common.testing.wait import eventually

from ..conftest import complaint_body

pytestmark = pytest.mark.integration

BURST = 80
#: the burst is paced (a bounded ~10 s) so the kill lands while complaints still arrive
POST_INTERVAL_S = 0.12
CONCURRENCY = 8
REPLICATED = ("routing", "rectification", "notify")
GROUPS = {
    "routing": "tousu-routing",
    "rectification": "tousu-rectification",
    "notify": "tousu-notify",
}
KILLED = [f"{name}#2" for name in REPLICATED]
#: a notify replica killed mid-send leaves its row ``sending``; it is attempted again
#: after this (default 300 s, the documented at-least-once window), not lost
STALE_AFTER_S = 20
ACK_SUBJECT = "We have received your complaint"


@pytest.fixture(scope="module")
def replicated_stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, mail_sink: MailSink
) -> Iterator[Stack]:
    cluster = request.getfixturevalue("postgres")
    suffix = secrets.token_hex(4)
    stack = Stack(
        var_dir=tmp_path_factory.mktemp("replicas"),
        database_urls={
            spec.name: cluster.create_database(f"{spec.name}_{suffix}") for spec in SERVICES
        },
        ports={spec.name: free_port() for spec in SERVICES},
        replicas={name: 2 for name in REPLICATED},
        mail_port=mail_sink.port,
        extra_env={
            "TOUSU_KAFKA_TOPIC_PARTITIONS": "6",
            # small groups, so a kill lands between commits rather than before the first
            "TOUSU_CONSUMER_GROUP_COMMIT": "2",
            "TOUSU_NOTIFY_DELIVERY_STALE_AFTER_S": str(STALE_AFTER_S),
            "TOUSU_NOTIFY_DELIVERY_POLL_INTERVAL_S": "0.2",
            "TOUSU_NOTIFY_MAIL_DOMAIN": "tousu.test",
        },
    )
    stack.start(timeout=120)
    yield stack
    stack.stop()


def applied_by(stack: Stack, name: str, group: str) -> int:
    """Events this replica applied, from its own log (one JSON line per event)."""
    path = stack.log_path(name)
    if not path.exists():
        return 0
    return sum(
        1
        for line in path.read_text(errors="replace").splitlines()
        if '"event applied"' in line and f'"consumer": "{group}"' in line
    )


class Burst(threading.Thread):
    """Posts BURST complaints, at most CONCURRENCY at a time, paced, bounded in time."""

    def __init__(self, stack: Stack, headers: dict[str, str]) -> None:
        super().__init__(daemon=True)
        self.stack, self.headers = stack, headers
        self.created: list[dict[str, Any]] = []
        self.failures: list[str] = []

    def run(self) -> None:
        asyncio.run(asyncio.wait_for(self._post_all(), 90))

    async def _post_all(self) -> None:
        gate = asyncio.Semaphore(CONCURRENCY)
        async with httpx.AsyncClient(base_url=self.stack.url("intake"), timeout=30) as client:

            async def post(n: int) -> None:
                await asyncio.sleep(n * POST_INTERVAL_S)
                address = f"scale.{n}.{uuid4().hex[:8]}@example.com"
                body = complaint_body(
                    title=f"第{n}台发动机漏油",
                    customer_email=address,
                    customer_phone=None,
                    customer_name="Scale Test",
                    language="en",
                )
                async with gate:
                    answer = await client.post("/v1/complaints", json=body, headers=self.headers)
                if answer.status_code == 201:
                    self.created.append({**answer.json(), "address": address})
                else:
                    self.failures.append(f"{answer.status_code} {answer.text[:200]}")

            await asyncio.gather(*(post(n) for n in range(BURST)))


async def outbox_order(database_url: str) -> dict[tuple[str, str], list[str]]:
    """(topic, key) → event ids in the order the producer wrote them (outbox id order)."""
    connection = await asyncpg.connect(database_url.replace("postgresql+asyncpg", "postgresql"))
    try:
        rows = await connection.fetch("SELECT topic, key, event_id FROM outbox ORDER BY id")
    finally:
        await connection.close()
    order: dict[tuple[str, str], list[str]] = defaultdict(list)
    for row in rows:
        order[(row["topic"], row["key"])].append(row["event_id"])
    return order


async def scalar_counts(database_url: str, query: str) -> dict[str, int]:
    connection = await asyncpg.connect(database_url.replace("postgresql+asyncpg", "postgresql"))
    try:
        return {str(key): count for key, count in await connection.fetch(query)}
    finally:
        await connection.close()


def test_replicas_killed_mid_burst_bring_every_complaint_to_its_end_exactly_once_in_order(
    replicated_stack: Stack, mail_sink: MailSink
) -> None:
    stack = replicated_stack
    token = mint_token(stack.jwt_secret, subject="agent-1", roles=["agent", "csc"])
    headers = {"Authorization": f"Bearer {token}"}

    burst = Burst(stack, headers)
    burst.start()

    # Both replicas of every group hold partitions and have applied events before the kill.
    def applied_per_replica() -> dict[str, int]:
        return {
            name: applied_by(stack, name, GROUPS[service])
            for service in REPLICATED
            for name in stack.instances(service)
        }

    def ready_to_kill() -> dict[str, int] | None:
        """Once a quarter of the burst is in and every replica has applied events."""
        counts = applied_per_replica()
        return counts if len(burst.created) >= BURST // 4 and all(counts.values()) else None

    applied_before = eventually(ready_to_kill, timeout=60, interval=0.05)
    posted_at_kill = len(burst.created)
    for name in KILLED:
        stack.stop_service(name, kill=True)  # SIGKILL: no offset commit, no group leave
    burst.join(120)
    assert not burst.is_alive() and burst.failures == []
    assert len(burst.created) == BURST
    assert posted_at_kill < BURST, "the kill came after the burst; nothing was mid-flight"

    created = burst.created
    ids = [c["id"] for c in created]
    with httpx.Client(timeout=10) as client:

        def missing_cases() -> list[str]:
            return [
                cid
                for cid in ids
                if client.get(
                    f"{stack.url('rectification')}/v1/cases/{cid}", headers=headers
                ).status_code
                != 200
            ]

        def acknowledgements(cid: str) -> list[dict[str, Any]]:
            answer = client.get(
                f"{stack.url('notify')}/v1/notifications?complaint_id={cid}", headers=headers
            )
            return [n for n in answer.json() if n["kind"] == "acknowledgement"]

        def unsent() -> list[str]:
            return [
                c["id"]
                for c in created
                if [n["status"] for n in acknowledgements(c["id"])] != ["sent"]
            ]

        started = time.monotonic()
        eventually(lambda: missing_cases() == [], timeout=150, interval=0.5)
        eventually(lambda: unsent() == [], timeout=150, interval=0.5)
        settled_s = time.monotonic() - started
        acks = {c["id"]: acknowledgements(c["id"]) for c in created}

    # One acknowledgement record per complaint, and the mail that went with it.
    assert {cid: len(rows) for cid, rows in acks.items()} == {cid: 1 for cid in ids}
    for complaint in created:
        [ack] = acks[complaint["id"]]
        mails = [
            m
            for m in mail_sink.messages
            if complaint["address"] in str(m["To"]) and str(m["Subject"]).startswith(ACK_SUBJECT)
        ]
        assert len({m["Message-ID"] for m in mails}) == 1, complaint["reference"]
        if ack["attempts"] == 1:
            assert len(mails) == 1, f"{complaint['reference']} mailed twice on one attempt"
        else:
            # Re-attempted after the kill left it `sending`: the documented
            # at-least-once window; the copy carries the same Message-ID.
            assert len(mails) <= ack["attempts"], complaint["reference"]
    resent = sum(1 for rows in acks.values() if rows[0]["attempts"] > 1)
    acknowledgement_mails = [m for m in mail_sink.messages if ACK_SUBJECT in str(m["Subject"])]
    ours = {c["address"] for c in created}
    mailed = [m for m in acknowledgement_mails if str(m["To"]) in ours]

    async def read(topic: str) -> list[Any]:
        return await read_topic(stack.bootstrap or "", topic, until=lambda rs: False, timeout=4)

    records = {
        topic: asyncio.run(read(topic))
        for topic in ("tousu.complaints", "tousu.routing", "tousu.cases", "tousu.notifications")
    }

    def distinct(topic: str, event_type: str) -> dict[str, set[str]]:
        found: dict[str, set[str]] = defaultdict(set)
        for record in records[topic]:
            if header(record, "ce_type") == event_type:
                found[record.key.decode()].add(header(record, "ce_id") or "")
        return found

    triaged = distinct("tousu.routing", "complaint.triaged")
    opened = distinct("tousu.cases", "case.opened")
    sent = distinct("tousu.notifications", "notification.sent")
    assert {cid: len(triaged[cid]) for cid in ids} == {cid: 1 for cid in ids}
    assert {cid: len(opened[cid]) for cid in ids} == {cid: 1 for cid in ids}
    # notify also writes to departments; their rows are skipped (no contacts configured)
    assert all(len(sent[cid]) >= 1 for cid in ids)

    # Exactly one triage row and one case row per complaint in the shared databases.
    urls = stack.database_urls
    triages = asyncio.run(
        scalar_counts(urls["routing"], "SELECT complaint_id, count(*) FROM triages GROUP BY 1")
    )
    cases = asyncio.run(
        scalar_counts(urls["rectification"], "SELECT complaint_id, count(*) FROM cases GROUP BY 1")
    )
    assert {cid: triages.get(cid) for cid in ids} == {cid: 1 for cid in ids}
    assert {cid: cases.get(cid) for cid in ids} == {cid: 1 for cid in ids}

    # Per complaint: every record of a topic in one partition, and its events on the
    # broker (first sighting of each id; redeliveries may repeat) in the order the
    # producer wrote them to its outbox.
    written: dict[tuple[str, str], list[str]] = {}
    for service in ("intake", "routing", "rectification", "notify"):
        written.update(asyncio.run(outbox_order(urls[service])))
    for topic, topic_records in records.items():
        partitions: dict[str, set[int]] = defaultdict(set)
        seen_order: dict[str, list[str]] = defaultdict(list)
        for record in sorted(topic_records, key=lambda r: (r.partition, r.offset)):
            key = record.key.decode()
            partitions[key].add(record.partition)
            event_id = header(record, "ce_id") or ""
            if event_id not in seen_order[key]:
                seen_order[key].append(event_id)
        for cid in ids:
            assert len(partitions[cid]) == 1, (topic, cid, partitions[cid])
            assert seen_order[cid] == written[(topic, cid)], (topic, cid)
    cases_first = [seen_order_first(records["tousu.cases"], cid) for cid in ids]
    assert set(cases_first) == {"case.opened"}

    applied_after = applied_per_replica()
    print(
        f"\nposted at kill {posted_at_kill}/{BURST}; applied before kill {applied_before}; "
        f"after {applied_after}; settled {settled_s:.1f}s after the burst; "
        f"acknowledgements re-attempted after the kill: {resent}; "
        f"acknowledgement mails {len(mailed)} for {BURST} complaints "
        f"({len(mailed) - BURST} re-sent with the same Message-ID)"
    )


def seen_order_first(records: list[Any], key: str) -> str | None:
    """The type of the first record with ``key`` on its partition."""
    mine = sorted(
        (r for r in records if r.key.decode() == key), key=lambda r: (r.partition, r.offset)
    )
    return header(mine[0], "ce_type") if mine else None


def test_stack_names_replicas_and_gives_each_its_own_port_and_log(tmp_path: Path) -> None:
    stack = Stack(var_dir=tmp_path, replicas={"routing": 3})
    assert stack.instances("routing") == ["routing", "routing#2", "routing#3"]
    assert stack.instances("intake") == ["intake"]
    ports = {stack.port(name) for name in stack.instances("routing")}
    assert len(ports) == 3 and stack.port("routing") == 8002
    assert stack.log_path("routing") == tmp_path / "routing.log"
    assert stack.log_path("routing#2") == tmp_path / "routing-2.log"
    # one complaints mailbox: only intake's first replica listens for mail
    stack.smtp_port = 2525
    intake = next(spec for spec in SERVICES if spec.name == "intake")
    assert stack.env(intake)["TOUSU_INTAKE_SMTP_PORT"] == "2525"
    assert stack.env(intake, replica=2)["TOUSU_INTAKE_SMTP_PORT"] == "0"
