"""Any channel files through one entry point: customer linked, looked up or provisional;
amendments append to the complaint."""

from __future__ import annotations

import json
from uuid import uuid4

import pytest
import sqlalchemy as sa

from tousu_common.db import Database
from tousu_common.errors import Conflict, InvalidInput, NotFound
from tousu_common.events import Channel
from tousu_common.events.catalog import AmendmentKind, CustomerSegment, CustomerTier
from tousu_common.messaging.tables import outbox
from tousu_intake.adapters.customers import CustomerRepository, find_customers
from tousu_intake.config import Settings
from tousu_intake.domain.commands import ReceiveFromChannel
from tousu_intake.domain.customers import Contact, ContactKind, CustomerRecord, Product
from tousu_intake.domain.files import IncomingFile
from tousu_intake.domain.tracking import token_hash, verify_tracking_token
from tousu_intake.handlers.amend import amend_complaint
from tousu_intake.handlers.receive import receive

from .conftest import statements

pytestmark = pytest.mark.integration


@pytest.fixture
def settings(database_url: str, tmp_path) -> Settings:  # type: ignore[no-untyped-def]
    return Settings(jwt_secret="x" * 40, database_url=database_url, data_dir=tmp_path)


async def add_customer(db: Database, **overrides: object) -> CustomerRecord:
    values: dict = {
        "id": uuid4(),
        "name": "潍柴客车厂",
        "tier": CustomerTier.strategic,
        "segment": CustomerSegment.oem,
        "external_code": "C-001",
        "contacts": [
            Contact(ContactKind.phone, "8613800138000", "138 0013 8000"),
            Contact(ContactKind.email, "buyer@oem.example", "Buyer@OEM.example"),
            Contact(ContactKind.fax, "861088886666", "010-8888 6666"),
        ],
        "products": [Product("SN-0001", "YC6L")],
    }
    values.update(overrides)
    customer = CustomerRecord(**values)
    async with db.transaction() as session:
        await CustomerRepository(session).save(customer)
    return customer


async def received_events(db: Database) -> list[dict]:
    async with db.sessions() as session:
        rows = await session.execute(
            sa.select(outbox.c.event_type, outbox.c.payload).order_by(outbox.c.id)
        )
    return [{"type": r.event_type, **json.loads(r.payload)} for r in rows]


async def test_lookup_normalises_phone_email_fax_and_serial(db: Database) -> None:
    customer = await add_customer(db)
    async with db.sessions() as session:
        for query in (
            {"phone": "+86 138-0013-8000"},
            {"phone": "0086 13800138000"},
            {"phone": "13800138000"},
            {"email": " BUYER@oem.EXAMPLE "},
            {"fax": "(010) 8888-6666"},
            {"serial": "sn-0001"},
        ):
            found = await find_customers(session, **query)
            assert [c.id for c in found] == [customer.id], query
        assert await find_customers(session, phone="13900000000") == []
        with pytest.raises(InvalidInput) as caught:
            await find_customers(session, phone="call me")
        assert caught.value.fields[0]["field"] == "phone"


async def test_known_caller_is_linked_and_flagged_key_account(
    db: Database, settings: Settings
) -> None:
    customer = await add_customer(db)
    receipt = await receive(
        db,
        settings,
        ReceiveFromChannel(
            channel=Channel.email,
            description="刹车异响\n详细情况",
            customer_email="buyer@OEM.example",
        ),
        received_by="mail",
    )
    assert receipt.body["customer_id"] == str(customer.id)
    assert receipt.body["key_account"] is True and receipt.body["provisional_customer"] is False
    [event] = await received_events(db)
    assert event["channel"] == "email" and event["title"] == "刹车异响"
    assert event["key_account"] is True
    assert event["customer_tier"] == "strategic" and event["customer_segment"] == "oem"
    assert event["customer_id"] == str(customer.id)
    assert "buyer" not in json.dumps(event)


async def test_unknown_sender_gets_a_provisional_customer_in_the_same_transaction(
    db: Database, settings: Settings
) -> None:
    receipt = await receive(
        db,
        settings,
        ReceiveFromChannel(
            channel=Channel.fax,
            description="传真投诉",
            customer_fax="+86 21 5555 1234",
            serial_number="x-9",
        ),
        received_by="gateway",
    )
    assert receipt.body["provisional_customer"] is True
    [event] = await received_events(db)
    assert event["provisional_customer"] is True and event["key_account"] is False
    async with db.sessions() as session:
        [customer] = await find_customers(session, fax="02155551234")
        assert customer.provisional and str(customer.id) == receipt.body["customer_id"]
        assert [p.serial_number for p in customer.products] == ["X-9"]
    # A second fax from that number is linked to the same provisional customer.
    again = await receive(
        db,
        settings,
        ReceiveFromChannel(channel=Channel.fax, description="再次", customer_fax="02155551234"),
        received_by="gateway",
    )
    assert again.body["customer_id"] == receipt.body["customer_id"]


async def test_a_known_caller_is_matched_by_one_read_and_the_best_customer_wins(
    db: Database, settings: Settings
) -> None:
    """Filing reads only the matching customers' rows (not their contacts and products)
    and writes nothing to the register; a registered strategic customer beats a
    provisional one with the same number."""
    registered = await add_customer(db)
    await add_customer(
        db,
        id=uuid4(),
        name="未知客户 / unknown sender",
        tier=CustomerTier.general,
        segment=None,
        external_code=None,
        provisional=True,
        contacts=[Contact(ContactKind.phone, "8613800138000", "13800138000")],
        products=[],
    )
    with statements(db) as seen:
        receipt = await receive(
            db,
            settings,
            ReceiveFromChannel(
                channel=Channel.hotline,
                description="又漏油了",
                customer_phone="138 0013 8000",
                customer_email="someone@else.example",
                serial_number="SN-0002",
            ),
            received_by="agent",
        )
    assert receipt.body["customer_id"] == str(registered.id)
    assert receipt.body["provisional_customer"] is False and receipt.body["key_account"] is True
    assert {k: n for k, n in seen.items() if "customer" in k} == {"SELECT customers": 1}
    async with db.sessions() as session:
        [kept] = await find_customers(session, serial="SN-0001")
    assert kept.id == registered.id and kept.contacts == registered.contacts


async def test_a_new_sender_is_inserted_once_and_found_by_each_contact(
    db: Database, settings: Settings
) -> None:
    with statements(db) as seen:
        receipt = await receive(
            db,
            settings,
            ReceiveFromChannel(
                channel=Channel.hotline,
                description="发动机异响",
                customer_name="王建国",
                customer_phone="+86 139 0000 0042",
                customer_email="Wang@Example.cn",
                product_model="YC6L-280",
                serial_number=" sn-42 ",
            ),
            received_by="agent",
        )
    assert seen["INSERT customers"] == 1 and seen["UPDATE customers"] == 0
    assert receipt.body["provisional_customer"] is True
    async with db.sessions() as session:
        for query in ({"phone": "13900000042"}, {"email": "wang@example.cn"}, {"serial": "SN-42"}):
            [customer] = await find_customers(session, **query)
            assert str(customer.id) == receipt.body["customer_id"], query
    assert customer.name == "王建国" and customer.provisional
    assert customer.contacts == [
        Contact(ContactKind.phone, "8613900000042", "+86 139 0000 0042"),
        Contact(ContactKind.email, "wang@example.cn", "Wang@Example.cn"),
    ]
    assert customer.products == [Product("SN-42", "YC6L-280")]


async def test_dedicated_channel_is_key_account_even_for_an_unknown_customer(
    db: Database, settings: Settings
) -> None:
    receipt = await receive(
        db,
        settings,
        ReceiveFromChannel(channel=Channel.key_account, description="x", customer_name="赵"),
        received_by="agent",
    )
    assert receipt.body["key_account"] is True


async def test_unknown_customer_id_is_refused_and_nothing_is_written(
    db: Database, settings: Settings
) -> None:
    with pytest.raises(Conflict) as caught:
        await receive(
            db,
            settings,
            ReceiveFromChannel(channel=Channel.hotline, description="x", customer_id=uuid4()),
            received_by="agent",
        )
    assert caught.value.fields[0]["field"] == "customer_id"
    assert await received_events(db) == []


async def test_tracking_token_is_returned_but_only_its_hash_is_stored(
    db: Database, settings: Settings
) -> None:
    receipt = await receive(
        db,
        settings,
        ReceiveFromChannel(channel=Channel.web, description="x", customer_name="赵"),
        received_by="web",
    )
    token = receipt.body["tracking_token"]
    async with db.sessions() as session:
        stored = await session.scalar(
            sa.text("SELECT tracking_token_hash FROM complaints WHERE reference = :r"),
            {"r": receipt.body["reference"]},
        )
        keys = await session.scalar(sa.text("SELECT count(*) FROM idempotency_keys"))
    assert stored == token_hash(token) and token not in stored
    assert keys == 0
    assert verify_tracking_token("x" * 40, receipt.body["id"], token, stored)


async def test_amendment_is_stored_with_files_and_announced(
    db: Database, settings: Settings
) -> None:
    receipt = await receive(
        db,
        settings,
        ReceiveFromChannel(channel=Channel.hotline, description="x", customer_name="赵"),
        received_by="agent",
    )
    amendment = await amend_complaint(
        db,
        settings,
        complaint_id=receipt.body["id"],
        kind=AmendmentKind.call,
        text="客户再次来电，说明故障代码 P0420",
        by="agent-2",
        from_customer=True,
        files=[IncomingFile("log.txt", b"P0420")],
    )
    assert len(amendment.attachments) == 1
    events = await received_events(db)
    assert [e["type"] for e in events] == ["complaint.received", "complaint.amended"]
    amended = events[1]
    assert amended["kind"] == "call" and amended["from_customer"] is True
    assert amended["attachment_count"] == 1 and amended["reference"] == receipt.body["reference"]


async def test_amending_unknown_complaint_or_transcribing_a_readable_one_is_refused(
    db: Database, settings: Settings
) -> None:
    with pytest.raises(NotFound):
        await amend_complaint(
            db,
            settings,
            complaint_id=uuid4(),
            kind=AmendmentKind.note,
            text="x",
            by="a",
            from_customer=False,
        )
    receipt = await receive(
        db,
        settings,
        ReceiveFromChannel(channel=Channel.hotline, description="x", customer_name="赵"),
        received_by="agent",
    )
    with pytest.raises(Conflict):
        await amend_complaint(
            db,
            settings,
            complaint_id=receipt.body["id"],
            kind=AmendmentKind.transcription,
            text="typed",
            by="a",
            from_customer=False,
        )
    assert [e["type"] for e in await received_events(db)] == ["complaint.received"]


async def test_overlong_fields_from_any_channel_are_refused_by_name(
    db: Database, settings: Settings
) -> None:
    with pytest.raises(InvalidInput) as caught:
        await receive(
            db,
            settings,
            ReceiveFromChannel(
                channel=Channel.letter,
                description="x",
                product_model="M" * 101,
                customer_phone="1 " * 30,
                language="de",
            ),
            received_by="agent",
        )
    assert [f["field"] for f in caught.value.fields] == [
        "customer_phone",
        "product_model",
        "language",
    ]
    assert await received_events(db) == []
